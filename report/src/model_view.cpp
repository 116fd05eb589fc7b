#include "model_view.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>

namespace cinergy::report::detail {
namespace {

const nlohmann::json* find_any(const nlohmann::json& j, std::initializer_list<const char*> keys) {
  if (!j.is_object()) return nullptr;
  for (const char* k : keys) {
    auto it = j.find(k);
    if (it != j.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

std::optional<double> number_at(const nlohmann::json& j, std::initializer_list<const char*> keys) {
  const auto* v = find_any(j, keys);
  if (v && v->is_number()) return v->get<double>();
  return std::nullopt;
}

std::vector<double> number_array(const nlohmann::json* v) {
  std::vector<double> out;
  if (!v || !v->is_array()) return out;
  for (const auto& e : *v) {
    if (!e.is_number()) return {};
    out.push_back(e.get<double>());
  }
  return out;
}

// The abscissa transform u = (x - center) / scale (or * scale when the
// schema says "factor"), with x in % or a fraction of the host.
struct Reading {
  double center = 0, scale = 1;
  bool multiply = false, fraction = false, descending = false;
  std::string text;
};

double eval(const std::vector<double>& c, const Reading& r, double x_pct) {
  double x = r.fraction ? x_pct / 100.0 : x_pct;
  const double u = r.multiply ? (x - r.center) * r.scale : (x - r.center) / r.scale;
  double y = 0;
  if (r.descending) {
    for (double ci : c) y = y * u + ci;
  } else {
    for (auto it = c.rbegin(); it != c.rend(); ++it) y = y * u + *it;
  }
  return y;
}

std::string fmt_num(double v) { return fmt::format("{:.4g}", v); }

std::string formula_text(const std::vector<double>& c, const Reading& r) {
  std::string s = "P(x) =";
  const std::size_t n = c.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t power = r.descending ? n - 1 - i : i;
    const double v = c[i];
    s += (i == 0 ? (v < 0 ? " −" : " ") : (v < 0 ? " − " : " + "));
    s += fmt_num(std::fabs(v));
    if (power >= 1) s += "·u";
    if (power >= 2) s += fmt::format("^{}", power);
  }
  const std::string x = r.fraction ? "x/100" : "x";
  if (r.center == 0 && r.scale == 1)
    s += ", u = " + x;
  else if (r.multiply)
    s += fmt::format(", u = ({} − {})·{}", x, fmt_num(r.center), fmt_num(r.scale));
  else
    s += fmt::format(", u = ({} − {})/{}", x, fmt_num(r.center), fmt_num(r.scale));
  return s + "  (x: host load %)";
}

void collect_scaling(const nlohmann::json& m, double& center, double& scale, bool& multiply) {
  const nlohmann::json* holder = find_any(m, {"x_scaling", "scaling", "x_scale", "x_transform"});
  const nlohmann::json& src = (holder && holder->is_object()) ? *holder : m;
  if (auto c = number_at(src, {"x_center", "x_mean", "x_offset", "x_shift", "center", "mean",
                               "offset", "shift", "x_min", "min"}))
    center = *c;
  if (auto s = number_at(src, {"x_std", "x_span", "x_width", "x_range", "std", "scale", "span",
                               "width", "divisor"}))
    scale = *s;
  if (auto f = number_at(src, {"factor", "x_factor", "multiplier"})) {
    scale = *f;
    multiply = true;
  }
  if (holder && holder->is_number()) scale = holder->get<double>();  // "x_scale": 100
  if (scale == 0) scale = 1;
}

std::optional<std::pair<double, double>> fit_range(const nlohmann::json& m) {
  const auto* r = find_any(m, {"fit_range", "x_range_fit", "fit_range_pct", "range", "domain"});
  if (r) {
    auto a = number_array(r);
    if (a.size() == 2) return std::pair{a[0], a[1]};
    if (r->is_object()) {
      auto lo = number_at(*r, {"min", "lo", "from", "x_min"});
      auto hi = number_at(*r, {"max", "hi", "to", "x_max"});
      if (lo && hi) return std::pair{*lo, *hi};
    }
  }
  auto lo = number_at(m, {"fit_min", "x_min_fit", "x_fit_min"});
  auto hi = number_at(m, {"fit_max", "x_max_fit", "x_fit_max", "exclude_beyond",
                          "exclude_beyond_pct"});
  if (hi) return std::pair{lo.value_or(0.0), *hi};
  return std::nullopt;
}

StepModel read_one(const std::string& label, const nlohmann::json& m, const Points* training) {
  StepModel out;
  out.label = label;
  out.step = step_number(m.contains("step") ? m["step"] : nlohmann::json(label));
  if (!out.step && m.contains("dataset")) out.step = step_number(m["dataset"]);
  out.fields = nlohmann::json::object();
  if (m.is_object())
    for (auto it = m.begin(); it != m.end(); ++it)
      if (it.value().is_primitive() && !it.value().is_null()) out.fields[it.key()] = it.value();
  if (const auto* f = find_any(m, {"formula", "expression", "equation"}); f && f->is_string())
    out.formula = f->get<std::string>();

  // Sampled curve given directly.
  if (const auto* c = find_any(m, {"curve", "samples", "sampled_curve"})) {
    if (c->is_object()) {
      auto xs = number_array(find_any(*c, {"x", "x_pct", "load_pct"}));
      auto ys = number_array(find_any(*c, {"y", "w", "watt", "power_w"}));
      for (std::size_t i = 0; i < std::min(xs.size(), ys.size()); ++i)
        out.curve.emplace_back(xs[i], ys[i]);
    } else if (c->is_array()) {
      for (const auto& p : *c)
        if (p.is_array() && p.size() == 2 && p[0].is_number() && p[1].is_number())
          out.curve.emplace_back(p[0].get<double>(), p[1].get<double>());
    }
    if (!out.curve.empty()) {
      out.curve_source = "sampled curve from the model file";
      return out;
    }
  }

  auto coef = number_array(find_any(m, {"coefficients", "coefs", "coeffs", "coef", "beta",
                                        "poly", "polynomial"}));
  if (coef.empty()) {
    out.curve_source = "no coefficients found";
    return out;
  }
  double center = 0, scale = 1;
  bool multiply = false;
  collect_scaling(m, center, scale, multiply);
  bool declared_desc = false;
  if (const auto* o = find_any(m, {"coefficient_order", "order", "coefficients_order"});
      o && o->is_string())
    declared_desc = o->get<std::string>().starts_with("desc") ||
                    o->get<std::string>().find("highest") != std::string::npos;

  // The schema leaves the reading open: try the plausible ones and keep the
  // one that fits the training points best (the declared one on ties).
  std::vector<Reading> candidates;
  for (bool desc : {declared_desc, !declared_desc})
    for (bool frac : {false, true}) {
      candidates.push_back({center, scale, multiply, frac, desc, ""});
      if (center != 0 || scale != 1) candidates.push_back({0, 1, false, frac, desc, ""});
    }
  std::optional<std::pair<double, double>> range = fit_range(m);
  double lo = 0, hi = 100;
  if (training && !training->empty()) {
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    for (const auto& [x, y] : *training) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  if (range) {
    lo = range->first;
    hi = range->second;
  }
  std::size_t best = 0;
  if (training && !training->empty()) {
    double best_err = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      double se = 0;
      std::size_t n = 0;
      for (const auto& [x, y] : *training) {
        if (x < lo - 1e-9 || x > hi + 1e-9) continue;
        const double d = eval(coef, candidates[i], x) - y;
        se += d * d;
        ++n;
      }
      const double err = n ? se / static_cast<double>(n) : std::numeric_limits<double>::infinity();
      if (std::isfinite(err) && err < best_err * 0.999) {
        best_err = err;
        best = i;
      }
    }
  }
  const Reading& r = candidates[best];
  if (hi <= lo) hi = lo + 1;
  for (int i = 0; i <= 200; ++i) {
    const double x = lo + (hi - lo) * i / 200.0;
    const double y = eval(coef, r, x);
    if (std::isfinite(y)) out.curve.emplace_back(x, y);
  }
  if (out.formula.empty()) out.formula = formula_text(coef, r);
  out.curve_source = best == 0 ? "coefficients as declared in the model file"
                               : "coefficients (reading chosen by best fit to training points)";
  return out;
}

}  // namespace

std::optional<int> step_number(const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<int>();
  if (v.is_number()) return static_cast<int>(std::lround(v.get<double>()));
  if (!v.is_string()) return std::nullopt;
  const std::string s = v.get<std::string>();
  std::size_t end = s.size();
  std::size_t begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(s[begin - 1]))) --begin;
  if (begin == end) return std::nullopt;
  return std::stoi(s.substr(begin, end - begin));
}

std::vector<StepModel> read_step_models(const nlohmann::json& model,
                                        const std::vector<std::pair<int, Points>>& training) {
  std::vector<std::pair<std::string, const nlohmann::json*>> items;
  const nlohmann::json* container =
      find_any(model, {"steps", "models", "curves", "fits", "per_step", "datasets"});
  if (container && container->is_array()) {
    for (std::size_t i = 0; i < container->size(); ++i) {
      const auto& e = (*container)[i];
      std::string label = std::to_string(i);
      if (const auto* s = find_any(e, {"step", "name", "dataset", "label"}))
        label = s->is_string() ? s->get<std::string>() : s->dump();
      items.emplace_back(label, &e);
    }
  } else if (container && container->is_object()) {
    for (auto it = container->begin(); it != container->end(); ++it)
      items.emplace_back(it.key(), &it.value());
  } else if (model.is_object() && find_any(model, {"coefficients", "coefs", "curve"})) {
    items.emplace_back("model", &model);
  }
  std::vector<StepModel> out;
  for (const auto& [label, m] : items) {
    if (!m->is_object()) continue;
    std::optional<int> step =
        step_number(m->contains("step") ? (*m)["step"] : nlohmann::json(label));
    const Points* pts = nullptr;
    for (const auto& [s, p] : training)
      if (step && s == *step) pts = &p;
    out.push_back(read_one(label, *m, pts));
  }
  return out;
}

}  // namespace cinergy::report::detail
