#include "cinergy/model/host_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <unordered_set>
#include <utility>

#include "cinergy/model/paper.hpp"

namespace cinergy::model {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr const char* kUtil = "cpu%_package-global";
constexpr const char* kPower = "package-global-watt";

// The paper fits on host load <= vm_vcpus * 100 / host_threads * 3.
constexpr double kPaperRegionFactor = 3.0;
constexpr double kInf = std::numeric_limits<double>::infinity();
// Format 2 added the paper's scikit-learn curves (all steps, float32);
// format 1 files (a single scaled step-50 paper curve) are still read.
constexpr const char* kFormat = "cinergy-model-2";
constexpr const char* kFormatV1 = "cinergy-model-1";
// Cinergy fits on the VM's own region with a margin of 2 (see docs/model.md).
constexpr double kCinergyRegionFactor = 2.0;

std::optional<int> vcpus_from(const std::optional<Table>& t) {
  if (!t) return std::nullopt;
  const auto n = t->vcpu_columns().size();
  if (n == 0) return std::nullopt;
  return static_cast<int>(n);
}

std::vector<double> vec_from(const nlohmann::json& j) {
  std::vector<double> v;
  for (const auto& e : j) v.push_back(e.is_number() ? e.get<double>() : kNaN);
  return v;
}

nlohmann::json json_vec(const std::vector<double>& v) {
  auto a = nlohmann::json::array();
  for (double d : v) a.push_back(json_number(d));
  return a;
}

// Distinct x at the format's 0.01 precision (reported, not used by the paper).
std::size_t distinct_levels(const std::vector<double>& x) {
  std::unordered_set<long long> seen;
  for (double v : x) seen.insert(std::llround(v * 100.0));
  return seen.size();
}

// Every training step present, each as the notebook fits it; the estimate
// uses step 50 (a failure there is an error, elsewhere a note).
Result<void> fit_paper_curves(const DataSet& data, HostModel& m) {
  const double exclude =
      m.vm_vcpus > 0 ? m.vm_vcpus * 100.0 / m.host_threads * kPaperRegionFactor : kInf;
  m.fit_hi_pct = m.vm_vcpus > 0 ? exclude : 100.0;
  if (m.vm_vcpus == 0) m.notes.push_back("VM vCPUs unknown: fitted on the whole load range");
  for (const auto& [step, table] : data.training) {
    auto c = fit_paper_step(table, step, exclude);
    if (!c) {
      if (step == 50) return std::unexpected(c.error());
      m.notes.push_back(fmt::format("step {} not fitted: {}", step, c.error().message));
      continue;
    }
    m.curves.push_back(std::move(*c));
  }
  return ok();
}

// The host's own load at scenario A's idle level: every window with target
// 0 of every staircase, the median of their host load (a median: a window
// that caught a cron job does not move it). None: 0 and a note saying why.
struct IdleLoad {
  double pct = 0;
  std::string note;
};
IdleLoad idle_level_load(const std::map<int, Table>& training) {
  std::vector<double> loads;
  for (const auto& [step, table] : training) {
    const auto* target = table.column("target");
    const auto* util = table.column(kUtil);
    if (target == nullptr || util == nullptr) continue;
    for (std::size_t r = 0; r < table.rows(); ++r)
      if ((*target)[r] == 0.0 && std::isfinite((*util)[r]) && (*util)[r] >= 0)
        loads.push_back((*util)[r]);
  }
  if (loads.empty())
    return {0.0,
            "background load 0: scenario A has no idle level (target 0) to measure the host's "
            "own load; the VM alone is estimated at its share"};
  const auto mid = loads.begin() + static_cast<std::ptrdiff_t>(loads.size() / 2);
  std::ranges::nth_element(loads, mid);
  double med = *mid;
  if (loads.size() % 2 == 0) med = 0.5 * (med + *std::max_element(loads.begin(), mid));
  return {med, fmt::format("background load {:.3f} % of the host (median of the {} windows of "
                           "scenario A's idle level): the VM alone is estimated at its share "
                           "plus it",
                           med, loads.size())};
}

// Linear between knots (x ascending); beyond either end, the edge segment's
// slope, at least 0.
double interpolate_knots(const std::vector<double>& kx, const std::vector<double>& kw, double x) {
  const std::size_t n = kx.size();
  std::size_t i = 1;
  if (x >= kx[n - 1]) {
    i = n - 1;
  } else {
    while (i < n - 1 && kx[i] < x) ++i;
  }
  const double dx = kx[i] - kx[i - 1];
  double slope = dx > 0 ? (kw[i] - kw[i - 1]) / dx : 0.0;
  if (x < kx[0] || x > kx[n - 1]) slope = std::max(0.0, slope);
  const double base_x = x < kx[0] ? kx[0] : kx[i - 1];
  const double base_w = x < kx[0] ? kw[0] : kw[i - 1];
  return base_w + slope * (x - base_x);
}

// One step's level means: the points of every level whose fold (joint_fold)
// is not `skip_fold` (-1: all), each level's mean load and mean power,
// ascending in load, the power made non-decreasing by pooling adjacent
// violators (weighted by windows). Levels with equal mean load merge.
// `within_ss`: the windows' squared deviations from their level's mean power.
struct Knots {
  std::vector<double> x, w, n;
  double within_ss = 0;
  std::size_t levels = 0;
};
Knots level_knots(std::span<const double> x, std::span<const double> y, std::span<const int> group,
                  int step_index, int folds, int skip_fold) {
  std::map<int, std::array<double, 4>> by;  // level -> sum x, sum y, sum y^2, count
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (joint_fold(group[i], step_index, folds) == skip_fold) continue;
    auto& a = by[group[i]];
    a[0] += x[i];
    a[1] += y[i];
    a[2] += y[i] * y[i];
    a[3] += 1;
  }
  Knots k;
  k.levels = by.size();
  std::vector<std::array<double, 3>> lv;  // mean x, mean y, count
  for (const auto& [g, a] : by) {
    lv.push_back({a[0] / a[3], a[1] / a[3], a[3]});
    k.within_ss += a[2] - a[1] * a[1] / a[3];
  }
  std::ranges::sort(lv, {}, [](const auto& a) { return a[0]; });
  for (const auto& a : lv) {
    if (!k.x.empty() && a[0] == k.x.back()) {
      const double n = k.n.back() + a[2];
      k.w.back() = (k.w.back() * k.n.back() + a[1] * a[2]) / n;
      k.n.back() = n;
      continue;
    }
    k.x.push_back(a[0]);
    k.w.push_back(a[1]);
    k.n.push_back(a[2]);
  }
  // Pool adjacent violators: blocks of equal power, each the weighted mean.
  std::vector<double> bw, bn;
  std::vector<std::size_t> bc;
  for (std::size_t i = 0; i < k.w.size(); ++i) {
    bw.push_back(k.w[i]);
    bn.push_back(k.n[i]);
    bc.push_back(1);
    while (bw.size() >= 2 && bw[bw.size() - 2] > bw.back()) {
      const std::size_t t = bw.size() - 1;
      const double n = bn[t - 1] + bn[t];
      bw[t - 1] = (bw[t - 1] * bn[t - 1] + bw[t] * bn[t]) / n;
      bn[t - 1] = n;
      bc[t - 1] += bc[t];
      bw.pop_back();
      bn.pop_back();
      bc.pop_back();
    }
  }
  std::size_t at = 0;
  for (std::size_t b = 0; b < bw.size(); ++b)
    for (std::size_t c = 0; c < bc[b]; ++c) k.w[at++] = bw[b];
  return k;
}

// The level means against the joint fit: the same folds (joint_fold, whole
// levels held out), each held-out window
// predicted by the knots of the other folds' levels. When their held-out MSE
// is lower, every step's curve becomes its knots (`m.levels` set, a note);
// otherwise a note with both errors. Needs every step's own levels, 5 or
// more of them (fewer: folds would hold out most of the curve).
void choose_level_curves(std::span<const StepPoints> steps, int folds, HostModel& m) {
  if (!m.joint || steps.size() != m.curves.size()) return;
  for (const auto& st : steps) {
    std::unordered_set<int> g(st.group.begin(), st.group.end());
    if (st.group.size() != st.x.size() || g.size() < static_cast<std::size_t>(folds)) {
      m.notes.push_back(fmt::format(
          "curves: the level means not tried (step {} has {} load level(s) of its own in the "
          "fit region, fewer than the {} folds)",
          st.step_pct, g.size(), folds));
      return;
    }
  }
  double held = 0, within = 0, n_all = 0, levels = 0;
  std::vector<Knots> all;  // every level of each step: the curves if chosen
  for (std::size_t s = 0; s < steps.size(); ++s) {
    const auto& st = steps[s];
    const int si = static_cast<int>(s);
    for (int f = 0; f < folds; ++f) {
      const Knots k = level_knots(st.x, st.y, st.group, si, folds, f);
      if (k.x.size() < 2) return;
      for (std::size_t i = 0; i < st.x.size(); ++i) {
        if (joint_fold(st.group[i], si, folds) != f) continue;
        const double e = st.y[i] - interpolate_knots(k.x, k.w, st.x[i]);
        held += e * e;
      }
    }
    all.push_back(level_knots(st.x, st.y, st.group, si, folds, -1));
    within += all.back().within_ss;
    n_all += static_cast<double>(st.x.size());
    levels += static_cast<double>(all.back().levels);
  }
  const double cv = held / n_all;
  if (!(cv < m.joint->cv_mse_w2)) {
    m.notes.push_back(fmt::format(
        "curves: the joint polynomial (CV RMSE {:.3f} W) against the level means interpolated "
        "({:.3f} W)",
        std::sqrt(m.joint->cv_mse_w2), std::sqrt(cv)));
    return;
  }
  LevelCurves lc;
  lc.cv_mse_w2 = cv;
  lc.sigma2_w2 = within / std::max(1.0, n_all - levels);
  lc.level_n = n_all / levels;
  for (std::size_t s = 0; s < steps.size(); ++s) {
    auto& c = m.curves[s];
    c.knot_x_pct = std::move(all[s].x);
    c.knot_w = std::move(all[s].w);
    c.fit.non_decreasing = true;
  }
  m.levels = lc;
  m.notes.push_back(fmt::format(
      "curves: linear between the load levels' means (CV RMSE {:.3f} W, the joint polynomial's "
      "{:.3f} W)",
      std::sqrt(cv), std::sqrt(m.joint->cv_mse_w2)));
}

}  // namespace

Result<StepCurve> fit_paper_step(const Table& table, int step_pct, double exclude_beyond) {
  const std::string src = table.source.string();
  const auto* xs = table.column(kUtil);
  const auto* ys = table.column(kPower);
  if (xs == nullptr || ys == nullptr)
    return fail(fmt::format("{}: no {} or {} rows", src, kUtil, kPower));
  // pandas' dtype of each whole column, then dropna() over every column and
  // the comparison with exclude_beyond in x's dtype (numpy casts the Python
  // float to a float32 array's dtype).
  const bool x_f32 = paper::downcasts_to_float32(*xs);
  const bool y_f32 = paper::downcasts_to_float32(*ys);
  const auto rows = table.complete_rows({});
  const paper::Num limit = paper::as(exclude_beyond, x_f32);
  std::vector<double> x, y;
  for (std::size_t r : rows) {
    const paper::Num xv = paper::as((*xs)[r], x_f32);
    if (!(xv.v <= limit.v)) continue;
    x.push_back(xv.v);
    y.push_back(paper::as((*ys)[r], y_f32).v);
  }
  if (x.empty())
    return fail(rows.empty()
                    ? fmt::format("{}: no usable rows after dropping NaN", src)
                    : fmt::format("{}: no rows with host load <= {:.3f} % (the fit region)", src,
                                  exclude_beyond));
  auto pf = paper::fit(x, y, x_f32, y_f32, src);
  if (!pf) return std::unexpected(pf.error());
  StepCurve c;
  c.step_pct = step_pct;
  c.source = table.source.filename().string();
  PolyFit& f = c.fit;
  f.poly.coef = pf->coef;
  f.poly.intercept = pf->intercept;
  f.poly.form = pf->f32 ? Polynomial::Form::sklearn_f32 : Polynomial::Form::sklearn_f64;
  f.degree = pf->degree;
  f.unconstrained_degree = pf->degree;
  f.rank = pf->rank;
  f.x_lo = pf->x_lo;
  f.x_hi = pf->x_hi;
  f.n = pf->n;
  f.levels = distinct_levels(x);
  f.train_rmse_by_degree = pf->rmse_by_degree;
  f.rmse = pf->rmse_by_degree[static_cast<std::size_t>(pf->degree - 1)];
  // In-sample R2 and MAE the way scikit-learn would give them (reported only).
  std::vector<paper::Num> truth, pred;
  for (std::size_t i = 0; i < x.size(); ++i) {
    truth.push_back(paper::as(y[i], y_f32));
    pred.push_back(paper::predict(pf->coef, pf->intercept, pf->f32, paper::as(x[i], x_f32)));
  }
  const auto met = paper::metrics(truth, pred);
  f.r2 = met.r2;
  f.mae = met.mae;
  f.non_decreasing = f.poly.non_decreasing(f.x_lo, f.x_hi);
  return c;
}

nlohmann::json json_number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

Result<Method> parse_method(std::string_view name) {
  if (name == "cinergy") return Method::cinergy;
  if (name == "paper") return Method::paper;
  return fail(fmt::format("--method: unknown method '{}' (expected cinergy or paper)", name));
}

std::string_view method_name(Method method) {
  return method == Method::paper ? "paper" : "cinergy";
}

namespace {
constexpr std::array<std::pair<Placement, std::string_view>, 3> kPlacementNames{
    {{Placement::pinned, "pinned"},
     {Placement::one_socket, "one socket"},
     {Placement::unpinned, "unpinned"}}};
}  // namespace

std::string_view placement_name(Placement placement) {
  for (const auto& [p, name] : kPlacementNames)
    if (p == placement) return name;
  return "pinned";
}

std::optional<Placement> parse_placement(std::string_view name) {
  for (const auto& [p, n] : kPlacementNames)
    if (n == name) return p;
  return std::nullopt;
}

double StepCurve::power_w(double x, bool guard) const {
  if (knot_x_pct.size() >= 2 && knot_x_pct.size() == knot_w.size())
    return interpolate_knots(knot_x_pct, knot_w, x);
  const auto& p = fit.poly;
  if (guard && x > fit.x_hi) {
    const double slope = std::max(0.0, p.derivative(fit.x_hi));
    return p(fit.x_hi) + slope * (x - fit.x_hi);
  }
  if (guard && x < fit.x_lo && fit.x_lo > 0) {
    const double slope = std::max(0.0, p.derivative(fit.x_lo));
    return p(fit.x_lo) + slope * (x - fit.x_lo);
  }
  return p(x);
}

const StepCurve* HostModel::curve(int step_pct) const {
  for (const auto& c : curves)
    if (c.step_pct == step_pct) return &c;
  return nullptr;
}

double HostModel::power_w(double x, double intensity_pct) const {
  if (curves.empty()) return kNaN;
  // A paper model always has its step-50 curve (fit_model, model_from_json).
  if (method == Method::paper) {
    const StepCurve* c = curve(50);
    return c != nullptr ? c->power_w(x, false) : kNaN;
  }
  if (!std::isfinite(intensity_pct)) intensity_pct = 50.0;
  if (intensity_pct <= curves.front().step_pct) return curves.front().power_w(x, true);
  if (intensity_pct >= curves.back().step_pct) return curves.back().power_w(x, true);
  // Curves ascend by step and front < intensity < back: a pair brackets it.
  std::size_t i = 1;
  while (curves[i].step_pct < intensity_pct) ++i;
  const auto& a = curves[i - 1];
  const auto& b = curves[i];
  const double w = (intensity_pct - a.step_pct) / (b.step_pct - a.step_pct);
  return (1.0 - w) * a.power_w(x, true) + w * b.power_w(x, true);
}

Interval HostModel::isolated_interval(double x, double intensity_pct) const {
  constexpr double kZ90 = 1.6448536269514722;  // the normal's 95th percentile
  if (method == Method::paper || curves.empty()) return {kNaN, kNaN};
  if (!std::isfinite(intensity_pct)) intensity_pct = 50.0;
  const double est = power_w(x, intensity_pct);
  // The bracketing steps and the weight of the upper one (as power_w).
  std::size_t ia = 0, ib = 0;
  double w = 0;
  if (intensity_pct >= curves.back().step_pct) {
    ia = ib = curves.size() - 1;
  } else if (intensity_pct > curves.front().step_pct) {
    ib = 1;
    while (curves[ib].step_pct < intensity_pct) ++ib;
    ia = ib - 1;
    w = (intensity_pct - curves[ia].step_pct) / (curves[ib].step_pct - curves[ia].step_pct);
  }
  double var = 0;
  if (levels) {
    // The knots' own variance and the misfit between levels.
    var += levels->sigma2_w2 / std::max(1.0, levels->level_n) +
           std::max(0.0, levels->cv_mse_w2 - levels->sigma2_w2);
  } else if (joint) {
    const double xc = std::clamp(x, joint->x_lo, joint->x_hi);
    auto g = joint->gradient(xc, curves[ia].step_pct);
    const auto gb = joint->gradient(xc, curves[ib].step_pct);
    for (std::size_t k = 0; k < g.size(); ++k) g[k] = (1 - w) * g[k] + w * gb[k];
    var += joint->variance(g) + joint->level_var_w2;
  } else {
    for (const std::size_t i : {ia, ib}) {
      const auto& f = curves[i].fit;
      const double cv = f.cv_rmse.value_or(f.rmse);
      const double fit_var = cv * cv * (f.degree + 1) / std::max<double>(1.0, f.n);
      var += 0.5 * (fit_var + std::max(0.0, cv * cv - f.rmse * f.rmse));
    }
  }
  double lo = est, hi = est;
  for (const auto& c : curves) {
    const double p = c.power_w(x, true);
    lo = std::min(lo, p);
    hi = std::max(hi, p);
  }
  var += 0.25 * (hi - lo) * (hi - lo);
  if (joint && std::isfinite(joint->transfer_rel)) {
    const double dyn = std::max(0.0, est - power_w(background_pct, intensity_pct));
    const double t = transfer_scale() * joint->transfer_rel * dyn;
    var += t * t;
  }
  const double half = kZ90 * std::sqrt(var);
  return {est - half, est + half};
}

double HostModel::transfer_scale() const {
  return training_placement == Placement::pinned ? kPinnedTransferScale : 1.0;
}

IsolatedPower HostModel::isolated(double vm_share_pct, double intensity_pct) const {
  // The notebook evaluates at the share, whatever a file says.
  const double bg = method == Method::paper ? 0.0 : background_pct;
  const double x = vm_share_pct + bg;
  IsolatedPower p;
  p.isolated_w = power_w(x, intensity_pct);
  p.dynamic_w = p.isolated_w - power_w(bg, intensity_pct);
  p.interval = isolated_interval(x, intensity_pct);
  return p;
}

// The staircases the Cinergy method trains on: the unpinned ones when
// scenario A has them (placed like the VM's threads, so the VM alone is a
// state between them), else the paper's pinned ones; sets
// m.training_placement and says so in the notes.
const std::map<int, Table>& cinergy_training(const DataSet& data, HostModel& m) {
  if (!data.training_unpinned.empty()) {
    m.training_placement = Placement::unpinned;
    m.notes.push_back(
        "trained on scenario A's unpinned staircases (training-unpinned-<step>: workers placed "
        "by the scheduler, as the VM's threads are); the pinned ones are the paper method's");
    return data.training_unpinned;
  }
  // Sockets the data show: its per-socket load columns.
  std::set<std::string> sockets;
  for (const auto& [step, table] : data.training)
    for (const auto& name : table.names)
      if (name.starts_with("cpu%_package-") && name != kUtil) sockets.insert(name);
  if (sockets.size() == 1) {
    m.training_placement = Placement::one_socket;
    m.notes.push_back(
        "trained on scenario A's staircases (training-<step>); the data show one socket, so "
        "their workers were placed as the VM's threads are");
  } else {
    m.training_placement = Placement::pinned;
    m.notes.push_back(fmt::format(
        "trained on scenario A's pinned staircases (training-<step>, socket 0 first): no "
        "training-unpinned-<step> files, and {}; the VM alone spreads over sockets as no "
        "pinned staircase does, so the interval's transfer term is scaled by {} (cinergy run "
        "records unpinned staircases on hosts of several sockets)",
        sockets.empty() ? std::string("the data have no per-socket load to show one socket")
                        : fmt::format("the data show {} sockets", sockets.size()),
        kPinnedTransferScale));
  }
  return data.training;
}

Result<HostModel> fit_model(const DataSet& data, const ModelOptions& options) {
  HostModel m;
  m.method = options.method;
  m.prefix = data.prefix;
  m.simulated_power = data.simulated_power;
  auto threads = resolve_host_threads(data, options.host_threads);
  if (!threads) return std::unexpected(threads.error());
  m.host_threads = *threads;
  if (options.vm_vcpus) {
    if (*options.vm_vcpus <= 0)
      return fail(fmt::format("--vm-vcpus must be positive (got {})", *options.vm_vcpus));
    m.vm_vcpus = *options.vm_vcpus;
  } else if (auto v = vcpus_from(data.groundtruth)) {
    m.vm_vcpus = *v;
  } else if (auto v2 = vcpus_from(data.cloudlike)) {
    m.vm_vcpus = *v2;
  }
  if (data.training.empty() && (options.method == Method::paper || data.training_unpinned.empty()))
    return fail(
        fmt::format("{}: no {}-training-<step>.csv to fit", data.dir.string(), data.prefix));
  if (options.method == Method::paper) {
    if (!data.training.contains(50))
      return fail(fmt::format("{}: the paper method needs the step-50 curve",
                              (data.dir / (data.prefix + "-training-50.csv")).string()));
    if (auto r = fit_paper_curves(data, m); !r) return std::unexpected(r.error());
    return m;
  }
  m.fit_hi_pct = m.vm_vcpus > 0
                     ? std::min(100.0, m.vm_vcpus * 100.0 / m.host_threads * kCinergyRegionFactor)
                     : 100.0;
  if (m.vm_vcpus == 0) m.notes.push_back("VM vCPUs unknown: fitted on the whole load range");
  const auto& training = cinergy_training(data, m);
  const auto bg = idle_level_load(training);
  m.background_pct = bg.pct;
  m.notes.push_back(bg.note);

  FitOptions fo;
  std::optional<Error> first_error;
  auto failed = [&](Error e) {
    if (!first_error) first_error = e;
    m.notes.push_back(e.message);
  };
  struct StepData {
    int step;
    std::string source;  // file name
    std::string path;
    std::vector<double> x, y;
    std::vector<int> group;
  };
  std::vector<StepData> steps;
  for (const auto& [step, table] : training) {
    const std::string src = table.source.string();
    const auto* xs = table.column(kUtil);
    const auto* ys = table.column(kPower);
    if (xs == nullptr || ys == nullptr) {
      failed(Error{0, fmt::format("{}: no {} or {} rows", src, kUtil, kPower)});
      continue;
    }
    const auto rows = table.complete_rows({std::string(kUtil), std::string(kPower)});
    // Load levels (for CV folds): runs of equal `target` in time order.
    const auto* target = table.column("target");
    StepData d{step, table.source.filename().string(), src, {}, {}, {}};
    d.x.reserve(rows.size());
    d.y.reserve(rows.size());
    int level = -1;
    double last_target = kNaN;
    for (std::size_t r : rows) {
      if (target != nullptr && (*target)[r] != last_target) {
        last_target = (*target)[r];
        ++level;
      }
      if ((*xs)[r] > m.fit_hi_pct) continue;
      d.x.push_back((*xs)[r]);
      d.y.push_back((*ys)[r]);
      if (target != nullptr) d.group.push_back(level);
    }
    if (d.x.empty()) {
      failed(Error{0, rows.empty()
                          ? fmt::format("{}: no usable rows after dropping NaN", src)
                          : fmt::format("{}: no rows with host load <= {:.3f} % (the fit region)",
                                        src, m.fit_hi_pct)});
      continue;
    }
    steps.push_back(std::move(d));
  }

  // The steps together when they can be (two or more of 3 levels or more).
  if (steps.size() >= 2) {
    std::vector<StepPoints> pts;
    for (const auto& d : steps) pts.push_back({d.step, d.x, d.y, d.group});
    auto joint = fit_joint(pts, fo, data.dir.string());
    if (joint) {
      m.notes.push_back(fmt::format(
          "steps fitted together: degree {}, {} (chosen by CV over {} candidates; CV RMSE "
          "{:.3f} W)",
          joint->degree,
          joint->form == 0   ? "one curve for every step"
          : joint->form == 1 ? "a curve linear in the step"
                             : "a curve per step",
          joint->candidates, std::sqrt(joint->cv_mse_w2)));
      if (!joint->note.empty()) m.notes.push_back(joint->note);
      for (const auto& d : steps) {
        PolyFit f;
        f.poly = joint->at_step(d.step);
        f.degree = joint->degree;
        f.unconstrained_degree = joint->degree;
        f.x_lo = joint->x_lo;
        f.x_hi = joint->x_hi;
        f.n = d.x.size();
        std::unordered_set<long long> lv;
        for (double v : d.x) lv.insert(std::llround(v * 100.0));
        std::unordered_set<int> gv(d.group.begin(), d.group.end());
        f.levels = d.group.empty() ? lv.size() : std::min(lv.size(), gv.size());
        f.cv_rmse = std::sqrt(joint->cv_mse_w2);
        f.note = joint->note;
        double my = 0;
        for (double v : d.y) my += v;
        my /= static_cast<double>(d.y.size());
        double ss = 0, st = 0, sa = 0;
        for (std::size_t i = 0; i < d.x.size(); ++i) {
          const double e = d.y[i] - f.poly(d.x[i]);
          ss += e * e;
          sa += std::abs(e);
          st += (d.y[i] - my) * (d.y[i] - my);
        }
        const auto n = static_cast<double>(d.x.size());
        f.rmse = std::sqrt(ss / n);
        f.mae = sa / n;
        f.r2 = st > 0 ? 1.0 - ss / st : kNaN;
        f.non_decreasing = f.poly.non_decreasing(f.x_lo, f.x_hi);
        m.curves.push_back(StepCurve{d.step, d.source, std::move(f), {}, {}});
      }
      m.joint = std::move(*joint);
      choose_level_curves(pts, fo.folds, m);
      return m;
    }
    m.notes.push_back(fmt::format("steps fitted one by one: {}", joint.error().message));
  }

  for (const auto& d : steps) {
    const std::string& src = d.path;
    const int step = d.step;
    auto fit = fit_polynomial(d.x, d.y, d.group, fo, src);
    if (!fit) {
      failed(fit.error());
      continue;
    }
    if (!fit->folds_from.empty())
      m.notes.push_back(fmt::format("step {}: {}", step, fit->folds_from));
    if (!fit->note.empty()) m.notes.push_back(fmt::format("step {}: {}", step, fit->note));
    m.curves.push_back(StepCurve{step, d.source, std::move(*fit), {}, {}});
  }
  if (m.curves.empty()) return std::unexpected(*first_error);
  std::ranges::sort(m.curves, {}, &StepCurve::step_pct);
  return m;
}

nlohmann::json to_json(const HostModel& m) {
  nlohmann::json j;
  j["format"] = kFormat;
  j["method"] = method_name(m.method);
  j["prefix"] = m.prefix;
  j["simulated_power"] = m.simulated_power;
  j["host_threads"] = m.host_threads;
  j["vm_vcpus"] = m.vm_vcpus;
  j["fit_range_pct"] = {0.0, m.fit_hi_pct};
  j["background_pct"] = m.background_pct;
  if (m.method != Method::paper) j["training_placement"] = placement_name(m.training_placement);
  j["x"] = "cpu%_package-global";
  j["y"] = "package-global-watt";
  j["steps"] = nlohmann::json::array();
  for (const auto& c : m.curves) j["steps"].push_back(c.step_pct);
  j["curves"] = nlohmann::json::array();
  for (const auto& c : m.curves) {
    const auto& f = c.fit;
    nlohmann::json cj;
    cj["step_pct"] = c.step_pct;
    cj["source"] = c.source;
    cj["degree"] = f.degree;
    if (f.poly.sklearn()) {
      const bool f32 = f.poly.form == Polynomial::Form::sklearn_f32;
      cj["basis"] = fmt::format(
          "p(x) = sum_k coef[k] * x^k + intercept, evaluated as scikit-learn's "
          "LinearRegression.predict in {}",
          f32 ? "float32" : "float64");
      cj["arithmetic"] = f32 ? "float32" : "float64";
      cj["intercept"] = json_number(f.poly.intercept);
      cj["rank"] = f.rank;
    } else {
      cj["basis"] = "p(x) = sum_k coef[k] * u^k, u = (x - x_center) / x_scale";
    }
    cj["coef"] = json_vec(f.poly.coef);
    cj["x_center"] = f.poly.x_center;
    cj["x_scale"] = f.poly.x_scale;
    cj["x_range_pct"] = {f.x_lo, f.x_hi};
    cj["n"] = f.n;
    cj["levels"] = f.levels;
    cj["selection"] = m.method == Method::paper ? "training_rmse" : "cross_validation";
    cj["cv_rmse_w"] = f.cv_rmse ? json_number(*f.cv_rmse) : nlohmann::json(nullptr);
    cj["cv_rmse_by_degree"] = json_vec(f.cv_rmse_by_degree);
    cj["train_rmse_by_degree"] = json_vec(f.train_rmse_by_degree);
    cj["r2"] = json_number(f.r2);
    cj["rmse_w"] = json_number(f.rmse);
    cj["mae_w"] = json_number(f.mae);
    cj["idle_w"] = json_number(f.poly(0.0));
    cj["non_decreasing"] = f.non_decreasing;
    cj["unconstrained_degree"] = f.unconstrained_degree;
    if (!f.note.empty()) cj["note"] = f.note;
    if (!f.folds_from.empty()) cj["folds_from"] = f.folds_from;
    if (!c.knot_x_pct.empty()) {
      cj["curve"] = "linear between the knots (load levels' means); coef: the polynomial it beat";
      cj["knots_x_pct"] = json_vec(c.knot_x_pct);
      cj["knots_w"] = json_vec(c.knot_w);
    }
    j["curves"].push_back(std::move(cj));
  }
  if (m.joint) {
    const auto& f = *m.joint;
    j["joint"] = {
        {"degree", f.degree},
        {"form", f.form},
        {"basis", f.anchored ? "p(x, s) = coef[0] + sum_{i>=1, j<=form} coef[1 + (i-1) (form "
                               "+ 1) + j] (u^i - (j > 0 ? u_anchor^i : 0)) v^j, u = (x - "
                               "x_center) / x_scale, v = s / 100: the step terms vanish at x = 0"
                             : "p(x, s) = sum coef[i (form + 1) + j] u^i v^j, u = (x - "
                               "x_center) / x_scale, v = s / 100"},
        {"anchored", f.anchored},
        {"u_anchor", f.u_anchor},
        {"x_center", f.x_center},
        {"x_scale", f.x_scale},
        {"x_range_pct", {f.x_lo, f.x_hi}},
        {"steps", f.steps},
        {"coef", json_vec(f.coef)},
        {"cov", json_vec(f.cov)},
        {"sigma2_w2", json_number(f.sigma2_w2)},
        {"cv_mse_w2", json_number(f.cv_mse_w2)},
        {"level_var_w2", json_number(f.level_var_w2)},
        {"transfer_rel", json_number(f.transfer_rel)},
        {"n", f.n},
        {"candidates", f.candidates}};
  }
  j["levels"] = m.levels ? nlohmann::json{{"cv_mse_w2", json_number(m.levels->cv_mse_w2)},
                                          {"sigma2_w2", json_number(m.levels->sigma2_w2)},
                                          {"level_n", json_number(m.levels->level_n)}}
                         : nlohmann::json(nullptr);
  j["interval"] = m.method == Method::paper
                      ? nlohmann::json(nullptr)
                      : nlohmann::json(
                            "nominal 90 %: +-1.645 sqrt(fit variance + level misfit + "
                            "(step spread / 2)^2 + (4 transfer_rel dynamic)^2)");
  j["notes"] = m.notes;
  return j;
}

Result<HostModel> model_from_json(const nlohmann::json& j, std::string_view source) {
  const std::string src(source);
  try {
    const std::string format = j.is_object() ? j.value("format", "") : "";
    if (format != kFormat && format != kFormatV1)
      return fail(
          fmt::format("{}: not a cinergy model (format {} or {})", src, kFormat, kFormatV1));
    HostModel m;
    auto method = parse_method(j.at("method").get<std::string>());
    if (!method) return fail(fmt::format("{}: {}", src, method.error().message));
    m.method = *method;
    m.prefix = j.value("prefix", "");
    m.simulated_power = j.value("simulated_power", false);
    m.host_threads = j.at("host_threads").get<int>();
    m.vm_vcpus = j.at("vm_vcpus").get<int>();
    m.fit_hi_pct = j.at("fit_range_pct").at(1).get<double>();
    // Files written before it existed estimated at the share alone.
    m.background_pct = j.value("background_pct", 0.0);
    if (!std::isfinite(m.background_pct) || m.background_pct < 0 || m.background_pct >= 100)
      return fail(
          fmt::format("{}: background_pct must be in [0, 100) % (got {})", src, m.background_pct));
    // Files written before it existed were trained on the pinned staircases.
    if (m.method != Method::paper) {
      const auto name = j.value("training_placement", std::string("pinned"));
      const auto placement = parse_placement(name);
      if (!placement)
        return fail(fmt::format(
            "{}: training_placement must be unpinned, one socket or pinned (got '{}')", src, name));
      m.training_placement = *placement;
    }
    if (m.host_threads <= 0) return fail(fmt::format("{}: host_threads must be positive", src));
    for (const auto& cj : j.at("curves")) {
      StepCurve c;
      c.step_pct = cj.at("step_pct").get<int>();
      c.source = cj.value("source", "");
      auto& f = c.fit;
      f.poly.coef = vec_from(cj.at("coef"));
      f.poly.x_center = cj.at("x_center").get<double>();
      f.poly.x_scale = cj.at("x_scale").get<double>();
      f.degree = f.poly.degree();
      f.x_lo = cj.at("x_range_pct").at(0).get<double>();
      f.x_hi = cj.at("x_range_pct").at(1).get<double>();
      f.n = cj.value("n", std::size_t{0});
      f.levels = cj.value("levels", std::size_t{0});
      f.non_decreasing = cj.value("non_decreasing", true);
      // Format 2's paper curves are scikit-learn's form (format 1 had none).
      if (const auto a = cj.find("arithmetic"); a != cj.end() && format == kFormat) {
        const std::string arith = a->get<std::string>();
        if (arith != "float32" && arith != "float64")
          return fail(
              fmt::format("{}: curve step {}: unknown arithmetic '{}'", src, c.step_pct, arith));
        f.poly.form =
            arith == "float32" ? Polynomial::Form::sklearn_f32 : Polynomial::Form::sklearn_f64;
        f.poly.intercept = cj.at("intercept").get<double>();
        f.rank = cj.value("rank", 0);
        if (f.poly.x_center != 0 || f.poly.x_scale != 1)
          return fail(fmt::format("{}: curve step {}: raw powers need x_center 0 and x_scale 1",
                                  src, c.step_pct));
      }
      if (const auto kx = cj.find("knots_x_pct"); kx != cj.end()) {
        c.knot_x_pct = vec_from(*kx);
        c.knot_w = vec_from(cj.at("knots_w"));
        bool ok = c.knot_x_pct.size() >= 2 && c.knot_x_pct.size() == c.knot_w.size();
        for (std::size_t i = 0; ok && i < c.knot_x_pct.size(); ++i)
          ok = std::isfinite(c.knot_x_pct[i]) && std::isfinite(c.knot_w[i]) &&
               (i == 0 || c.knot_x_pct[i] > c.knot_x_pct[i - 1]);
        if (!ok)
          return fail(
              fmt::format("{}: curve step {}: knots must be 2 or more finite points of "
                          "ascending load",
                          src, c.step_pct));
      }
      if (f.poly.coef.empty() ||
          !std::ranges::all_of(f.poly.coef, [](double v) { return std::isfinite(v); }) ||
          !(f.poly.x_scale > 0))
        return fail(fmt::format("{}: curve step {} has invalid coefficients", src, c.step_pct));
      m.curves.push_back(std::move(c));
    }
    if (m.curves.empty()) return fail(fmt::format("{}: no curves", src));
    std::ranges::sort(m.curves, {}, &StepCurve::step_pct);
    // The estimate uses step 50; format 1 held nothing else.
    if (m.method == Method::paper && m.curve(50) == nullptr)
      return fail(fmt::format("{}: a paper model needs its step-50 curve", src));
    if (m.method == Method::paper && format == kFormatV1 && m.curves.size() != 1)
      return fail(fmt::format("{}: a format-1 paper model holds exactly the step-50 curve", src));
    if (auto jj = j.find("joint"); jj != j.end() && jj->is_object()) {
      JointFit f;
      f.degree = jj->at("degree").get<int>();
      f.form = jj->at("form").get<int>();
      f.x_center = jj->at("x_center").get<double>();
      f.x_scale = jj->at("x_scale").get<double>();
      f.x_lo = jj->at("x_range_pct").at(0).get<double>();
      f.x_hi = jj->at("x_range_pct").at(1).get<double>();
      f.steps = jj->at("steps").get<std::vector<int>>();
      f.coef = vec_from(jj->at("coef"));
      f.cov = vec_from(jj->at("cov"));
      auto num = [&](const char* k) {
        const auto& v = jj->at(k);
        return v.is_number() ? v.get<double>() : kNaN;
      };
      f.sigma2_w2 = num("sigma2_w2");
      f.cv_mse_w2 = num("cv_mse_w2");
      f.level_var_w2 = num("level_var_w2");
      f.transfer_rel = num("transfer_rel");
      f.n = jj->value("n", std::size_t{0});
      f.candidates = jj->value("candidates", std::size_t{0});
      // Files from before the anchored basis hold the plain one.
      f.anchored = jj->value("anchored", false);
      f.u_anchor = f.anchored ? jj->at("u_anchor").get<double>() : 0.0;
      const auto p =
          static_cast<std::size_t>(JointFit::coefficient_count(f.degree, f.form, f.anchored));
      if (f.degree < 0 || f.form < 0 || f.form > 2 || f.coef.size() != p || f.cov.size() != p * p ||
          !(f.x_scale > 0) || !std::isfinite(f.u_anchor))
        return fail(fmt::format("{}: invalid joint fit", src));
      m.joint = std::move(f);
    }
    if (auto lv = j.find("levels"); lv != j.end() && lv->is_object()) {
      LevelCurves lc;
      lc.cv_mse_w2 = lv->at("cv_mse_w2").get<double>();
      lc.sigma2_w2 = lv->at("sigma2_w2").get<double>();
      lc.level_n = lv->at("level_n").get<double>();
      m.levels = lc;
    }
    if (auto n = j.find("notes"); n != j.end() && n->is_array())
      for (const auto& s : *n)
        if (s.is_string()) m.notes.push_back(s.get<std::string>());
    return m;
  } catch (const nlohmann::json::exception& e) {
    return fail(fmt::format("{}: malformed model: {}", src, e.what()));
  }
}

Result<HostModel> load_model(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return fail_errno(ENOENT, fmt::format("{}: cannot open", file.string()));
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) return fail(fmt::format("{}: not valid JSON", file.string()));
  return model_from_json(j, file.string());
}

Result<void> save_json(const nlohmann::json& j, const std::filesystem::path& file) {
  std::ofstream out(file, std::ios::trunc);
  if (!out) return fail_errno(fmt::format("{}: cannot write", file.string()));
  out << j.dump(2) << '\n';
  out.flush();
  if (!out) return fail_errno(EIO, fmt::format("{}: write failed", file.string()));
  return ok();
}

std::string describe(const HostModel& m) {
  std::string s = m.simulated_power
                      ? "WARNING: SIMULATED POWER: fitted on modelled, not measured, energy\n"
                      : "";
  s += fmt::format("method {}  host_threads {}  vm_vcpus {}  fit region: host load <= {:.2f} %\n",
                   method_name(m.method), m.host_threads, m.vm_vcpus, m.fit_hi_pct);
  if (m.method != Method::paper)
    s += fmt::format(
        "background load {:.3f} % (the VM alone: host load = share + it); trained on {} "
        "staircases\n",
        m.background_pct, placement_name(m.training_placement));
  for (const auto& c : m.curves) {
    const auto& f = c.fit;
    s += fmt::format("step {:>3} ({}): degree {}, n {}, levels {}, x in [{:.2f}, {:.2f}] %\n",
                     c.step_pct, c.source, f.degree, f.n, f.levels, f.x_lo, f.x_hi);
    if (!c.knot_x_pct.empty())
      s += fmt::format(
          "  used: linear between {} level means ({:.2f} % {:.2f} W .. {:.2f} % "
          "{:.2f} W); the polynomial below is what it beat\n",
          c.knot_x_pct.size(), c.knot_x_pct.front(), c.knot_w.front(), c.knot_x_pct.back(),
          c.knot_w.back());
    s += fmt::format("  P(x) W = ");
    const bool raw = f.poly.sklearn();
    const char* var = raw ? "x" : "u";
    for (std::size_t k = 0; k < f.poly.coef.size(); ++k) {
      // The sklearn forms' bias coefficient joins the intercept in the text.
      const double v = raw && k == 0 ? f.poly.intercept + f.poly.coef[0] : f.poly.coef[k];
      if (k == 0)
        s += fmt::format("{:.4g}", v);
      else
        s += fmt::format(" {} {:.4g}*{}{}", v < 0 ? '-' : '+', std::abs(v), var,
                         k == 1 ? "" : fmt::format("^{}", k));
    }
    if (raw)
      s +=
          fmt::format("  ({}, rank {})\n",
                      f.poly.form == Polynomial::Form::sklearn_f32 ? "float32" : "float64", f.rank);
    else
      s += fmt::format(",  u = (x - {:.4g}) / {:.4g}\n", f.poly.x_center, f.poly.x_scale);
    s += fmt::format("  idle {:.2f} W  R2 {:.4f}  RMSE {:.3f} W  MAE {:.3f} W", f.poly(0.0), f.r2,
                     f.rmse, f.mae);
    if (f.cv_rmse) s += fmt::format("  CV RMSE {:.3f} W", *f.cv_rmse);
    s += f.non_decreasing ? "  non-decreasing\n" : "  NOT non-decreasing\n";
  }
  for (const auto& n : m.notes) s += "note: " + n + "\n";
  return s;
}

}  // namespace cinergy::model
