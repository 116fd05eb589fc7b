// Error against the generator's truth, for both methods, over a set of
// generated hosts (used by the accuracy unit test and `model_accuracy`).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cinergy/common/error.hpp"
#include "generator.hpp"

namespace cinergy::model::testing {

struct MethodScore {
  double rmse_truth_w = 0;  // isolated_w vs true isolated power, all cloud-like windows
  double mae_truth_w = 0;
  double dyn_err_pct = 0;   // rmse_truth_w / mean true dynamic power * 100
  std::size_t n = 0;
  nlohmann::json evaluation;  // the paper-style evaluation object
};

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
