#include "paper_figures.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

#include "cinergy/model/paper.hpp"
#include "xy_chart.hpp"

namespace cinergy::report::detail {
namespace {

using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kBinPct = 50;  // the notebook's box plots: 50 % of one CPU per bin
constexpr int kCurveSamples = 200;

std::string chart_id(const HostFigures& h, const char* figure) {
  return h.key.empty() ? fmt::format("paper-{}", figure)
                       : fmt::format("paper-{}-{}", figure, h.key);
}

// One host's chart of `figure`: its id, its container (the page's prefix +
// figure), its size and title; the caller adds labels, note and series.
XyChart host_chart(const HostFigures& h, const char* figure, const std::string& container,
                   bool small, std::string title) {
  XyChart c;
  c.id = chart_id(h, figure);
  c.container = container + figure;
  c.small = small;
  c.title = std::move(title);
  return c;
}

// A figure the host has no data for: a line of text in its place.
json placeholder(const HostFigures& h, const char* figure, const std::string& container,
                 const std::string& title, const std::string& why) {
  return {{"id", chart_id(h, figure)},
          {"container", container},
          {"placeholder", true},
          {"title", title},
          {"note", why}};
}

// numpy.percentile's default (linear between the closest ranks).
double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

// A curve sampled on [lo, hi] (finite values only).
Points sample(const model::Polynomial& p, double lo, double hi) {
  Points out;
  if (!(hi >= lo)) return out;
  for (int k = 0; k <= kCurveSamples; ++k) {
    const double x = lo + (hi - lo) * k / kCurveSamples;
    const double y = p(x);
    if (std::isfinite(y)) out.emplace_back(x, y);
  }
  return out;
}

// The paper's polynomial fit of the Cinergy ratio against host load (its
// training-RMSE rule), and its curve; nullopt when nothing can be fitted.
struct RatioFit {
  Points points, curve;
  int degree = 0;
};
std::optional<RatioFit> ratio_fit(const std::vector<model::EstimateRow>& rows, bool f32) {
  RatioFit r;
  std::vector<double> x, y;
  for (const auto& e : rows)
    if (std::isfinite(e.host_util_pct) && std::isfinite(e.ratio)) {
      x.push_back(f32 ? model::paper::as(e.host_util_pct, true).v : e.host_util_pct);
      y.push_back(f32 ? model::paper::as(e.ratio, true).v : e.ratio);
      r.points.emplace_back(e.host_util_pct, e.ratio);
    }
  if (x.empty()) return std::nullopt;
  auto f = model::paper::fit(x, y, f32, f32, "ratio");
  if (!f) return std::nullopt;
  model::Polynomial p;
  p.coef = f->coef;
  p.intercept = f->intercept;
  p.form = f32 ? model::Polynomial::Form::sklearn_f32 : model::Polynomial::Form::sklearn_f64;
  r.curve = sample(p, f->x_lo, f->x_hi);
  r.degree = f->degree;
  return r;
}

// VM load as a fraction of its capacity (vm_vcpus x 100 % of one CPU).
bool in_band(const model::EstimateRow& e, int vcpus, double lo, double hi) {
  const double f = e.vm_pct / (vcpus * 100.0);
  return f >= lo && f <= hi;
}

json isolated_figure(const HostFigures& h, const std::string& container, bool small) {
  const char* title_fmt = "{}Isolated power minus the idle power not owed to the VM";
  const std::string title =
      fmt::format(fmt::runtime(title_fmt), h.key.empty() ? "" : h.name + ": ");
  if (h.paper == nullptr || h.threads <= 0 || h.vm_vcpus <= 0)
    return placeholder(h, "isolated", container + "isolated", title,
                       "needs the paper model, the host threads and the VM's vCPUs");
  // The notebook's f_50(0) x (1 - vm_vcpus / host_threads), taken off all.
  const double idle = h.paper->power_w(0.0, 50.0);
  const double not_owed = idle * (1.0 - static_cast<double>(h.vm_vcpus) / h.threads);
  XyChart c = host_chart(h, "isolated", container, small, title);
  c.x_label = "VM load (% of one CPU)";
  c.y_label = "W";
  c.note = fmt::format(
      "Idle power not owed to the VM: f_50(0) × (1 − {} / {}) = {:.2f} W × {:.3f} = {:.2f} W, "
      "removed from the ground truth and from both estimates.",
      h.vm_vcpus, h.threads, idle, 1.0 - static_cast<double>(h.vm_vcpus) / h.threads, not_owed);
  if (h.groundtruth != nullptr) {
    Points gt;
    const auto* vm = h.groundtruth->column("vm");
    const auto* w = h.groundtruth->column("package-global-watt");
    for (std::size_t r : h.groundtruth->complete_rows({"vm", "package-global-watt"}))
      gt.emplace_back((*vm)[r], (*w)[r] - not_owed);
    c.series.push_back({"ground truth (VM alone)", false, std::move(gt)});
  }
  for (const auto& [label, rows] : {std::pair{"isolated estimate (paper)", &h.paper_rows},
                                    std::pair{"isolated estimate (cinergy)", &h.cinergy_rows}}) {
    Points p;
    for (const auto& e : *rows) p.emplace_back(e.vm_pct, e.isolated_w - not_owed);
    if (!p.empty()) c.series.push_back({label, false, std::move(p)});
  }
  return c.to_json();
}

json boxes_figure(const HostFigures& h, const std::string& container, bool small) {
  const std::string title =
      (h.key.empty() ? "" : h.name + ": ") +
      std::string("Ground truth per 50 % of VM load (box plots) with the estimates' means");
  if (h.groundtruth == nullptr)
    return placeholder(h, "boxes", container + "boxes", title, "no ground truth");
  std::map<long long, std::vector<double>> bins;
  const auto* vm = h.groundtruth->column("vm");
  const auto* w = h.groundtruth->column("package-global-watt");
  for (std::size_t r : h.groundtruth->complete_rows({"vm", "package-global-watt"}))
    bins[static_cast<long long>(std::floor((*vm)[r] / kBinPct))].push_back((*w)[r]);
  XyChart c = host_chart(h, "boxes", container, small, title);
  c.x_label = "VM load (% of one CPU, bins of 50 %)";
  c.y_label = "W";
  c.note =
      "Boxes: quartiles of the ground truth's package power per bin, whiskers at the furthest "
      "window within 1.5 × IQR, the others drawn as points; lines: each method's mean "
      "estimate over the cloud-like windows of the bin.";
  Points outliers;
  for (auto& [b, v] : bins) {
    std::sort(v.begin(), v.end());
    Box box;
    box.x = (static_cast<double>(b) + 0.5) * kBinPct;
    box.width = 0.8 * kBinPct;
    box.q1 = quantile(v, 0.25);
    box.median = quantile(v, 0.5);
    box.q3 = quantile(v, 0.75);
    const double iqr = box.q3 - box.q1;
    box.lo = box.q1;
    box.hi = box.q3;
    for (double x : v) {
      if (x < box.q1 - 1.5 * iqr || x > box.q3 + 1.5 * iqr) {
        outliers.emplace_back(box.x, x);
        continue;
      }
      box.lo = std::min(box.lo, x);
      box.hi = std::max(box.hi, x);
    }
    box.n = v.size();
    c.boxes.push_back(box);
  }
  for (const auto& [label, rows] :
       {std::pair{"mean isolated estimate (paper)", &h.paper_rows},
        std::pair{"mean isolated estimate (cinergy)", &h.cinergy_rows}}) {
    std::map<long long, std::pair<double, std::size_t>> sum;
    for (const auto& e : *rows)
      if (std::isfinite(e.isolated_w) && std::isfinite(e.vm_pct)) {
        auto& s = sum[static_cast<long long>(std::floor(e.vm_pct / kBinPct))];
        s.first += e.isolated_w;
        ++s.second;
      }
    Points p;
    for (const auto& [b, s] : sum)
      p.emplace_back((static_cast<double>(b) + 0.5) * kBinPct,
                     s.first / static_cast<double>(s.second));
    if (!p.empty()) c.series.push_back({label, true, std::move(p)});
  }
  if (!outliers.empty()) c.series.push_back({"ground truth beyond the whiskers", false, outliers});
  return c.to_json();
}

json exclude_figure(const HostFigures& h, const std::string& container, bool small) {
  const std::string title = (h.key.empty() ? "" : h.name + ": ") +
                            std::string("exclude_beyond: the paper's step-50 fit with and without");
  if (h.training50 == nullptr)
    return placeholder(h, "exclude", container + "exclude", title, "no training-50 file");
  XyChart c = host_chart(h, "exclude", container, small, title);
  c.x_label = "host load (%)";
  c.y_label = "package-global (W)";
  Points pts;
  const auto* x = h.training50->column("cpu%_package-global");
  const auto* y = h.training50->column("package-global-watt");
  if (x != nullptr && y != nullptr)
    for (std::size_t r :
         h.training50->complete_rows({"cpu%_package-global", "package-global-watt"}))
      pts.emplace_back((*x)[r], (*y)[r]);
  c.series.push_back({"training windows (step 50)", false, std::move(pts)});
  std::vector<std::string> notes;
  // With: the model's own curve when there is one (the same fit), else fitted here.
  const double exclude = h.paper != nullptr                ? h.paper->fit_hi_pct
                         : h.threads > 0 && h.vm_vcpus > 0 ? h.vm_vcpus * 100.0 / h.threads * 3.0
                                                           : kInf;
  std::optional<model::StepCurve> with;
  if (h.paper != nullptr && h.paper->curve(50) != nullptr && h.paper->curve(50)->fit.poly.sklearn())
    with = *h.paper->curve(50);
  else if (std::isfinite(exclude))
    if (auto f = model::fit_paper_step(*h.training50, 50, exclude)) with = std::move(*f);
  if (with) {
    c.series.push_back(
        {fmt::format("with exclude_beyond = {:.2f} % (degree {})", exclude, with->fit.degree), true,
         sample(with->fit.poly, with->fit.x_lo, with->fit.x_hi)});
    notes.push_back(fmt::format("with: {} windows up to {:.2f} %, degree {}", with->fit.n, exclude,
                                with->fit.degree));
  }
  if (auto without = model::fit_paper_step(*h.training50, 50, kInf)) {
    c.series.push_back({fmt::format("without (degree {})", without->fit.degree), true,
                        sample(without->fit.poly, without->fit.x_lo, without->fit.x_hi)});
    notes.push_back(
        fmt::format("without: all {} windows, degree {}", without->fit.n, without->fit.degree));
  } else {
    notes.push_back("without: " + without.error().message);
  }
  c.note = "Degree by the notebook's training-RMSE rule, float32; ";
  for (std::size_t i = 0; i < notes.size(); ++i) c.note += (i ? "; " : "") + notes[i];
  c.note += ".";
  return c.to_json();
}

json tdbu_figure(const HostFigures& h, const std::string& container, bool small, bool high) {
  const char* figure = high ? "tdbu-high" : "tdbu-low";
  const double lo = high ? 0.85 : 0.01, hi = high ? 1.00 : 0.10;
  const std::string title = fmt::format(
      "{}Top-down (isolated) against bottom-up (proportional), VM load {:.0f}–{:.0f} % of its "
      "capacity",
      h.key.empty() ? "" : h.name + ": ", lo * 100, hi * 100);
  if (h.vm_vcpus <= 0)
    return placeholder(h, figure, container + figure, title, "the VM's vCPUs are unknown");
  XyChart c = host_chart(h, figure, container, small, title);
  c.x_label = "host load (%)";
  c.y_label = "W";
  Points bu, td_paper, td_cinergy;
  for (const auto& e : h.paper_rows)
    if (in_band(e, h.vm_vcpus, lo, hi)) {
      bu.emplace_back(e.host_util_pct, e.bottomup_w);
      td_paper.emplace_back(e.host_util_pct, e.isolated_w);
    }
  for (const auto& e : h.cinergy_rows)
    if (in_band(e, h.vm_vcpus, lo, hi)) td_cinergy.emplace_back(e.host_util_pct, e.isolated_w);
  if (bu.empty() && td_cinergy.empty())
    return placeholder(h, figure, container + figure, title,
                       fmt::format("no cloud-like window with the VM at {:.0f}–{:.0f} % of its {} "
                                   "vCPUs",
                                   lo * 100, hi * 100, h.vm_vcpus));
  c.note = fmt::format(
      "Cloud-like windows with VM load (vm / ({} × 100 %)) in [{:.2f}, {:.2f}]: bottom-up = "
      "(vm / threads) / host load × host power.",
      h.vm_vcpus, lo, hi);
  c.series.push_back({"bottom-up (paper)", false, std::move(bu)});
  c.series.push_back({"top-down (paper)", false, std::move(td_paper)});
  c.series.push_back({"top-down (cinergy)", false, std::move(td_cinergy)});
  return c.to_json();
}

json ratio_figure_of(const HostFigures& h, const std::string& container, bool small) {
  const std::string title = (h.key.empty() ? "" : h.name + ": ") +
                            std::string("Cinergy ratio against host load, with its polynomial");
  XyChart c = host_chart(h, "ratio", container, small, title);
  c.x_label = "host load (%)";
  c.y_label = "bottom-up / top-down";
  std::vector<std::string> notes;
  for (const auto& [method, rows, f32] :
       {std::tuple{"paper", &h.paper_rows, true}, std::tuple{"cinergy", &h.cinergy_rows, false}}) {
    auto r = ratio_fit(*rows, f32);
    if (!r) continue;
    c.series.push_back({fmt::format("ratio ({})", method), false, std::move(r->points)});
    c.series.push_back(
        {fmt::format("polynomial, degree {} ({})", r->degree, method), true, std::move(r->curve)});
    notes.push_back(fmt::format("{}: degree {}", method, r->degree));
  }
  if (c.empty())
    return placeholder(h, "ratio", container + "ratio", title, "no ratio in the estimates");
  c.note = "Polynomials of degree 1..14 by the notebook's training-RMSE rule (" +
           fmt::format("{}", fmt::join(notes, ", ")) + ").";
  return c.to_json();
}

}  // namespace

std::vector<json> paper_figures(const HostFigures& h, const std::string& container_prefix,
                                bool small) {
  return {
      isolated_figure(h, container_prefix, small),   boxes_figure(h, container_prefix, small),
      exclude_figure(h, container_prefix, small),    tdbu_figure(h, container_prefix, small, false),
      tdbu_figure(h, container_prefix, small, true), ratio_figure_of(h, container_prefix, small)};
}

std::optional<json> ratio_overview(const std::vector<HostFigures>& hosts,
                                   const std::string& container) {
  XyChart c;
  c.id = "paper-ratio-all";
  c.container = container;
  c.title = "Cinergy ratio (paper method) against host load: each host's polynomial";
  c.x_label = "host load (%)";
  c.y_label = "bottom-up / top-down";
  for (const auto& h : hosts)
    if (auto r = ratio_fit(h.paper_rows, true))
      c.series.push_back({fmt::format("{} (degree {})", h.name, r->degree), true, r->curve});
  if (c.empty()) return std::nullopt;
  c.note = "Each host's polynomial over the host loads its cloud-like windows reached.";
  return c.to_json();
}

std::vector<model::EstimateRow> rows_from_isolated_csv(const CsvTable& t) {
  const auto col = [&](const char* name) { return t.column(name); };
  const auto ts = col("timestamp"), vm = col("vm"), iso = col("isolated_w"), dyn = col("dynamic_w"),
             hw = col("host_w"), ratio = col("ratio"), share = col("share_pct"),
             inten = col("intensity_pct"), bu = col("bottomup_w"), hu = col("host_util_pct");
  auto num = [&](std::size_t r, std::optional<std::size_t> c) {
    return c ? t.number(r, *c) : kNaN;
  };
  std::vector<model::EstimateRow> out;
  out.reserve(t.rows.size());
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    model::EstimateRow e;
    e.timestamp_s = num(r, ts);
    e.vm_pct = num(r, vm);
    e.isolated_w = num(r, iso);
    e.dynamic_w = num(r, dyn);
    e.host_w = num(r, hw);
    e.ratio = num(r, ratio);
    e.share_pct = num(r, share);
    e.intensity_pct = num(r, inten);
    e.bottomup_w = num(r, bu);
    e.host_util_pct = num(r, hu);
    out.push_back(e);
  }
  return out;
}

}  // namespace cinergy::report::detail
