// Error against the generator's truth, for both methods, over a set of
// generated hosts (used by the accuracy unit test and `model_accuracy`).
#pragma once

#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/model/dataset.hpp"
#include "cinergy/model/host_model.hpp"
#include "generator.hpp"

namespace cinergy::model::testing {

struct MethodScore {
  double rmse_truth_w = 0;  // isolated_w vs true isolated power, all cloud-like windows
  double mae_truth_w = 0;
  double dyn_err_pct = 0;     // rmse_truth_w / mean true dynamic power * 100
  double mape_truth_pct = 0;  // mean |isolated_w - truth| / truth * 100
  // Share of the windows whose truth lies in the estimate's 90 % interval,
  // and its mean half-width (NaN: no interval).
  double coverage_pct = std::numeric_limits<double>::quiet_NaN();
  double mean_halfwidth_w = std::numeric_limits<double>::quiet_NaN();
  std::size_t n = 0;
  nlohmann::json evaluation;  // the paper-style evaluation object
};

// Fits `method` on `data`, estimates its cloud-like file and scores every
// estimate whose timestamp has a truth (`truth_ts_s`, `truth_w`; `idle_w`
// for the dynamic error). Errors: those of the model library, no estimate
// at a truth timestamp.
Result<MethodScore> score_method(const DataSet& data, int host_threads, Method method,
                                 const std::vector<double>& truth_ts_s,
                                 const std::vector<double>& truth_w, double idle_w);

struct AccuracyRow {
  GeneratedHost host;
  MethodScore paper, cinergy;
};

// Generates one host into `dir`, fits and estimates with both methods.
Result<AccuracyRow> run_accuracy_host(const SpecCurve& curve, const HostParams& params,
                                      const std::filesystem::path& dir);

// Markdown table plus a summary line.
std::string accuracy_table(const std::vector<AccuracyRow>& rows);

}  // namespace cinergy::model::testing
