// The original prototype's per-scenario CSV (see docs/orchestrator.md, "Original
// format"): long format, header `timestamp,domain,measure`,
// one `phase` row, a `target` row (scenarios with a staircase), then one row
// per measured value, all values rounded to 2 decimals and printed as Python
// printed a float (`41.2`, `0.0`, `2101000.0`), timestamps in whole seconds
// since the scenario started. The paper's notebook reads these unchanged.
// Also the events-<phase>.csv log used by the report.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/orchestrator/window.hpp"

namespace cinergy::orchestrator {

// round(v, 2) then Python's repr(float): shortest round-trip digits, always
// with a decimal point ("3.0"), "-0.0" printed as "0.0".
std::string format_measure(double value);

class OriginalCsvWriter {
 public:
  // Creates (truncates) the file and writes the header.
  static Result<OriginalCsvWriter> open(const std::filesystem::path& path);
  OriginalCsvWriter(OriginalCsvWriter&&) noexcept;
  OriginalCsvWriter& operator=(OriginalCsvWriter&&) noexcept;
  ~OriginalCsvWriter();

  // One window: `phase`, optional `target` (% of the host), then `rows`
  // (non-finite values are left out: readers treat missing rows as NaN).
  // Flushed after each window so an interrupted run keeps complete windows.
  Result<void> write_window(std::int64_t timestamp_s, std::string_view phase,
                            std::optional<double> target_pct, const std::vector<Row>& rows);
  void close();

 private:
  OriginalCsvWriter(std::FILE* f, std::filesystem::path p) : file_(f), path_(std::move(p)) {}
  std::FILE* file_ = nullptr;
  std::filesystem::path path_;
};

// events-<phase>.csv: `t_ns,event,level,window,target_pct,workers`, t_ns on the
// phase trace's time base (ns since the sampler's t0). Events: scenario_start,
// level_start, window_end, vm_ready, vm_finished, interrupted, scenario_end.
class EventLog {
 public:
  static Result<EventLog> open(const std::filesystem::path& path);
  EventLog(EventLog&&) noexcept;
  EventLog& operator=(EventLog&&) noexcept;
  ~EventLog();
  void write(std::int64_t t_ns, std::string_view event, int level, int window,
             std::optional<double> target_pct, int workers);
  void close();

 private:
  EventLog(std::FILE* f) : file_(f) {}
  std::FILE* file_ = nullptr;
};

// Original file name of a phase: "<prefix>-training-25.csv", "<prefix>-groundtruth.csv"...
std::filesystem::path original_csv_path(const std::filesystem::path& dir, const std::string& prefix,
                                        const std::string& phase);

}  // namespace cinergy::orchestrator
