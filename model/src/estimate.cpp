#include "cinergy/model/estimate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>

#include "cinergy/model/paper.hpp"

namespace cinergy::model {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// The notebook rejects a nearest ground-truth share more than this above.
constexpr double kMatchTolerancePct = 0.001;
constexpr int kBins = 10;
// A VM share further than this outside the curves' fitted load range counts
// as an extrapolated estimate (points of host load).
constexpr double kExtrapolationSlackPct = 5.0;
// By position: the ground-truth window at the same point of the replayed
// profile must have the VM at nearly the same share (points of the host).
constexpr double kPositionSharePts = 2.5;
constexpr const char* kMatching =
    "nearest ground-truth VM share, rejected only when it lies more than 0.001 points above "
    "(the notebook's find_nearest)";

using paper::Num;

double finite_or_nan(double v) { return std::isfinite(v) ? v : kNaN; }

// The notebook's match: the ground-truth row whose share is nearest to a
// value (numpy's argmin of |gt - value|: the first of equal distances in
// ground-truth order), rejected only when it lies more than 0.001 points
// above the value. Distances are taken in the ground truth's dtype (numpy
// casts the scalar to the array's dtype), the final difference in the
// promoted one and compared in float64 (a numpy scalar against a Python
// float). Shares are grouped in runs of equal value, sorted, each run with
// its first row: a query looks at the runs on either side of the value,
// and further only while a rounded distance ties.
class Matcher {
 public:
  explicit Matcher(const std::vector<Num>& shares) : shares_(shares) {
    std::vector<std::size_t> order(shares.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::ranges::stable_sort(order, {}, [&](std::size_t i) { return shares[i].v; });
    for (std::size_t i : order) {
      if (runs_.empty() || runs_.back().share != shares[i].v)
        runs_.push_back({shares[i].v, i});
      else
        runs_.back().first = std::min(runs_.back().first, i);
    }
    f32_ = !shares.empty() && shares.front().f32;
  }

  [[nodiscard]] std::optional<std::size_t> match(Num value) const {
    if (runs_.empty()) return std::nullopt;
    const Num v = paper::as(value.v, f32_);
    auto dist = [&](const Run& r) {
      const Num d = Num{r.share, f32_} - v;
      return std::abs(d.v);
    };
    const auto pos = static_cast<std::size_t>(
        std::ranges::lower_bound(runs_, v.v, {}, &Run::share) - runs_.begin());
    std::optional<std::size_t> best;
    double best_d = 0;
    auto consider = [&](const Run& r, double d) {
      if (!best || d < best_d || (d == best_d && r.first < *best)) {
        best = r.first;
        best_d = d;
      }
    };
    if (pos > 0) {
      const double d0 = dist(runs_[pos - 1]);
      for (std::size_t k = pos; k-- > 0 && dist(runs_[k]) == d0;) consider(runs_[k], d0);
    }
    if (pos < runs_.size()) {
      const double d0 = dist(runs_[pos]);
      for (std::size_t k = pos; k < runs_.size() && dist(runs_[k]) == d0; ++k)
        consider(runs_[k], d0);
    }
    if ((shares_[*best] - value).v > kMatchTolerancePct) return std::nullopt;
    return best;
  }

 private:
  struct Run {
    double share;
    std::size_t first;  // the earliest ground-truth row with this share
  };
  const std::vector<Num>& shares_;
  std::vector<Run> runs_;
  bool f32_ = false;
};

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

// The notebook's estimate, in pandas' dtypes: share = vm / host_threads,
// isolated = predict(share) on the step-50 curve, bottom-up = share /
// cpu%_package-global * package-global-watt, ratio = bottom-up / isolated.
Result<std::vector<EstimateRow>> estimate_paper(const HostModel& model, const StepCurve& c,
                                                const Table& t,
                                                const std::vector<std::size_t>& rows) {
  const auto& poly = c.fit.poly;
  const bool fit_f32 = poly.form == Polynomial::Form::sklearn_f32;
  const auto* vm = t.column("vm");
  const auto* host_w = t.column("package-global-watt");
  const auto* host_u = t.column("cpu%_package-global");
  auto dtype = [](const std::vector<double>* col) {
    return col == nullptr || paper::downcasts_to_float32(*col);
  };
  const bool vm_f32 = dtype(vm), w_f32 = dtype(host_w), u_f32 = dtype(host_u);
  std::vector<const std::vector<double>*> vcpus;
  for (const auto& name : t.vcpu_columns()) vcpus.push_back(t.column(name));
  std::vector<double> loads(vcpus.size());
  std::vector<EstimateRow> out;
  out.reserve(rows.size());
  for (std::size_t r : rows) {
    EstimateRow e;
    e.timestamp_s = t.timestamp_s[r];
    const Num vmv = paper::as((*vm)[r], vm_f32);
    // A Python int divisor takes the array's dtype.
    const Num share = vmv / paper::as(model.host_threads, vm_f32);
    const Num iso = paper::predict(poly.coef, poly.intercept, fit_f32, share);
    const Num idle = paper::predict(poly.coef, poly.intercept, fit_f32, paper::as(0.0, share.f32));
    e.vm_pct = vmv.v;
    e.share_pct = share.v;
    e.share_f32 = share.f32;
    e.isolated_w = finite_or_nan(iso.v);
    e.isolated_f32 = iso.f32;
    e.dynamic_w = finite_or_nan((iso - idle).v);
    for (std::size_t k = 0; k < vcpus.size(); ++k) loads[k] = (*vcpus[k])[r];
    e.intensity_pct = vcpu_intensity_pct(loads);
    e.host_w = at(host_w, r);
    e.host_util_pct = at(host_u, r);
    if (host_w != nullptr && host_u != nullptr) {
      const Num bu = share / paper::as(e.host_util_pct, u_f32) * paper::as(e.host_w, w_f32);
      e.bottomup_w = finite_or_nan(bu.v);
      e.ratio = finite_or_nan((bu / iso).v);
    } else {
      e.bottomup_w = e.ratio = kNaN;
    }
    out.push_back(e);
  }
  return out;
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
    if (rows.empty()) return fail(fmt::format("{}: no usable rows after dropping NaN", src));
    if (const StepCurve* c = model.curve(50); c != nullptr && c->fit.poly.sklearn())
      return estimate_paper(model, *c, t, rows);
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
    const IsolatedPower iso = model.isolated(e.share_pct, e.intensity_pct);
    e.isolated_w = iso.isolated_w;
    e.dynamic_w = iso.dynamic_w;
    e.host_w = at(host_w, r);
    e.host_util_pct = at(host_u, r);
    e.bottomup_w = e.host_util_pct > 0 ? e.share_pct / e.host_util_pct * e.host_w : kNaN;
    e.ratio = e.isolated_w > 0 ? e.bottomup_w / e.isolated_w : kNaN;
    e.isolated_low_w = iso.interval.low_w;
    e.isolated_high_w = iso.interval.high_w;
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
      "host_util_pct,isolated_low_w,isolated_high_w\n";
  out.reserve(rows.size() * 96 + out.size());
  for (const auto& e : rows) {
    for (double v : {e.timestamp_s, e.vm_pct, e.isolated_w, e.dynamic_w, e.host_w, e.ratio,
                     e.share_pct, e.intensity_pct, e.bottomup_w}) {
      put(out, v);
      out += ',';
    }
    for (double v : {e.host_util_pct, e.isolated_low_w}) {
      put(out, v);
      out += ',';
    }
    put(out, e.isolated_high_w);
    out += '\n';
  }
  const bool good = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  const bool closed = std::fclose(f) == 0;
  if (!good || !closed) return fail_errno(EIO, fmt::format("{}: write failed", file.string()));
  return ok();
}

Result<nlohmann::json> evaluate(const HostModel& model, const std::vector<EstimateRow>& cloud,
                                const Table& gt, const EvaluateOptions& options) {
  const std::string src = gt.source.string();
  const auto* vm = gt.column("vm");
  const auto* watt = gt.column("package-global-watt");
  if (vm == nullptr || watt == nullptr)
    return fail(fmt::format("{}: needs 'vm' and 'package-global-watt' rows", src));
  const bool paper_method = model.method == Method::paper;
  const auto rows =
      paper_method ? gt.complete_rows({}) : gt.complete_rows({"vm", "package-global-watt"});
  if (rows.empty()) return fail(fmt::format("{}: no usable rows after dropping NaN", src));

  // The ground truth in its row order (the matching's tie order), each value
  // in pandas' dtype for the paper (float64 for Cinergy).
  const bool vm_f32 = paper_method && paper::downcasts_to_float32(*vm);
  const bool w_f32 = paper_method && paper::downcasts_to_float32(*watt);
  std::vector<Num> gt_share, gt_watt;
  gt_share.reserve(rows.size());
  gt_watt.reserve(rows.size());
  for (std::size_t r : rows) {
    gt_share.push_back(paper::as((*vm)[r], vm_f32) / paper::as(model.host_threads, vm_f32));
    gt_watt.push_back(paper::as((*watt)[r], w_f32));
  }

  nlohmann::json j;
  nlohmann::json reasons = nlohmann::json::object();
  j["method"] = method_name(model.method);
  j["simulated_power"] = model.simulated_power;
  j["host_threads"] = model.host_threads;
  j["vm_vcpus"] = model.vm_vcpus;
  j["n_cloudlike"] = cloud.size();
  j["n_groundtruth"] = gt_share.size();
  j["matching"] = kMatching;
  if (paper_method) {
    const StepCurve* c50 = model.curve(50);
    j["arithmetic"] = c50 != nullptr && c50->fit.poly.form == Polynomial::Form::sklearn_f32
                          ? "float32"
                          : "float64";
  }

  // The notebook's matching, then its metrics over the matched rows.
  const Matcher matcher(gt_share);
  std::vector<Num> truth, pred;
  std::size_t with_interval = 0, covered = 0;
  double halfwidth_sum = 0;
  for (const auto& e : cloud) {
    if (!std::isfinite(e.isolated_w)) continue;
    const auto idx = matcher.match(Num{e.share_pct, paper_method && e.share_f32});
    if (!idx) continue;
    truth.push_back(gt_watt[*idx]);
    pred.push_back(Num{e.isolated_w, paper_method && e.isolated_f32});
    if (std::isfinite(e.isolated_low_w) && std::isfinite(e.isolated_high_w)) {
      ++with_interval;
      const double t = gt_watt[*idx].v;
      if (t >= e.isolated_low_w && t <= e.isolated_high_w) ++covered;
      halfwidth_sum += 0.5 * (e.isolated_high_w - e.isolated_low_w);
    }
  }
  if (!paper_method) {
    const double k = static_cast<double>(with_interval);
    j["interval"] = {
        {"nominal_pct", 90},
        {"n", with_interval},
        {"coverage_pct", with_interval > 0 ? json_number(100.0 * covered / k) : nullptr},
        {"mean_halfwidth_w", with_interval > 0 ? json_number(halfwidth_sum / k) : nullptr},
        {"against",
         "the matched ground-truth window's measured power (its noise included; the interval "
         "is for the noise-free isolated power)"}};
  }
  // Estimates read the curves outside the load range they were fitted on
  // (a host kept busy by other work fits its curves near 100 % only): how
  // many, so that such figures never pass for measured ones.
  double fit_lo = 100, fit_hi = 0;
  for (const auto& c : model.curves) {
    fit_lo = std::min(fit_lo, c.fit.x_lo);
    fit_hi = std::max(fit_hi, c.fit.x_hi);
  }
  std::size_t outside = 0, finite = 0;
  for (const auto& e : cloud) {
    if (!std::isfinite(e.isolated_w)) continue;
    ++finite;
    if (e.share_pct < fit_lo - kExtrapolationSlackPct ||
        e.share_pct > fit_hi + kExtrapolationSlackPct)
      ++outside;
  }
  if (!model.curves.empty())
    j["extrapolated"] = {{"fit_range_pct", {json_number(fit_lo), json_number(fit_hi)}},
                         {"slack_pct", kExtrapolationSlackPct},
                         {"n", outside},
                         {"of", finite}};
  const std::size_t n = truth.size();
  j["n"] = n;
  if (n == 0) {
    for (const char* k : {"r2", "rmse_w", "mae_w", "mape_pct"}) {
      j[k] = nullptr;
      reasons[k] =
          "no cloud-like row has a ground-truth row at or below its VM share, or within 0.001 "
          "points above it";
    }
  } else {
    const auto met = paper::metrics(truth, pred);
    if (std::isfinite(met.r2)) {
      j["r2"] = met.r2;
    } else {
      j["r2"] = nullptr;
      reasons["r2"] =
          n < 2 ? "fewer than two matched windows" : "the matched ground-truth power does not vary";
    }
    j["rmse_w"] = json_number(met.rmse);
    j["mae_w"] = json_number(met.mae);
    if (std::isfinite(met.mape)) {
      j["mape_pct"] = 100.0 * met.mape;
    } else {
      j["mape_pct"] = nullptr;
      reasons["mape_pct"] = "a matched ground-truth power is 0 W";
    }
  }

  // By position in the VM's replayed load profile (the test VM replays it
  // from each scenario's start): the ground-truth window with the same
  // timestamp, kept when the two VM shares agree within kPositionSharePts.
  // The notebook's matching needs a ground-truth share at or below C's;
  // when C's VM gets what it got alone (idle noise), its share is as often
  // just below B's as above, and half the windows find no match.
  if (options.by_position) {
    std::map<long long, std::size_t> gt_at;  // rounded timestamp -> ground-truth index
    for (std::size_t i = 0; i < rows.size(); ++i)
      gt_at.emplace(std::llround(gt.timestamp_s[rows[i]]), i);
    std::vector<Num> pos_truth, pos_pred;  // float64, whatever the method
    std::size_t far = 0, in_interval = 0, with_iv = 0;
    for (const auto& e : cloud) {
      if (!std::isfinite(e.isolated_w)) continue;
      const auto it = gt_at.find(std::llround(e.timestamp_s));
      if (it == gt_at.end()) continue;
      if (std::abs(gt_share[it->second].v - e.share_pct) > kPositionSharePts) {
        ++far;
        continue;
      }
      const double t = gt_watt[it->second].v;
      pos_truth.push_back(Num{t, false});
      pos_pred.push_back(Num{e.isolated_w, false});
      if (std::isfinite(e.isolated_low_w) && std::isfinite(e.isolated_high_w)) {
        ++with_iv;
        in_interval += t >= e.isolated_low_w && t <= e.isolated_high_w ? 1 : 0;
      }
    }
    const std::size_t k = pos_truth.size();
    const auto met = paper::metrics(pos_truth, pos_pred);  // NaN where undefined
    j["by_position"] = {
        {"matching",
         fmt::format("the ground-truth window at the same position of the replayed VM load "
                     "profile (same timestamp), kept when the two VM shares differ by at most "
                     "{} points",
                     kPositionSharePts)},
        {"n", k},
        {"rejected_share", far},
        {"rmse_w", json_number(met.rmse)},
        {"mae_w", json_number(met.mae)},
        {"mape_pct", json_number(100.0 * met.mape)},
        {"coverage_pct", with_iv > 0 ? json_number(100.0 * static_cast<double>(in_interval) /
                                                   static_cast<double>(with_iv))
                                     : nullptr}};
  } else {
    j["by_position"] = nullptr;
    reasons["by_position"] =
        "the VM's load profile is not known to be replayed identically in B and C (only the "
        "test VM's is): windows have no common position";
  }

  struct Truth {
    double share, watt;
  };
  std::vector<Truth> truth_sorted;
  truth_sorted.reserve(gt_share.size());
  for (std::size_t i = 0; i < gt_share.size(); ++i)
    truth_sorted.push_back({gt_share[i].v, gt_watt[i].v});
  std::ranges::sort(truth_sorted, {}, &Truth::share);
  const auto& truth_bins = truth_sorted;

  // Binned: mean prediction vs mean ground truth per VM-share bin.
  const double lo = truth_bins.front().share, hi = truth_bins.back().share;
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
    for (const auto& t : truth_bins) {
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

std::string extrapolation_note(const nlohmann::json& evaluation) {
  const auto x = evaluation.find("extrapolated");
  if (x == evaluation.end() || x->value("n", 0) == 0) return "";
  const auto& range = (*x)["fit_range_pct"];
  if (!range[0].is_number() || !range[1].is_number()) return "";
  return fmt::format(
      "{} of {} estimates EXTRAPOLATED (VM share outside the fitted load range {:.1f} to {:.1f} "
      "%)",
      x->value("n", 0), x->value("of", 0), range[0].get<double>(), range[1].get<double>());
}

}  // namespace cinergy::model
