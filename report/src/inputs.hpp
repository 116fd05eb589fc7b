// Readers for the files of a run directory, all defensive: a file that cannot
// be read yields an Error (naming its path) that the report lists under
// "unreadable", never an exception or a crash.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/model/dataset.hpp"
#include "model_view.hpp"

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

// The value at a path of object keys; nullptr when any step is missing or
// not an object.
const nlohmann::json* jget(const nlohmann::json& j, std::initializer_list<const char*> path);

// Finds "<prefix>-<phase>.csv" in dir (the prefix is usually the host name).
std::optional<std::filesystem::path> find_original_csv(const std::filesystem::path& dir,
                                                       std::string_view phase);

// The scenarios of a run, in the order the report shows them: its staircase
// steps as "training-<step>", ascending, then "groundtruth" and "cloudlike".
// The steps are the union of the manifest's settings.steps and every
// training-<1..100> a file of `dir` is named for (original CSV, trace,
// events); a directory that names none gets the default staircase 25, 50,
// 100 (whose files are then listed missing).
std::vector<std::string> run_phases(const std::filesystem::path& dir,
                                    const nlohmann::json* manifest);

// Everything write_report() draws from, read once. Sections read it; the
// sections that find more missing or unreadable files (traces, sidecars,
// events) append to `missing` and `problems`, which the page lists on top.
struct Inputs {
  std::filesystem::path dir;
  std::vector<std::string> missing;   // files the directory lacks, as named to the reader
  std::vector<std::string> problems;  // "<file>: <error>" of files present but unreadable
  std::optional<nlohmann::json> manifest;
  std::vector<std::string> phases;                   // run_phases(): page order
  std::optional<int> threads;                        // the manifest's host.threads
  std::map<std::string, model::Table> csv;           // original format, by phase
  std::map<std::string, ModelView> model;            // by method: "cinergy", "paper"
  std::map<std::string, nlohmann::json> evaluation;  // by method
  std::map<std::string, CsvTable> isolated;          // by method
};

// Reads manifest.json, the original-format CSVs, and each method's model,
// evaluation and isolated files of `dir`; never fails (what is absent or
// unreadable is recorded in `missing` / `problems`).
Inputs gather(const std::filesystem::path& dir);

}  // namespace cinergy::report::detail
