#include "cinergy/model/polyfit.hpp"

#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "cinergy/model/paper.hpp"

namespace cinergy::model {
namespace {

constexpr int kLoadBins = 10;  // bins of load when the data labels no levels

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kChunkRows = 256;

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

// Running R factor of the rows [1 u .. u^D | y] added so far.
class RAccumulator {
 public:
  explicit RAccumulator(int cols) : cols_(cols), work_(cols + kChunkRows, cols) { work_.setZero(); }

  // Row into the chunk buffer; reduces when full.
  void add(double u, double y) {
    double p = 1.0;
    const int row = cols_ + filled_;
    for (int k = 0; k < cols_ - 1; ++k) {
      work_(row, k) = p;
      p *= u;
    }
    work_(row, cols_ - 1) = y;
    if (++filled_ == kChunkRows) reduce();
  }

  // Final p x p upper-triangular R (rows of zeros when fewer rows were added).
  Matrix r() {
    if (filled_ > 0) reduce();
    return work_.topRows(cols_).triangularView<Eigen::Upper>();
  }

 private:
  void reduce() {
    const int rows = cols_ + filled_;
    Eigen::Ref<Matrix> block = work_.topRows(rows);
    Eigen::HouseholderQR<Eigen::Ref<Matrix>> qr(block);  // in place
    Matrix r = qr.matrixQR().topRows(cols_).triangularView<Eigen::Upper>();
    work_.topRows(cols_) = r;
    filled_ = 0;
  }

  int cols_;
  int filled_ = 0;
  Matrix work_;
};

// R of the stacked R factors (their rows together describe the union of data).
Matrix combine(const std::vector<const Matrix*>& parts, int cols) {
  Matrix stacked(static_cast<Eigen::Index>(parts.size()) * cols, cols);
  for (std::size_t i = 0; i < parts.size(); ++i)
    stacked.middleRows(static_cast<Eigen::Index>(i) * cols, cols) = *parts[i];
  Eigen::HouseholderQR<Matrix> qr(stacked);
  return qr.matrixQR().topRows(cols).triangularView<Eigen::Upper>();
}

// Coefficients of degree d from the R factor of [V_D | y]; nullopt when the
// leading block is numerically singular.
std::optional<Eigen::VectorXd> solve_degree(const Matrix& r, int d) {
  const int p = static_cast<int>(r.cols());
  const int k = d + 1;
  double max_diag = 0;
  for (int i = 0; i < k; ++i) max_diag = std::max(max_diag, std::abs(r(i, i)));
  if (max_diag == 0) return std::nullopt;
  for (int i = 0; i < k; ++i)
    if (std::abs(r(i, i)) < 1e-11 * max_diag) return std::nullopt;
  Eigen::VectorXd c =
      r.topLeftCorner(k, k).triangularView<Eigen::Upper>().solve(r.block(0, p - 1, k, 1));
  if (!c.allFinite()) return std::nullopt;
  return c;
}

// Sum of squared residuals of coefficients c on the data summarised by R.
double sse(const Matrix& r, const Eigen::VectorXd& c) {
  const int p = static_cast<int>(r.cols());
  Eigen::VectorXd z = Eigen::VectorXd::Zero(p);
  z.head(c.size()) = c;
  z(p - 1) = -1.0;
  return (r * z).squaredNorm();
}

// Bins of load for cross-validation when the data labels no levels: points
// sorted by x, cut into `bins` runs of (about) equal size, equal x values
// kept in one bin. Returns each point's bin, numbered 0, 1, 2, ... in
// ascending x (consecutive, so that bin % folds spreads the bins evenly).
std::vector<int> load_bin_groups(std::span<const double> x, int bins) {
  const std::size_t n = x.size();
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::ranges::stable_sort(order, {}, [&](std::size_t i) { return x[i]; });
  std::vector<int> out(n, 0);
  int slot = 0, id = 0;  // slot: the equal-size cut reached; id: the bin's number
  for (std::size_t k = 0; k < n; ++k) {
    const int want = static_cast<int>(k * static_cast<std::size_t>(bins) / n);
    if (k > 0 && want > slot && x[order[k]] != x[order[k - 1]]) {
      slot = want;
      ++id;
    }
    out[order[k]] = id;
  }
  return out;
}

// Fewer than 3 load levels: no degree can be told from noise by holding
// levels out. The curve is then the least-squares line (2 or more distinct
// loads) or the mean power (1 load), and the note says so; a line that
// falls is kept and reported (non_decreasing false), like any fit the data
// contradicts. Never fails: n >= 1.
PolyFit fit_few_levels(std::span<const double> x, std::span<const double> y, std::size_t distinct_x,
                       double lo, PolyFit out) {
  const std::size_t n = x.size();
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < n; ++i) mx += x[i], my += y[i];
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
  }
  const double slope = distinct_x >= 2 && sxx > 0 ? sxy / sxx : 0.0;
  const bool falls = slope < 0;
  out.poly = Polynomial{};
  out.poly.x_center = mx;
  out.poly.x_scale = 1.0;
  out.poly.coef = slope != 0 ? std::vector<double>{my, slope} : std::vector<double>{my};
  out.degree = out.poly.degree();
  out.unconstrained_degree = distinct_x >= 2 ? 1 : 0;
  out.non_decreasing = !falls;
  std::string why = distinct_x >= 2 ? fmt::format("{} distinct loads", distinct_x)
                                    : fmt::format("one load ({:.2f} %)", lo);
  if (distinct_x >= 3) why = fmt::format("{} load levels", out.levels);
  out.note =
      fmt::format("{}: too few to choose a degree by cross-validation; {} (no degree search){}",
                  why, out.degree == 1 ? "the least-squares line" : "the mean power",
                  falls ? "; it falls with load: the data contradicts a power curve" : "");
  double ss_res = 0, ss_tot = 0, abs_sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double e = y[i] - out.poly(x[i]);
    ss_res += e * e;
    abs_sum += std::abs(e);
    ss_tot += (y[i] - my) * (y[i] - my);
  }
  out.rmse = std::sqrt(ss_res / static_cast<double>(n));
  out.mae = abs_sum / static_cast<double>(n);
  out.r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : kNaN;
  return out;
}

}  // namespace

double Polynomial::operator()(double x) const {
  if (sklearn()) {
    const bool f32 = form == Form::sklearn_f32;
    return paper::predict(coef, intercept, f32, paper::as(x, f32)).v;
  }
  const double u = (x - x_center) / x_scale;
  double acc = 0;
  for (auto it = coef.rbegin(); it != coef.rend(); ++it) acc = acc * u + *it;
  return acc;
}

double Polynomial::derivative(double x) const {
  if (sklearn()) {  // d/dx of sum_k coef[k] x^k, in double (no one needs it bit for bit)
    double acc = 0;
    for (int k = degree(); k >= 1; --k) acc = acc * x + k * coef[static_cast<std::size_t>(k)];
    return acc;
  }
  const double u = (x - x_center) / x_scale;
  double acc = 0;
  for (int k = degree(); k >= 1; --k) acc = acc * u + k * coef[static_cast<std::size_t>(k)];
  return acc / x_scale;
}

bool Polynomial::non_decreasing(double lo, double hi) const {
  constexpr int kGrid = 512;
  if (!(hi > lo)) return true;
  double vmin = (*this)(lo), vmax = vmin;
  std::vector<double> v(kGrid + 1);
  for (int i = 0; i <= kGrid; ++i) {
    v[static_cast<std::size_t>(i)] = (*this)(lo + (hi - lo) * i / kGrid);
    vmin = std::min(vmin, v[static_cast<std::size_t>(i)]);
    vmax = std::max(vmax, v[static_cast<std::size_t>(i)]);
  }
  const double tol = 1e-6 * std::max(1.0, vmax - vmin);
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i] < v[i - 1] - tol) return false;
  return true;
}

Result<PolyFit> fit_polynomial(std::span<const double> x, std::span<const double> y,
                               std::span<const int> group, const FitOptions& options,
                               std::string_view what) {
  const std::string name(what);
  if (x.size() != y.size() || (!group.empty() && group.size() != x.size()))
    return fail(fmt::format("{}: x, y and group sizes differ", name));
  if (options.min_degree < 0 || options.max_degree < options.min_degree || options.max_degree > 20)
    return fail(
        fmt::format("{}: bad degree range {}..{}", name, options.min_degree, options.max_degree));
  const std::size_t n = x.size();
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i]))
      return fail(fmt::format("{}: non-finite value at point {}", name, i));
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (n == 0) return fail(fmt::format("{}: no points to fit", name));
  // Distinct levels: groups if given, else x rounded to 0.01 (the format's precision).
  std::unordered_set<long long> distinct_x, distinct_g;
  for (std::size_t i = 0; i < n; ++i) {
    distinct_x.insert(std::llround(x[i] * 100.0));
    if (!group.empty()) distinct_g.insert(group[i]);
  }
  PolyFit out;
  out.n = n;
  out.x_lo = lo;
  out.x_hi = hi;
  const bool cv = options.selection == DegreeSelection::cross_validation;
  // Groups that cannot hold out levels (fewer than 3 while the loads take
  // more values: a `target` that never changes, data of another tool) give
  // way to bins of load built from the data.
  // Without groups, the same bins (no note: the caller labelled nothing).
  std::vector<int> load_bins;
  if (cv && (group.empty() || (distinct_g.size() < 3 && distinct_x.size() >= 3))) {
    const bool labelled = !group.empty();
    const std::size_t given = distinct_g.size();
    load_bins = load_bin_groups(x, kLoadBins);
    group = load_bins;
    distinct_g.clear();
    distinct_g.insert(load_bins.begin(), load_bins.end());
    if (labelled)
      out.folds_from = fmt::format(
          "the data's load levels (target) give {} group(s): cross-validation folds from {} "
          "bins of load with equal numbers of points",
          given, distinct_g.size());
  }
  const std::size_t levels =
      group.empty() ? distinct_x.size() : std::min(distinct_x.size(), distinct_g.size());
  out.levels = levels;
  int folds = std::clamp(options.folds, 2, 20);
  if (cv) folds = std::min<int>(folds, static_cast<int>(levels));
  // A degree needs more levels than coefficients; with CV, in every training set.
  const std::size_t usable_levels =
      cv && levels >= 3 ? levels - (levels + folds - 1) / folds : levels;
  const int max_degree = std::min<int>(options.max_degree, static_cast<int>(usable_levels) - 1);
  if (levels < 3 || max_degree < options.min_degree)
    return fit_few_levels(x, y, distinct_x.size(), lo, std::move(out));

  Polynomial basis;
  basis.x_center = 0.5 * (lo + hi);
  basis.x_scale = std::max(0.5 * (hi - lo), 1e-9);
  const int cols = max_degree + 2;

  std::vector<RAccumulator> acc;
  const int parts = cv ? folds : 1;
  acc.reserve(static_cast<std::size_t>(parts));
  for (int f = 0; f < parts; ++f) acc.emplace_back(cols);
  std::vector<std::size_t> fold_n(static_cast<std::size_t>(parts), 0);
  for (std::size_t i = 0; i < n; ++i) {
    const double u = (x[i] - basis.x_center) / basis.x_scale;
    int f = 0;
    if (cv) f = ((group[i] % folds) + folds) % folds;
    acc[static_cast<std::size_t>(f)].add(u, y[i]);
    ++fold_n[static_cast<std::size_t>(f)];
  }
  std::vector<Matrix> r_fold;
  for (auto& a : acc) r_fold.push_back(a.r());
  Matrix r_all;
  {
    std::vector<const Matrix*> all;
    for (const auto& r : r_fold) all.push_back(&r);
    r_all = parts == 1 ? r_fold[0] : combine(all, cols);
  }

  const int nd = max_degree - options.min_degree + 1;
  out.train_rmse_by_degree.assign(static_cast<std::size_t>(nd), kNaN);
  std::vector<std::optional<Eigen::VectorXd>> coef(static_cast<std::size_t>(nd));
  for (int d = options.min_degree; d <= max_degree; ++d) {
    auto c = solve_degree(r_all, d);
    if (!c) continue;
    out.train_rmse_by_degree[static_cast<std::size_t>(d - options.min_degree)] =
        std::sqrt(sse(r_all, *c) / static_cast<double>(n));
    coef[static_cast<std::size_t>(d - options.min_degree)] = std::move(c);
  }
  // Per degree: CV MSE and its standard error over folds (for the one-SE rule).
  std::vector<double> cv_se(static_cast<std::size_t>(nd), 0.0);
  if (cv) {
    out.cv_rmse_by_degree.assign(static_cast<std::size_t>(nd), kNaN);
    std::vector<std::vector<double>> fold_mse(static_cast<std::size_t>(nd));
    std::vector<double> held_sse(static_cast<std::size_t>(nd), 0.0);
    std::vector<bool> valid(static_cast<std::size_t>(nd), true);
    for (int f = 0; f < folds; ++f) {
      const auto fi = static_cast<std::size_t>(f);
      std::vector<const Matrix*> others;
      for (int g = 0; g < folds; ++g)
        if (g != f) others.push_back(&r_fold[static_cast<std::size_t>(g)]);
      const Matrix r_train = combine(others, cols);
      for (int d = options.min_degree; d <= max_degree; ++d) {
        const auto k = static_cast<std::size_t>(d - options.min_degree);
        auto c = solve_degree(r_train, d);
        if (!c) {
          valid[k] = false;
          continue;
        }
        const double e = sse(r_fold[fi], *c);
        held_sse[k] += e;
        if (fold_n[fi] > 0) fold_mse[k].push_back(e / static_cast<double>(fold_n[fi]));
      }
    }
    for (std::size_t k = 0; k < held_sse.size(); ++k) {
      if (!valid[k] || !coef[k]) continue;
      out.cv_rmse_by_degree[k] = std::sqrt(held_sse[k] / static_cast<double>(n));
      const auto& m = fold_mse[k];
      if (m.size() >= 2) {
        double mean = 0, var = 0;
        for (double v : m) mean += v;
        mean /= static_cast<double>(m.size());
        for (double v : m) var += (v - mean) * (v - mean);
        var /= static_cast<double>(m.size() - 1);
        cv_se[k] = std::sqrt(var / static_cast<double>(m.size()));
      }
    }
  }

  const auto& score = cv ? out.cv_rmse_by_degree : out.train_rmse_by_degree;
  auto to_poly = [&](std::size_t k) {
    Polynomial p = basis;
    p.coef.assign(coef[k]->data(), coef[k]->data() + coef[k]->size());
    return p;
  };
  int best_any = -1, best_mono = -1;
  for (std::size_t k = 0; k < score.size(); ++k) {
    if (!std::isfinite(score[k])) continue;
    // Strictly better only: ties keep the lower degree.
    if (best_any < 0 || score[k] < score[static_cast<std::size_t>(best_any)])
      best_any = static_cast<int>(k);
    if (options.require_non_decreasing && to_poly(k).non_decreasing(lo, hi) &&
        (best_mono < 0 || score[k] < score[static_cast<std::size_t>(best_mono)]))
      best_mono = static_cast<int>(k);
  }
  // Parsimony with CV (the one-standard-error rule): the lowest degree whose
  // CV MSE is within one standard error of the best one, since noise makes
  // the minimum wander towards higher degrees.
  auto simplest = [&](int best, bool mono) {
    if (!cv || best < 0) return best;
    const auto b = static_cast<std::size_t>(best);
    const double limit = score[b] * score[b] + cv_se[b];
    for (std::size_t k = 0; k < b; ++k)
      if (std::isfinite(score[k]) && score[k] * score[k] <= limit &&
          (!mono || to_poly(k).non_decreasing(lo, hi)))
        return static_cast<int>(k);
    return best;
  };
  best_any = simplest(best_any, false);
  best_mono = simplest(best_mono, true);
  if (best_any < 0)
    return fail(fmt::format("{}: the fit is numerically singular at every degree ({} levels)", name,
                            levels));
  out.unconstrained_degree = best_any + options.min_degree;
  int chosen = best_any;
  if (options.require_non_decreasing) {
    if (best_mono >= 0) {
      chosen = best_mono;
      if (best_mono != best_any)
        out.note = fmt::format(
            "degree {} had the lowest error but decreases somewhere in [{:.2f}, {:.2f}] %; "
            "kept the best non-decreasing degree {}",
            best_any + options.min_degree, lo, hi, best_mono + options.min_degree);
    } else {
      out.note = fmt::format(
          "no degree gives a non-decreasing curve over [{:.2f}, {:.2f}] %: the data contradicts "
          "it (power falls with load); kept degree {}",
          lo, hi, best_any + options.min_degree);
    }
  }
  const auto ck = static_cast<std::size_t>(chosen);
  out.poly = to_poly(ck);
  out.degree = chosen + options.min_degree;
  out.non_decreasing = out.poly.non_decreasing(lo, hi);
  if (cv) out.cv_rmse = out.cv_rmse_by_degree[ck];

  // In-sample metrics of the chosen curve.
  double sum_y = 0;
  for (double v : y) sum_y += v;
  const double mean_y = sum_y / static_cast<double>(n);
  double ss_res = 0, ss_tot = 0, abs_sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double e = y[i] - out.poly(x[i]);
    ss_res += e * e;
    abs_sum += std::abs(e);
    ss_tot += (y[i] - mean_y) * (y[i] - mean_y);
  }
  out.rmse = std::sqrt(ss_res / static_cast<double>(n));
  out.mae = abs_sum / static_cast<double>(n);
  out.r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : kNaN;
  return out;
}

}  // namespace cinergy::model
