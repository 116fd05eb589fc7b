#include "model_view.hpp"

#include <fmt/format.h>

#include <cmath>

namespace cinergy::report::detail {
namespace {

std::string fmt_num(double v) { return fmt::format("{:.4g}", v); }

// The library's polynomial as text: ascending coefficients in u = (x -
// center) / scale, x the host load in %; the paper's scikit-learn form in
// raw powers of x, its intercept joined to the bias column's coefficient.
std::string formula_text(const model::Polynomial& p) {
  const bool raw = p.sklearn();
  std::string s = "P(x) =";
  for (std::size_t i = 0; i < p.coef.size(); ++i) {
    const double v = raw && i == 0 ? p.intercept + p.coef[0] : p.coef[i];
    s += (i == 0 ? (v < 0 ? " −" : " ") : (v < 0 ? " − " : " + "));
    s += fmt_num(std::fabs(v));
    if (i >= 1) s += raw ? "·x" : "·u";
    if (i >= 2) s += fmt::format("^{}", i);
  }
  if (raw)
    return s + fmt::format("  (x: host load %; scikit-learn's predict in {})",
                           p.form == model::Polynomial::Form::sklearn_f32 ? "float32" : "float64");
  if (p.x_center == 0 && p.x_scale == 1)
    s += ", u = x";
  else
    s += fmt::format(", u = (x − {})/{}", fmt_num(p.x_center), fmt_num(p.x_scale));
  return s + "  (x: host load %)";
}

// The file's entry for the curve of a step: the library sorts its curves by
// step, so an entry is found by its step_pct, not by its position.
const nlohmann::json* curve_entry(const nlohmann::json& file, int step_pct) {
  const auto curves = file.find("curves");
  if (curves == file.end() || !curves->is_array()) return nullptr;
  for (const auto& c : *curves) {
    if (!c.is_object()) continue;
    const auto step = c.find("step_pct");
    if (step != c.end() && step->is_number() && step->get<int>() == step_pct) return &c;
  }
  return nullptr;
}

}  // namespace

Result<ModelView> read_model_view(nlohmann::json file, const std::string& source) {
  auto m = model::model_from_json(file, source);
  if (!m) return std::unexpected(m.error());
  const bool paper = m->method == model::Method::paper;
  ModelView view;
  for (const auto& c : m->curves) {
    StepModel s;
    s.step_pct = c.step_pct;
    s.label = fmt::format("{}", c.step_pct);
    // The paper's polynomial is only meaningful on its fit range; ours
    // continues linearly beyond it (the guard), as the estimate does.
    const double lo = paper ? c.fit.x_lo : 0.0, hi = paper ? c.fit.x_hi : 100.0;
    for (int k = 0; k <= 200; ++k) {
      const double x = lo + (hi - lo) * k / 200.0;
      const double y = c.power_w(x, !paper);
      if (std::isfinite(y)) s.curve.emplace_back(x, y);
    }
    s.formula = c.knot_x_pct.empty()
                    ? formula_text(c.fit.poly)
                    : fmt::format(
                          "linear between {} load levels' means (chosen by CV over the "
                          "polynomial {})",
                          c.knot_x_pct.size(), formula_text(c.fit.poly));
    s.curve_source = paper ? "sampled with the model library on the fit range"
                           : "sampled with the model library (linear beyond the fit range)";
    s.fields = nlohmann::json::object();
    if (const nlohmann::json* e = curve_entry(file, c.step_pct)) {
      for (auto it = e->begin(); it != e->end(); ++it) {
        if (it.key() == "basis") continue;
        if (it.value().is_primitive() && !it.value().is_null()) s.fields[it.key()] = it.value();
      }
      if (const auto xr = e->find("x_range_pct"); xr != e->end() && xr->is_array())
        s.fields["x_range_pct"] = xr->dump();
    }
    view.steps.push_back(std::move(s));
  }
  view.file = std::move(file);
  view.model = std::move(*m);
  return view;
}

}  // namespace cinergy::report::detail
