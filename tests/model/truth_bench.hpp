// The accuracy benchmark over truths (truths.hpp): every case (a truth
// kind, a server, a VM shape, a seed) generated, fitted and estimated by
// both methods, scored against its truth, and the table of docs/model.md
// ("Accuracy against truths"). Used by `model_truths` and the unit test.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "accuracy.hpp"
#include "cinergy/common/error.hpp"
#include "truths.hpp"

namespace cinergy::model::testing {

struct TruthBenchOptions {
  std::vector<TruthKind> kinds{std::begin(kTruthKinds), std::end(kTruthKinds)};
  std::vector<std::uint64_t> seeds{1};
  // Servers: "THREADS:VENDOR" (vendor intel, amd or any: one server of that
  // class drawn per seed) or a SPECpower result_id.
  std::vector<std::string> hosts;
  std::vector<int> vcpus{1, 2, 4, 8};
  std::vector<bool> skewed{false, true};  // a 1-vCPU VM is only "even"
  std::filesystem::path keep;             // empty: data in a temporary directory, removed
  int windows_per_level = 10;
  // The paper method trained on the unpinned staircases where the data have
  // them (not its protocol): how much of the Cinergy method's gain is the
  // experiment's, how much the method's.
  bool paper_trains_unpinned = false;
};

struct TruthResult {
  TruthCase truth;
  MethodScore paper, cinergy;
  // Cinergy / paper MAPE against the truth (the measure); RMSE too.
  [[nodiscard]] double ratio() const { return cinergy.mape_truth_pct / paper.mape_truth_pct; }
  [[nodiscard]] double rmse_ratio() const { return cinergy.rmse_truth_w / paper.rmse_truth_w; }
};

// The default servers: 8 to 128 threads, Intel and AMD.
std::vector<std::string> default_truth_hosts();

// Runs every case; `progress` (may be empty) is called after each one.
// Errors: an unknown host class or result_id, a model error on a case.
Result<std::vector<TruthResult>> run_truth_bench(
    const TruthBenchOptions& options, const std::vector<SpecCurve>& curves,
    const std::function<void(const TruthResult&)>& progress = {});

// One line per case (CSV with a header).
std::string truth_cases_csv(const std::vector<TruthResult>& results);
// Per truth kind: the cases, mean MAPE of each method, their ratio (the
// "mean" criterion), the worst case's Cinergy/paper MAPE ratio (and the
// case), cases above 1, the same per host (a host: one server of one seed,
// its ratio the mean Cinergy MAPE over its VM shapes against the paper's:
// the "every host"), and the coverage of the Cinergy method's 90 %
// interval over all windows of that kind.
struct KindSummary {
  TruthKind kind = TruthKind::util;
  std::size_t cases = 0, above = 0;
  double mape_paper = 0, mape_cinergy = 0, mean_ratio = 0, worst_ratio = 0;
  const TruthResult* worst = nullptr;
  std::size_t hosts = 0, hosts_above = 0;
  double worst_host_ratio = 0;
  const TruthResult* worst_host = nullptr;  // a case of that host (names it)
  double coverage_pct = std::numeric_limits<double>::quiet_NaN();
};
std::vector<KindSummary> summarize(const std::vector<TruthResult>& results);
// Coverage over every window of every case (NaN: no interval).
double overall_coverage_pct(const std::vector<TruthResult>& results);
// Markdown table of summarize() plus the overall coverage.
std::string truth_table(const std::vector<TruthResult>& results);

}  // namespace cinergy::model::testing
