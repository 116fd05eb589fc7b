// Figures 2-4: small scatter/line charts over the 2 s windows (model per
// step, isolated estimate against VM load, ratio against host load).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "cinergy/report/series.hpp"
#include "sections.hpp"
#include "xy_chart.hpp"

namespace cinergy::report::detail {
namespace {

using nlohmann::json;

// (x, y) of the rows where both columns hold a finite value, in timestamp
// order; none when either column is absent.
Points column_pairs(const model::Table& t, std::string_view x_name, std::string_view y_name) {
  Points p;
  const std::vector<double>* x = t.column(x_name);
  const std::vector<double>* y = t.column(y_name);
  if (x == nullptr || y == nullptr) return p;
  for (std::size_t r = 0; r < t.rows(); ++r)
    if (std::isfinite((*x)[r]) && std::isfinite((*y)[r])) p.emplace_back((*x)[r], (*y)[r]);
  return p;
}

// The training windows of a step: host load (%) against package power (W).
Points training_points(const model::Table& t) {
  return column_pairs(t, "cpu%_package-global", "package-global-watt");
}

// A column's values by whole second (the windows' timestamps, rounded: the
// isolated estimates name the same windows); a later row wins a tie.
std::map<std::int64_t, double> by_second(const model::Table& t, std::string_view name) {
  std::map<std::int64_t, double> out;
  if (const std::vector<double>* c = t.column(name))
    for (std::size_t r = 0; r < t.rows(); ++r)
      if (!std::isnan((*c)[r])) out[std::llround(t.timestamp_s[r])] = (*c)[r];
  return out;
}

}  // namespace

json model_figures(const Inputs& in) {
  json out = json::array();
  // One figure per step: its pinned staircase's windows (the paper's
  // training) and, where A has it, the unpinned one's (the Cinergy method's).
  std::set<int> steps;
  for (const std::string& phase : in.phases) {
    if (!phase.starts_with("training-") || !in.csv.contains(phase)) continue;
    const std::size_t at = phase.rfind('-') + 1;
    steps.insert(std::stoi(phase.substr(at)));
  }
  for (const int step : steps) {
    const auto pinned = in.csv.find(fmt::format("training-{}", step));
    const auto unpinned = in.csv.find(fmt::format("training-unpinned-{}", step));
    XyChart c;
    c.id = fmt::format("model-{}", step);
    c.title = fmt::format("Step {}: host power model over the training windows", step);
    c.x_label = "host load (%)";
    c.y_label = "package-global (W)";
    if (pinned != in.csv.end())
      c.series.push_back({"training windows", false, training_points(pinned->second)});
    if (unpinned != in.csv.end())
      c.series.push_back({"unpinned training windows", false, training_points(unpinned->second)});
    const std::size_t data_series = c.series.size();
    for (const auto& [method, view] : in.model)
      for (const auto& s : view.steps)
        if (s.step_pct == step && !s.curve.empty())
          c.series.push_back({"model (" + method + ")", true, s.curve});
    if (c.series.size() == data_series) c.note = "no fitted curve for this step in the model files";
    out.push_back(c.to_json());
  }
  return out;
}

std::optional<json> isolated_figure(const Inputs& in) {
  // x: % of the host when its threads are known, else % of one CPU (the
  // original CSV's vm column as it is).
  const double per_host = in.threads ? 1.0 / *in.threads : 1.0;
  XyChart c;
  c.id = "isolated";
  c.title = "Isolated power: estimates and ground truth against VM load";
  c.x_label =
      in.threads ? "VM load (% of host: vm / threads)" : "VM load (% of one CPU; threads unknown)";
  c.y_label = "W";
  if (auto it = in.csv.find("groundtruth"); it != in.csv.end()) {
    Points gt = column_pairs(it->second, "vm", "package-global-watt");
    for (auto& [vm, w] : gt) vm *= per_host;
    c.series.push_back({"ground truth (VM alone)", false, gt});
  }
  for (const auto& [method, t] : in.isolated) {
    auto vc = t.column("vm"), ic = t.column("isolated_w"), sc = t.column("share_pct");
    // share_pct (the model's own VM share of the host, %) when written and
    // the axis is % of the host; else vm scaled as the ground truth is.
    const bool share = sc && in.threads;
    if (!ic || (!share && !vc)) continue;
    Points p;
    for (std::size_t r = 0; r < t.rows.size(); ++r)
      p.emplace_back(share ? t.number(r, *sc) : t.number(r, *vc) * per_host, t.number(r, *ic));
    c.series.push_back({"isolated estimate (" + method + ")", false, p});
    // The estimate's nominal 90 % interval, when the file has it (Cinergy).
    for (const auto& [bound, label] :
         {std::pair{"isolated_low_w", "low"}, std::pair{"isolated_high_w", "high"}}) {
      auto bc = t.column(bound);
      if (!bc) continue;
      Points b;
      for (std::size_t r = 0; r < t.rows.size(); ++r) {
        const double y = t.number(r, *bc);
        if (std::isfinite(y))
          b.emplace_back(share ? t.number(r, *sc) : t.number(r, *vc) * per_host, y);
      }
      if (!b.empty())
        c.series.push_back({std::string("90 % interval ") + label + " (" + method + ")", false, b});
    }
  }
  if (c.empty()) return std::nullopt;
  return c.to_json();
}

std::optional<json> ratio_figure(const Inputs& in) {
  XyChart c;
  c.id = "ratio";
  c.title = "Cinergy ratio (bottom-up / isolated) against host load";
  c.x_label = "host load (%)";
  c.y_label = "ratio";
  // Host load of the cloud-like windows, for estimates without their own.
  const std::map<std::int64_t, double> cloud_load =
      in.csv.contains("cloudlike") ? by_second(in.csv.at("cloudlike"), "cpu%_package-global")
                                   : std::map<std::int64_t, double>{};
  for (const auto& [method, t] : in.isolated) {
    auto rc = t.column("ratio"), tc = t.column("timestamp");
    if (!rc) continue;
    // host_util_pct: the host load model::write_estimate_csv writes per
    // window; files without it take the cloud-like window's of that second.
    const std::optional<std::size_t> hc = t.column("host_util_pct");
    Points p;
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      double x = hc ? t.number(r, *hc) : kNaN;
      if (!std::isfinite(x) && tc) {
        const double ts = t.number(r, *tc);
        if (std::isfinite(ts))
          if (auto l = cloud_load.find(std::llround(ts)); l != cloud_load.end()) x = l->second;
      }
      p.emplace_back(x, t.number(r, *rc));
    }
    c.series.push_back({"ratio (" + method + ")", false, p});
  }
  if (c.empty()) return std::nullopt;
  return c.to_json();
}

}  // namespace cinergy::report::detail
