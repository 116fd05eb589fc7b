// Reading the original Cinergy CSV format (long `timestamp,domain,measure`
// files, see docs/orchestrator.md "Original format") into one row per timestamp.
//
// A Table is column-major: one std::vector<double> per domain, all the same
// length as `timestamp_s`; a value a window did not report is NaN. Loading
// reads the whole file at once and parses with std::from_chars, without a
// per-row allocation, so a million-line file loads in well under a second.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::model {

struct Table {
  std::filesystem::path source;              // file it came from (for error messages)
  std::vector<double> timestamp_s;           // ascending, unique (seconds since scenario start)
  std::vector<std::string> names;            // domain names, in order of first appearance
  std::vector<std::vector<double>> columns;  // columns[c][row]; NaN = missing
  // First `phase` value seen ("" if none). The `phase` column holds 0 where
  // a window has a (text) phase row and NaN where it has none, so that the
  // paper's dropna() drops a window without one, as pandas does.
  std::string phase;

  [[nodiscard]] std::size_t rows() const { return timestamp_s.size(); }
  // nullptr when the domain never appears.
  [[nodiscard]] const std::vector<double>* column(std::string_view name) const;
  // Names `CPU0`, `CPU1`, ... (the VM's vCPU threads), in numeric order.
  [[nodiscard]] std::vector<std::string> vcpu_columns() const;
  // Row indices where every one of `needed` is present (finite); all columns,
  // `phase` included, when `needed` is empty (the paper's `dropna()`). A
  // missing column makes every row unusable.
  [[nodiscard]] std::vector<std::size_t> complete_rows(
      const std::vector<std::string>& needed) const;
};

// Parses the text of one long-format file. `source` only names it in errors
// ("<source>:<line>: ..."). Errors: empty text, a header other than
// `timestamp,domain,measure`, a line without three fields, a non-numeric
// timestamp, a non-numeric measure (the `phase` domain excepted).
Result<Table> parse_long_csv(std::string_view text, const std::filesystem::path& source);
Result<Table> load_long_csv(const std::filesystem::path& file);

// The scenarios of one host: a directory of original-format files, or a
// cinergy run directory (same files plus manifest.json).
struct DataSet {
  std::filesystem::path dir;
  std::string prefix;             // "<prefix>-training-50.csv" etc.
  std::map<int, Table> training;  // staircase step (1..100) -> scenario A data
  // Scenario A's unpinned staircases (`<prefix>-training-unpinned-<S>.csv`):
  // workers placed by the scheduler, as the VM's threads are. The Cinergy
  // method trains on these when present; the paper method never reads them.
  std::map<int, Table> training_unpinned;
  std::optional<Table> groundtruth;          // scenario B
  std::optional<Table> cloudlike;            // scenario C
  std::optional<int> manifest_host_threads;  // manifest.json `host.threads`
  bool has_manifest = false;
  bool simulated_power = false;  // manifest.json says the power was simulated
  // manifest.json `vm.kind` is "testvm": the VM replays its load profile from
  // the start of each scenario, so B's and C's windows of equal timestamp are
  // at the same point of it (evaluate's "by_position").
  bool replayed_profile = false;
};

// Discovers the prefix from *-groundtruth.csv / *-training-<S>.csv /
// *-training-unpinned-<S>.csv / *-cloudlike.csv names and loads every such file present. Errors:
// not a directory, no scenario file, several prefixes, any file error above, a manifest.json that
// is not valid JSON.
Result<DataSet> load_dataset(const std::filesystem::path& dir);

// Host threads to use: the flag if given, else the manifest's host.threads;
// otherwise an error asking for --host-threads.
Result<int> resolve_host_threads(const DataSet& data, std::optional<int> flag);

}  // namespace cinergy::model
