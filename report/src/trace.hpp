// Turns one high-rate trace (trace-<phase>.csv.xz; .csv.gz or .csv of older
// runs) into the report's multi-level min/max pyramid plus its health figures.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::report::detail {

// A step series laid over the trace (the isolated estimate): value v_i holds
// for t in (t_i - window_s, t_i], t in seconds since the trace's t0.
struct StepSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (t_s, value), sorted by t_s
  double window_s = 2.0;
};

struct Marker {
  double t_s = 0;
  std::string label;
  std::optional<double> target_pct;
};

struct TraceInput {
  std::string phase;
  std::filesystem::path trace;
  std::optional<nlohmann::json> meta;
  std::vector<Marker> markers;       // from events-<phase>.csv, sorted by t_s
  std::vector<StepSeries> overlays;  // power-axis step series (W)
  std::optional<int> host_threads;
  std::size_t budget_values = 0;  // max numbers embedded for this trace (all levels)
  std::size_t overview_buckets = 4000;
};

struct TraceOutput {
  nlohmann::json chart;    // series, levels meta, markers (small)
  std::string levels_js;   // JSON array of levels (big, written raw)
  nlohmann::json health;   // rows, rate reached, intervals, meta summary
  std::size_t values = 0;  // numbers embedded
  int passes = 0;          // readings of the trace: 1 with the sidecar's figures, else 2
};

// The levels need the trace's row count and time span before its first row
// is placed. With the sidecar's final figures (in.meta's "trace" object,
// sampler.hpp) the trace is read once, the rows counted on the way; without
// them (older runs, killed runs), or when the count disagrees with them (the
// file cut or changed later), it is read twice: once to count, once to build.
// The output is the same either way, byte for byte (the "meta" of the health
// aside, which is in.meta as given).
Result<TraceOutput> build_trace(const TraceInput& in);

// Which levels a trace of `rows` rows embeds, coarse to fine, each costing
// points x per_point numbers (per_point = series + 1 for x). The overview
// (<= overview_buckets buckets, 2 points each) is always kept; then the raw
// rows if they fit in budget_values together with the overview (full
// resolution first: it is what zooming in is for); then the 4x-finer
// envelopes between them, coarse first, while they still fit.
struct LevelPlan {
  std::size_t buckets;  // rows for the raw level
  bool raw;
};
std::vector<LevelPlan> plan_levels(std::uint64_t rows, std::size_t per_point,
                                   std::size_t overview_buckets, std::size_t budget_values);

// Delta-encoded quantised numbers: value/quantum rounded, each written as the
// difference from the previous non-null one; NaN written as null.
void append_delta_array(std::string& out, const std::vector<double>& values, double quantum);
void append_delta_ints(std::string& out, const std::vector<std::int64_t>& values);

}  // namespace cinergy::report::detail
