// Readers for the files of a run directory, all defensive: a file that cannot
// be read yields an Error (naming its path) that the report lists under
// "unreadable", never an exception or a crash.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::report::detail {

// A plain CSV with a header (isolated*.csv, events-<phase>.csv): columns by
// name, the raw text of each cell (for string columns) and numbers on demand.
// The original long format is not read here: the model library owns it
// (model::load_long_csv).
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  [[nodiscard]] std::optional<std::size_t> column(std::string_view name) const;
  [[nodiscard]] double number(std::size_t row, std::size_t col) const;  // NaN if absent
};
Result<CsvTable> read_table(const std::filesystem::path& path);

Result<nlohmann::json> read_json(const std::filesystem::path& path);

// Finds "<prefix>-<phase>.csv" in dir (the prefix is usually the host name).
std::optional<std::filesystem::path> find_original_csv(const std::filesystem::path& dir,
                                                       std::string_view phase);

}  // namespace cinergy::report::detail
