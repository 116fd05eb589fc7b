// Isolated-power estimates per window of a scenario, and their evaluation
// against the ground truth (scenario B).
#pragma once

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

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
};

// Load-weighted mean of the vCPU loads: sum(u^2) / sum(u), each u clamped to
// [0, 100] %; NaN when no vCPU value is finite or the sum is below 0.5 %.
double vcpu_intensity_pct(const std::vector<double>& vcpu_loads_pct);

// One row per window with a finite `vm` (the paper method: per row without
// any NaN, like its dropna()). Errors: no `vm` column, no usable row.
Result<std::vector<EstimateRow>> estimate(const HostModel& model, const Table& scenario);

// CSV: timestamp,vm,isolated_w,dynamic_w,host_w,ratio,share_pct,intensity_pct,
// bottomup_w,host_util_pct; undefined values as empty fields.
Result<void> write_estimate_csv(const std::vector<EstimateRow>& rows,
                                const std::filesystem::path& file);

// The evaluation object of `cinergy evaluate --json` (see docs/model.md):
// paper-style metrics over cloud-like rows matched to the ground-truth row
// with the nearest VM share (within 0.001 points), and a binned comparison.
// Undefined metrics are null, with the reason under "null_reasons".
// Errors: ground truth without `vm` or `package-global-watt`, or no usable row.
Result<nlohmann::json> evaluate(const HostModel& model, const std::vector<EstimateRow>& cloud,
                                const Table& groundtruth);

}  // namespace cinergy::model
