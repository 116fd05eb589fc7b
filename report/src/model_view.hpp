// Reads a model.json whose exact schema belongs to the model library, and
// turns it into curves and formula text for the report. Defensive: every key
// is optional; what cannot be understood is shown as raw fields instead.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace cinergy::report::detail {

using Points = std::vector<std::pair<double, double>>;  // (host load %, W)

struct StepModel {
  std::string label;          // "25", "training-50", ...
  std::optional<int> step;    // 25, 50, 100 when it can be told
  Points curve;               // sampled curve over its fit range
  std::string formula;        // human-readable
  std::string curve_source;   // how the curve was obtained
  nlohmann::json fields;      // scalar fields (degree, CV error, R2, ...)
};

// training: measured points per step (to pick the right reading of the
// coefficients when the schema leaves it open, and the curve's range).
std::vector<StepModel> read_step_models(const nlohmann::json& model,
                                        const std::vector<std::pair<int, Points>>& training);

// Extracts the step number from "25", "training-25", 25.
std::optional<int> step_number(const nlohmann::json& v);

}  // namespace cinergy::report::detail
