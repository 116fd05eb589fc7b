#include "cinergy/model/estimate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <limits>

namespace cinergy::model {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMatchTolerancePct = 0.001;  // the paper's nearest-match window
constexpr int kBins = 10;

double at(const std::vector<double>* col, std::size_t r) {
  return col == nullptr ? kNaN : (*col)[r];
}

void put(std::string& out, double v) {
  if (std::isfinite(v)) {
    char buf[32];
    const int n = std::snprintf(buf, sizeof buf, "%.4f", v);
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

double vcpu_intensity_pct(const std::vector<double>& loads) {
  double s1 = 0, s2 = 0;
  bool any = false;
  for (double u : loads) {
    if (!std::isfinite(u)) continue;
    u = std::clamp(u, 0.0, 100.0);
    s1 += u;
    s2 += u * u;
    any = true;
  }
  if (!any || s1 < 0.5) return kNaN;
  return s2 / s1;
}

Result<std::vector<EstimateRow>> estimate(const HostModel& model, const Table& t) {
  const std::string src = t.source.string();
  const auto* vm = t.column("vm");
  if (vm == nullptr) return fail(fmt::format("{}: no 'vm' rows (the VM's CPU %)", src));
  const auto* host_w = t.column("package-global-watt");
  const auto* host_u = t.column("cpu%_package-global");
  std::vector<const std::vector<double>*> vcpus;
  for (const auto& name : t.vcpu_columns()) vcpus.push_back(t.column(name));

  std::vector<std::size_t> rows;
  if (model.method == Method::paper) {
    rows = t.complete_rows({});
  } else {
    rows.reserve(t.rows());
    for (std::size_t r = 0; r < t.rows(); ++r)
      if (std::isfinite((*vm)[r])) rows.push_back(r);
  }
  if (rows.empty()) return fail(fmt::format("{}: no usable rows after dropping NaN", src));

  const double threads = model.host_threads;
  std::vector<EstimateRow> out;
  out.reserve(rows.size());
  std::vector<double> loads(vcpus.size());
  for (std::size_t r : rows) {
    EstimateRow e;
    e.timestamp_s = t.timestamp_s[r];
    e.vm_pct = std::max(0.0, (*vm)[r]);
    e.share_pct = e.vm_pct / threads;
    for (std::size_t k = 0; k < vcpus.size(); ++k) loads[k] = (*vcpus[k])[r];
    e.intensity_pct = vcpu_intensity_pct(loads);
    e.isolated_w = model.power_w(e.share_pct, e.intensity_pct);
    e.dynamic_w = e.isolated_w - model.idle_w(e.intensity_pct);
    e.host_w = at(host_w, r);
    e.host_util_pct = at(host_u, r);
    e.bottomup_w = e.host_util_pct > 0 ? e.share_pct / e.host_util_pct * e.host_w : kNaN;
    e.ratio = e.isolated_w > 0 ? e.bottomup_w / e.isolated_w : kNaN;
    out.push_back(e);
  }
  return out;
}

Result<void> write_estimate_csv(const std::vector<EstimateRow>& rows,
                                const std::filesystem::path& file) {
  std::FILE* f = std::fopen(file.c_str(), "wb");
  if (f == nullptr) return fail_errno(fmt::format("{}: cannot write", file.string()));
  std::string out =
      "timestamp,vm,isolated_w,dynamic_w,host_w,ratio,share_pct,intensity_pct,bottomup_w,"
      "host_util_pct\n";
  out.reserve(rows.size() * 96 + out.size());
  for (const auto& e : rows) {
    for (double v : {e.timestamp_s, e.vm_pct, e.isolated_w, e.dynamic_w, e.host_w, e.ratio,
                     e.share_pct, e.intensity_pct, e.bottomup_w}) {
      put(out, v);
      out += ',';
    }
    put(out, e.host_util_pct);
    out += '\n';
  }
  const bool good = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  const bool closed = std::fclose(f) == 0;
  if (!good || !closed) return fail_errno(EIO, fmt::format("{}: write failed", file.string()));
  return ok();
}

Result<nlohmann::json> evaluate(const HostModel& model, const std::vector<EstimateRow>& cloud,
                                const Table& gt) {
  const std::string src = gt.source.string();
  const auto* vm = gt.column("vm");
  const auto* watt = gt.column("package-global-watt");
  if (vm == nullptr || watt == nullptr)
    return fail(fmt::format("{}: needs 'vm' and 'package-global-watt' rows", src));
  const auto rows = model.method == Method::paper
                        ? gt.complete_rows({})
                        : gt.complete_rows({"vm", "package-global-watt"});
  if (rows.empty()) return fail(fmt::format("{}: no usable rows after dropping NaN", src));

  struct Truth {
    double share, watt;
  };
  std::vector<Truth> truth;
  truth.reserve(rows.size());
  for (std::size_t r : rows) truth.push_back({(*vm)[r] / model.host_threads, (*watt)[r]});
  std::ranges::sort(truth, {}, &Truth::share);

  nlohmann::json j;
  nlohmann::json reasons = nlohmann::json::object();
  j["method"] = method_name(model.method);
  j["host_threads"] = model.host_threads;
  j["vm_vcpus"] = model.vm_vcpus;
  j["n_cloudlike"] = cloud.size();
  j["n_groundtruth"] = truth.size();

  // Paper-style: nearest ground-truth share within 0.001 points.
  double ss_res = 0, abs_sum = 0, ape_sum = 0, sum_t = 0, sum_t2 = 0;
  std::size_t n = 0, n_ape = 0;
  for (const auto& e : cloud) {
    if (!std::isfinite(e.isolated_w)) continue;
    auto it = std::ranges::lower_bound(truth, e.share_pct, {}, &Truth::share);
    const Truth* best = nullptr;
    if (it != truth.end()) best = &*it;
    if (it != truth.begin()) {
      const Truth* prev = &*(it - 1);
      if (best == nullptr || e.share_pct - prev->share <= best->share - e.share_pct) best = prev;
    }
    if (best == nullptr || std::abs(best->share - e.share_pct) > kMatchTolerancePct) continue;
    const double err = e.isolated_w - best->watt;
    ss_res += err * err;
    abs_sum += std::abs(err);
    if (best->watt != 0) {
      ape_sum += std::abs(err / best->watt);
      ++n_ape;
    }
    sum_t += best->watt;
    sum_t2 += best->watt * best->watt;
    ++n;
  }
  j["n"] = n;
  if (n == 0) {
    for (const char* k : {"r2", "rmse_w", "mae_w", "mape_pct"}) {
      j[k] = nullptr;
      reasons[k] = "no cloud-like row has a ground-truth row within 0.001 points of its VM share";
    }
  } else {
    const double nd = static_cast<double>(n);
    const double ss_tot = sum_t2 - sum_t * sum_t / nd;
    if (n >= 2 && ss_tot > 1e-12 * std::max(1.0, sum_t2)) {
      j["r2"] = json_number(1.0 - ss_res / ss_tot);
    } else {
      j["r2"] = nullptr;
      reasons["r2"] = "the matched ground-truth power does not vary";
    }
    j["rmse_w"] = json_number(std::sqrt(ss_res / nd));
    j["mae_w"] = json_number(abs_sum / nd);
    if (n_ape > 0) {
      j["mape_pct"] = json_number(100.0 * ape_sum / static_cast<double>(n_ape));
    } else {
      j["mape_pct"] = nullptr;
      reasons["mape_pct"] = "every matched ground-truth power is 0 W";
    }
  }

  // Binned: mean prediction vs mean ground truth per VM-share bin.
  const double lo = truth.front().share, hi = truth.back().share;
  auto bins = nlohmann::json::array();
  double bss = 0, bape = 0;
  std::size_t nb = 0;
  if (hi > lo) {
    const double width = (hi - lo) / kBins;
    std::vector<double> ps(kBins, 0), ts(kBins, 0);
    std::vector<std::size_t> pn(kBins, 0), tn(kBins, 0);
    auto bin_of = [&](double s) {
      return std::clamp(static_cast<int>((s - lo) / width), 0, kBins - 1);
    };
    for (const auto& t : truth) {
      const int b = bin_of(t.share);
      ts[static_cast<std::size_t>(b)] += t.watt;
      ++tn[static_cast<std::size_t>(b)];
    }
    for (const auto& e : cloud) {
      if (!std::isfinite(e.isolated_w) || e.share_pct < lo || e.share_pct > hi) continue;
      const int b = bin_of(e.share_pct);
      ps[static_cast<std::size_t>(b)] += e.isolated_w;
      ++pn[static_cast<std::size_t>(b)];
    }
    for (std::size_t b = 0; b < kBins; ++b) {
      if (pn[b] == 0 || tn[b] == 0) continue;
      const double p = ps[b] / static_cast<double>(pn[b]);
      const double t = ts[b] / static_cast<double>(tn[b]);
      bins.push_back({{"share_lo_pct", lo + width * static_cast<double>(b)},
                      {"share_hi_pct", lo + width * static_cast<double>(b + 1)},
                      {"n_predicted", pn[b]},
                      {"n_groundtruth", tn[b]},
                      {"predicted_w", json_number(p)},
                      {"groundtruth_w", json_number(t)},
                      {"error_w", json_number(p - t)}});
      bss += (p - t) * (p - t);
      if (t != 0) bape += std::abs((p - t) / t);
      ++nb;
    }
  }
  j["binned"] = std::move(bins);
  if (nb > 0) {
    j["binned_rmse_w"] = json_number(std::sqrt(bss / static_cast<double>(nb)));
    j["binned_mape_pct"] = json_number(100.0 * bape / static_cast<double>(nb));
  } else {
    j["binned_rmse_w"] = nullptr;
    j["binned_mape_pct"] = nullptr;
    reasons["binned_rmse_w"] = reasons["binned_mape_pct"] =
        "no VM-share bin holds both cloud-like and ground-truth rows";
  }
  j["null_reasons"] = std::move(reasons);
  return j;
}

}  // namespace cinergy::model
