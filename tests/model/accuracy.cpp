#include "accuracy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "cinergy/model/dataset.hpp"
#include "cinergy/model/estimate.hpp"
#include "cinergy/model/host_model.hpp"

namespace cinergy::model::testing {
namespace {

Result<MethodScore> score(const DataSet& data, const GeneratedHost& g, Method method) {
  return score_method(data, g.threads, method, g.cloud_ts_s, g.cloud_true_isolated_w,
                      g.true_idle_w);
}

std::string num(const nlohmann::json& v, const char* spec) {
  return v.is_number() ? fmt::format(fmt::runtime(spec), v.get<double>()) : "n/a";
}

}  // namespace

Result<MethodScore> score_method(const DataSet& data, int host_threads, Method method,
                                 const std::vector<double>& truth_ts_s,
                                 const std::vector<double>& truth_w, double idle_w) {
  auto model = fit_model(data, {method, host_threads, std::nullopt});
  if (!model) return std::unexpected(model.error());
  auto rows = estimate(*model, *data.cloudlike);
  if (!rows) return std::unexpected(rows.error());
  auto eval = evaluate(*model, *rows, *data.groundtruth);
  if (!eval) return std::unexpected(eval.error());
  std::unordered_map<long long, double> truth;
  for (std::size_t i = 0; i < truth_ts_s.size(); ++i)
    truth[std::llround(truth_ts_s[i])] = truth_w[i];
  MethodScore s;
  double ss = 0, sa = 0, sp = 0, dyn = 0, half = 0;
  std::size_t with_iv = 0, covered = 0;
  for (const auto& r : *rows) {
    auto it = truth.find(std::llround(r.timestamp_s));
    if (it == truth.end()) continue;
    const double e = r.isolated_w - it->second;
    ss += e * e;
    sa += std::abs(e);
    sp += std::abs(e) / it->second;
    dyn += it->second - idle_w;
    ++s.n;
    if (std::isfinite(r.isolated_low_w) && std::isfinite(r.isolated_high_w)) {
      ++with_iv;
      covered += it->second >= r.isolated_low_w && it->second <= r.isolated_high_w ? 1 : 0;
      half += 0.5 * (r.isolated_high_w - r.isolated_low_w);
    }
  }
  if (s.n == 0) return fail("no estimate matches a truth timestamp");
  const double n = static_cast<double>(s.n);
  s.rmse_truth_w = std::sqrt(ss / n);
  s.mae_truth_w = sa / n;
  s.mape_truth_pct = 100.0 * sp / n;
  s.dyn_err_pct = 100.0 * s.rmse_truth_w / std::max(1e-9, dyn / n);
  if (with_iv > 0) {
    s.coverage_pct = 100.0 * static_cast<double>(covered) / static_cast<double>(with_iv);
    s.mean_halfwidth_w = half / static_cast<double>(with_iv);
  }
  s.evaluation = std::move(*eval);
  return s;
}

Result<AccuracyRow> run_accuracy_host(const SpecCurve& curve, const HostParams& params,
                                      const std::filesystem::path& dir) {
  AccuracyRow row;
  row.host = generate_host(curve, params, dir);
  auto data = load_dataset(dir);
  if (!data) return std::unexpected(data.error());
  auto p = score(*data, row.host, Method::paper);
  if (!p) return std::unexpected(p.error());
  auto c = score(*data, row.host, Method::cinergy);
  if (!c) return std::unexpected(c.error());
  row.paper = std::move(*p);
  row.cinergy = std::move(*c);
  return row;
}

std::string accuracy_table(const std::vector<AccuracyRow>& rows) {
  std::string s =
      "| threads | SPECpower curve | paper RMSE vs truth (W) | cinergy RMSE vs truth (W) | "
      "cinergy/paper | paper dyn. err % | cinergy dyn. err % | paper R2 / RMSE (nearest match) "
      "| cinergy R2 / RMSE (nearest match) | paper binned RMSE | cinergy binned RMSE |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n";
  double sum_ratio = 0, max_ratio = 0, sum_p = 0, sum_c = 0;
  for (const auto& r : rows) {
    const double ratio = r.cinergy.rmse_truth_w / r.paper.rmse_truth_w;
    sum_ratio += ratio;
    max_ratio = std::max(max_ratio, ratio);
    sum_p += r.paper.rmse_truth_w;
    sum_c += r.cinergy.rmse_truth_w;
    const auto& pe = r.paper.evaluation;
    const auto& ce = r.cinergy.evaluation;
    s += fmt::format(
        "| {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.1f} | {:.1f} | {} / {} | {} / {} | {} | {} |\n",
        r.host.threads, r.host.system.substr(0, 40), r.paper.rmse_truth_w, r.cinergy.rmse_truth_w,
        ratio, r.paper.dyn_err_pct, r.cinergy.dyn_err_pct, num(pe["r2"], "{:.2f}"),
        num(pe["rmse_w"], "{:.2f}"), num(ce["r2"], "{:.2f}"), num(ce["rmse_w"], "{:.2f}"),
        num(pe["binned_rmse_w"], "{:.2f}"), num(ce["binned_rmse_w"], "{:.2f}"));
  }
  const double n = static_cast<double>(rows.size());
  s += fmt::format(
      "\nhosts {}: mean RMSE vs truth paper {:.2f} W, cinergy {:.2f} W; mean cinergy/paper "
      "ratio {:.2f} (error {:.0f} % lower), worst host ratio {:.2f}\n",
      rows.size(), sum_p / n, sum_c / n, sum_ratio / n, 100.0 * (1.0 - sum_ratio / n), max_ratio);
  return s;
}

}  // namespace cinergy::model::testing
