// Isolated-power estimates per window of a scenario, and their evaluation
// against the ground truth (scenario B).
#pragma once

#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/model/dataset.hpp"
#include "cinergy/model/host_model.hpp"

namespace cinergy::model {

struct EstimateRow {
  double timestamp_s = 0;
  double vm_pct = 0;         // qemu process CPU, % of one CPU
  double share_pct = 0;      // vm_pct / host_threads: the VM's share of the host, %
  double intensity_pct = 0;  // load-weighted mean vCPU load (NaN: no CPUn data)
  double isolated_w = 0;     // host power if only the VM ran, idle included
  double dynamic_w = 0;      // isolated_w minus idle power
  double host_w = 0;         // measured package-global-watt (NaN if missing)
  double host_util_pct = 0;  // measured cpu%_package-global (NaN if missing)
  double bottomup_w = 0;     // share / host_util * host_w (NaN if undefined)
  double ratio = 0;          // bottomup_w / isolated_w, the Cinergy ratio (NaN if undefined)
  // Nominal 90 % interval of isolated_w (HostModel::isolated_interval; NaN
  // for the paper method).
  double isolated_low_w = std::numeric_limits<double>::quiet_NaN();
  double isolated_high_w = std::numeric_limits<double>::quiet_NaN();
  // The paper method computes in pandas' dtypes (paper.hpp): whether
  // share_pct and isolated_w are float32 values, for evaluate()'s arithmetic.
  bool share_f32 = false;
  bool isolated_f32 = false;
};

// Load-weighted mean of the vCPU loads: sum(u^2) / sum(u), each u clamped to
// [0, 100] %; NaN when no vCPU value is finite or the sum is below 0.5 %.
double vcpu_intensity_pct(const std::vector<double>& vcpu_loads_pct);

// One row per window with a finite `vm` (the paper method: per row without
// any NaN, like its dropna(), computed as the notebook does: the share, the
// step-50 curve, bottom-up and ratio in pandas' dtypes). Errors: no `vm`
// column, no usable row.
Result<std::vector<EstimateRow>> estimate(const HostModel& model, const Table& scenario);

// CSV: timestamp,vm,isolated_w,dynamic_w,host_w,ratio,share_pct,intensity_pct,
// bottomup_w,host_util_pct,isolated_low_w,isolated_high_w; undefined values
// as empty fields.
Result<void> write_estimate_csv(const std::vector<EstimateRow>& rows,
                                const std::filesystem::path& file);

// The evaluation object of `cinergy evaluate --json` (see docs/model.md):
// the notebook's metrics over cloud-like rows matched as it matches them
// (the ground-truth row with the nearest VM share, rejected only when that
// lies more than 0.001 points above), for both methods; the paper method's
// in its dtypes (paper::metrics). And a binned comparison. Undefined
// metrics are null, with the reason under "null_reasons". With intervals
// (Cinergy): "interval" = {nominal_pct 90, coverage_pct: the share of
// matched windows whose ground-truth power lies in it, mean_halfwidth_w}.
// "extrapolated" = {fit_range_pct [lo, hi] of the curves, slack_pct 5, n:
// the estimates whose VM share lies more than slack_pct outside it, of: the
// estimates}: figures read off a curve where it was never fitted. Errors: ground
// truth without `vm` or `package-global-watt`, or no usable row.
// "by_position" (both methods, in float64: Cinergy's matching, not the
// notebook's) when options.by_position: each cloud-like window against the
// ground-truth window at the same timestamp, kept when the VM shares differ
// by at most 2.5 points: {matching, n, rejected_share, rmse_w, mae_w,
// mape_pct, coverage_pct}; null (with its reason) otherwise.
struct EvaluateOptions {
  // The VM replays the same load profile from the start of B and of C (the
  // test VM: DataSet::replayed_profile), so equal timestamps are equal
  // points of it.
  bool by_position = false;
};
Result<nlohmann::json> evaluate(const HostModel& model, const std::vector<EstimateRow>& cloud,
                                const Table& groundtruth, const EvaluateOptions& options = {});

// "N of M estimates EXTRAPOLATED (VM share outside the fitted load range LO
// to HI %)" from an evaluation object, or "" when none is: the one wording
// of evaluate's and run's outputs.
std::string extrapolation_note(const nlohmann::json& evaluation);

// Fit, estimate of the cloud-like scenario and evaluation of one method,
// in memory: what analyze() (analyze.hpp) writes, and what `cinergy
// compare` draws. Errors: those of fit_model, estimate and evaluate, and a
// missing cloud-like or ground-truth file.
struct Analysis {
  HostModel model;
  std::vector<EstimateRow> cloud;  // one row per cloud-like window estimated
  nlohmann::json evaluation;       // evaluate()'s object
};
Result<Analysis> analyze_dataset(const DataSet& data, const ModelOptions& options);

}  // namespace cinergy::model
