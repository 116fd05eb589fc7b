// The report's sections and figures, one builder each, all from the Inputs
// that gather() read. write_report() (report.cpp) calls them in page order
// and hands their parts to page_html() (html.hpp).
//
//   time series (1)      build_time_series   timeseries.cpp
//   model per step (2)   model_figures       figures.cpp
//   isolated (3)         isolated_figure     figures.cpp
//   ratio (4)            ratio_figure        figures.cpp
//   run health           health_html         sections.cpp
//   metrics (5)          metrics_html        sections.cpp
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "inputs.hpp"

namespace cinergy::report::detail {

// The bound on embedded numbers (x positions and values, all traces, all
// levels; the overviews are kept beyond it): see docs/report.md.
inline constexpr std::size_t kValueBudget = 3'000'000;
// Buckets of a trace's overview level (2 points each).
inline constexpr std::size_t kOverviewBuckets = 4000;

// Figure 1: one chart per phase that has a trace (trace-<phase>.csv.xz, or
// .csv.gz of older runs) or, failing that, its original-format CSV (the 2 s
// windows, raw level only), in run_phases() order.
struct TimeSeries {
  nlohmann::json charts = nlohmann::json::array();  // series, levels meta, markers; "blob" = index
  std::vector<std::string> level_blobs;             // each chart's levels (JSON, written raw)
  std::vector<nlohmann::json> health;               // per trace built, run_phases() order
  std::size_t values = 0;  // numbers embedded: <= kValueBudget beyond the overviews
  bool simulated = false;  // a sidecar or a trace row says the power is simulated
};
// Traces are built smallest file first, each given an equal share of what the
// ones before left of kValueBudget. Appends to in.missing (traces, sidecars,
// events) and in.problems (traces that cannot be read).
TimeSeries build_time_series(Inputs& in);

// Figure 2: per training step present, its windows (host load %, W) and the
// curve of each method's model for that step. Empty without training CSVs.
nlohmann::json model_figures(const Inputs& in);

// Figure 3: ground truth and each method's isolated estimate (W) against the
// VM's load (% of the host with host threads known, else % of one CPU).
// nullopt when there is nothing to draw.
std::optional<nlohmann::json> isolated_figure(const Inputs& in);

// Figure 4: each method's ratio (bottom-up / isolated) against host load (%).
// nullopt when there is nothing to draw.
std::optional<nlohmann::json> ratio_figure(const Inputs& in);

// The run-health section: manifest facts, then one row per trace built
// (`health` from build_time_series).
std::string health_html(const Inputs& in, const std::vector<nlohmann::json>& health,
                        bool simulated);

// Section 5: the evaluation metrics of both methods, then each model's
// fields, notes and per-step formulas.
std::string metrics_html(const Inputs& in);

}  // namespace cinergy::report::detail
