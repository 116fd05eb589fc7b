// The model files (model.json, model-paper.json) as the report shows them.
// Their schema belongs to the model library, which reads them here too
// (model::model_from_json): every curve is sampled with StepCurve::power_w,
// so the report draws exactly what the estimate uses. A file the library
// cannot read is an error, listed as unreadable; it is never guessed at.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/model/host_model.hpp"

namespace cinergy::report::detail {

using Points = std::vector<std::pair<double, double>>;  // (host load %, W)

struct StepModel {
  int step_pct = 0;          // the training step: 25, 50, 100
  std::string label;         // the step as the formulas table shows it ("50")
  Points curve;              // 201 samples over the drawn range, finite values only
  std::string formula;       // "P(x) = c0 + c1·u + ..., u = (x − center)/scale ..."
  std::string curve_source;  // how the curve was sampled (said under the formula)
  nlohmann::json fields;     // the curve's scalar fields in the file (degree, CV error, fit)
};

struct ModelView {
  nlohmann::json file;           // the file as read: its scalar fields and notes are shown
  std::vector<StepModel> steps;  // ascending step, at least one (the library refuses none)
  model::HostModel model;        // as the library read it (the paper's figures evaluate it)
};

// `source` names the file in the library's errors (the report passes its path).
Result<ModelView> read_model_view(nlohmann::json file, const std::string& source);

}  // namespace cinergy::report::detail
