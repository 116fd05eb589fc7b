// Readers for the files of a run directory, all defensive: a missing or
// malformed file yields an Error (named by path) that the report lists as
// missing, never an exception or a crash.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::report::detail {

// A plain CSV with a header: columns by name, numbers (NaN where not numeric)
// plus the raw text of each cell for string columns.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  [[nodiscard]] std::optional<std::size_t> column(std::string_view name) const;
  [[nodiscard]] double number(std::size_t row, std::size_t col) const;  // NaN if absent
};
Result<Table> read_table(const std::filesystem::path& path);

// The original long format (timestamp,domain,measure) pivoted to one row per
// timestamp (seconds since the scenario start).
struct WideCsv {
  std::string phase;
  std::map<std::int64_t, std::map<std::string, double, std::less<>>> rows;
  [[nodiscard]] std::optional<double> get(std::int64_t ts, std::string_view key) const;
};
Result<WideCsv> read_original_csv(const std::filesystem::path& path);

Result<nlohmann::json> read_json(const std::filesystem::path& path);

// Finds "<prefix>-<phase>.csv" in dir (the prefix is usually the host name).
std::optional<std::filesystem::path> find_original_csv(const std::filesystem::path& dir,
                                                       std::string_view phase);

}  // namespace cinergy::report::detail
