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

// Coefficients of the leading k columns from the R factor of [X | y];
// nullopt when that block is numerically singular.
std::optional<Eigen::VectorXd> solve_leading(const Matrix& r, int k) {
  const int p = static_cast<int>(r.cols());
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

// Coefficients of degree d from the R factor of [V_D | y].
std::optional<Eigen::VectorXd> solve_degree(const Matrix& r, int d) {
  return solve_leading(r, d + 1);
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

// In-sample RMSE, MAE and R2 (NaN when y does not vary) of fit.poly on (x, y),
// y's mean `mean_y`.
void set_in_sample_metrics(PolyFit& fit, std::span<const double> x, std::span<const double> y,
                           double mean_y) {
  const std::size_t n = y.size();
  double ss_res = 0, ss_tot = 0, abs_sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double e = y[i] - fit.poly(x[i]);
    ss_res += e * e;
    abs_sum += std::abs(e);
    ss_tot += (y[i] - mean_y) * (y[i] - mean_y);
  }
  fit.rmse = std::sqrt(ss_res / static_cast<double>(n));
  fit.mae = abs_sum / static_cast<double>(n);
  fit.r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : kNaN;
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
  set_in_sample_metrics(out, x, y, my);
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
  set_in_sample_metrics(out, x, y, mean_y);
  return out;
}

}  // namespace cinergy::model

namespace cinergy::model {
namespace {

// One (step, fold) block of a joint fit: the R factor of its [1 u .. u^Dmax | y].
struct Block {
  double v = 0;  // step / 100
  int step_index = 0;
  int fold = 0;
  Matrix r;
  std::size_t n = 0;
};

// Every term of JointFit's basis in coefficient order: f(i, j, col, u^i,
// v^j, ua^i), the powers by repeated multiplication. Anchored, the (0, j >= 1)
// terms do not exist.
template <typename F>
void for_each_term(int degree, int form, bool anchored, double u, double v, double ua, F&& f) {
  int col = 0;
  double up = 1.0, uap = 1.0;
  for (int i = 0; i <= degree; ++i, up *= u, uap *= ua) {
    double vp = 1.0;
    for (int j = 0; j <= form; ++j, vp *= v)
      if (!(anchored && i == 0 && j > 0)) f(i, j, col++, up, vp, uap);
  }
}

// R factor of the blocks' rows in the joint design of form J (columns
// b_i(u, j) v^j in JointFit's order, then y): each block's R times the
// block's column map (b_i(u, j) = u^i - ua^i is R's column i minus ua^i its
// column 0, the ones).
Matrix joint_r(const std::vector<const Block*>& blocks, int dmax, int form, bool anchored,
               double ua) {
  const int pin = dmax + 2;  // block columns: u^0..u^dmax, y
  const int cols = JointFit::coefficient_count(dmax, form, anchored) + 1;
  const auto rows = std::max<Eigen::Index>(static_cast<Eigen::Index>(blocks.size()) * pin,
                                           static_cast<Eigen::Index>(cols));
  Matrix stacked = Matrix::Zero(rows, cols);
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const auto& blk = *blocks[b];
    const auto top = static_cast<Eigen::Index>(b) * pin;
    for_each_term(dmax, form, anchored, 0.0, blk.v, ua,
                  [&](int i, int j, int col, double, double vp, double uap) {
                    if (anchored && j > 0)
                      stacked.block(top, col, pin, 1) = (blk.r.col(i) - uap * blk.r.col(0)) * vp;
                    else
                      stacked.block(top, col, pin, 1) = blk.r.col(i) * vp;
                  });
    stacked.block(top, cols - 1, pin, 1) = blk.r.col(pin - 1);
  }
  Eigen::HouseholderQR<Matrix> qr(stacked);
  return qr.matrixQR().topRows(cols).triangularView<Eigen::Upper>();
}

// The R factor of [leading k columns | y] from the R factor of [X | y]
// (R'R = X'X, so the selected columns of R describe the same least squares).
// In the i-major order of joint_r, the leading
// JointFit::coefficient_count(d, J) columns are exactly the design of degree d.
Matrix leading_r(const Matrix& r, int k) {
  Matrix sel(r.rows(), k + 1);
  sel.leftCols(k) = r.leftCols(k);
  sel.col(k) = r.col(r.cols() - 1);
  Eigen::HouseholderQR<Matrix> qr(sel);
  return qr.matrixQR().topRows(k + 1).triangularView<Eigen::Upper>();
}

bool non_decreasing_at_steps(const JointFit& f, double lo, double hi) {
  for (int s : f.steps)
    if (!f.at_step(s).non_decreasing(lo, hi)) return false;
  return true;
}

}  // namespace

Polynomial JointFit::at_step(double step_pct) const {
  Polynomial p;
  p.x_center = x_center;
  p.x_scale = x_scale;
  const double v = step_pct / 100.0;
  p.coef.assign(static_cast<std::size_t>(degree + 1), 0.0);
  for_each_term(degree, form, anchored, 0.0, v, u_anchor,
                [&](int i, int j, int col, double, double vp, double uap) {
                  const double c = coef[static_cast<std::size_t>(col)] * vp;
                  p.coef[static_cast<std::size_t>(i)] += c;
                  if (anchored && j > 0) p.coef[0] -= c * uap;
                });
  return p;
}

std::vector<double> JointFit::gradient(double x, double step_pct) const {
  std::vector<double> g(coef.size(), 0.0);
  const double u = (x - x_center) / x_scale, v = step_pct / 100.0;
  for_each_term(degree, form, anchored, u, v, u_anchor,
                [&](int, int j, int col, double up, double vp, double uap) {
                  g[static_cast<std::size_t>(col)] = (anchored && j > 0 ? up - uap : up) * vp;
                });
  return g;
}

double JointFit::variance(const std::vector<double>& g) const {
  const std::size_t p = coef.size();
  if (g.size() != p || cov.size() != p * p) return kNaN;
  double s = 0;
  for (std::size_t a = 0; a < p; ++a)
    for (std::size_t b = 0; b < p; ++b) s += g[a] * cov[a * p + b] * g[b];
  return std::max(0.0, s);
}

Result<JointFit> fit_joint(std::span<const StepPoints> steps, const FitOptions& options,
                           std::string_view what) {
  const std::string name(what);
  if (steps.size() < 2) return fail(fmt::format("{}: a joint fit needs two steps or more", name));
  JointFit out;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  std::vector<std::vector<int>> groups(steps.size());
  std::vector<std::size_t> usable(steps.size());
  int folds = std::clamp(options.folds, 2, 20);
  std::vector<std::size_t> levels(steps.size());
  for (std::size_t s = 0; s < steps.size(); ++s) {
    const auto& st = steps[s];
    if (st.x.size() != st.y.size() || (!st.group.empty() && st.group.size() != st.x.size()))
      return fail(fmt::format("{}: step {}: x, y and group sizes differ", name, st.step_pct));
    std::unordered_set<long long> dx, dg;
    for (std::size_t i = 0; i < st.x.size(); ++i) {
      if (!std::isfinite(st.x[i]) || !std::isfinite(st.y[i]))
        return fail(fmt::format("{}: step {}: non-finite value at point {}", name, st.step_pct, i));
      lo = std::min(lo, st.x[i]);
      hi = std::max(hi, st.x[i]);
      dx.insert(std::llround(st.x[i] * 100.0));
      if (!st.group.empty()) dg.insert(st.group[i]);
    }
    if (st.group.empty() || (dg.size() < 3 && dx.size() >= 3)) {
      groups[s] = load_bin_groups(st.x, kLoadBins);
      dg.clear();
      dg.insert(groups[s].begin(), groups[s].end());
    } else {
      groups[s].assign(st.group.begin(), st.group.end());
    }
    levels[s] = std::min(dx.size(), dg.size());
    if (levels[s] < 3)
      return fail(fmt::format("{}: step {}: {} load level(s), too few for a joint fit", name,
                              st.step_pct, levels[s]));
    if (s > 0 && st.step_pct <= steps[s - 1].step_pct)
      return fail(fmt::format("{}: steps must ascend", name));
    out.steps.push_back(st.step_pct);
    out.n += st.x.size();
  }
  for (std::size_t s = 0; s < steps.size(); ++s) {
    folds = std::min<int>(folds, static_cast<int>(levels[s]));
  }
  for (std::size_t s = 0; s < steps.size(); ++s)
    usable[s] = levels[s] -
                (levels[s] + static_cast<std::size_t>(folds) - 1) / static_cast<std::size_t>(folds);
  std::vector<std::size_t> sorted_usable = usable;
  std::ranges::sort(sorted_usable, std::greater<>());
  std::size_t sum_usable = 0;
  for (auto u : usable) sum_usable += u;
  // A degree needs more levels than coefficients in every training fold: the
  // pooled levels for one curve, the second-richest step for a line in the
  // step, the poorest for a curve per step.
  const int max_form = steps.size() >= 3 ? 2 : 1;
  std::vector<int> cap(static_cast<std::size_t>(max_form + 1));
  cap[0] = static_cast<int>(sum_usable) - 1;
  cap[1] = static_cast<int>(sorted_usable[1]) - 1;
  if (max_form == 2) cap[2] = static_cast<int>(sorted_usable.back()) - 1;
  int dmax = 0;
  for (auto& c : cap) {
    c = std::min(c, options.max_degree);
    dmax = std::max(dmax, c);
  }
  if (dmax < 1) return fail(fmt::format("{}: too few load levels for a joint fit", name));
  out.x_lo = lo;
  out.x_hi = hi;
  out.x_center = 0.5 * (lo + hi);
  out.x_scale = std::max(0.5 * (hi - lo), 1e-9);
  out.anchored = true;
  out.u_anchor = (0.0 - out.x_center) / out.x_scale;
  const double ua = out.u_anchor;
  auto jr = [&](const std::vector<const Block*>& b, int form) {
    return joint_r(b, dmax, form, true, ua);
  };

  // Per (step, fold) the R factor of [1 u .. u^dmax | y]: one pass over the data.
  std::vector<Block> blocks;
  for (std::size_t s = 0; s < steps.size(); ++s) {
    std::vector<RAccumulator> acc;
    for (int f = 0; f < folds; ++f) acc.emplace_back(dmax + 2);
    std::vector<std::size_t> fn(static_cast<std::size_t>(folds), 0);
    const auto& st = steps[s];
    for (std::size_t i = 0; i < st.x.size(); ++i) {
      const int f = joint_fold(groups[s][i], static_cast<int>(s), folds);
      acc[static_cast<std::size_t>(f)].add((st.x[i] - out.x_center) / out.x_scale, st.y[i]);
      ++fn[static_cast<std::size_t>(f)];
    }
    for (int f = 0; f < folds; ++f)
      blocks.push_back({st.step_pct / 100.0, static_cast<int>(s), f,
                        acc[static_cast<std::size_t>(f)].r(), fn[static_cast<std::size_t>(f)]});
  }
  auto select = [&](auto pred) {
    std::vector<const Block*> v;
    for (const auto& b : blocks)
      if (pred(b)) v.push_back(&b);
    return v;
  };

  struct Candidate {
    int d, form;
    double cv_mse;
    bool mono;
  };
  std::vector<Candidate> cands;
  const auto all = select([](const Block&) { return true; });
  std::vector<Matrix> r_all(static_cast<std::size_t>(max_form + 1));
  for (int form = 0; form <= max_form; ++form) {
    r_all[static_cast<std::size_t>(form)] = jr(all, form);
    std::vector<Matrix> r_train, r_test;
    std::vector<std::size_t> n_test;
    for (int f = 0; f < folds; ++f) {
      r_train.push_back(jr(select([f](const Block& b) { return b.fold != f; }), form));
      r_test.push_back(jr(select([f](const Block& b) { return b.fold == f; }), form));
    }
    for (int d = 1; d <= cap[static_cast<std::size_t>(form)]; ++d) {
      const int k = JointFit::coefficient_count(d, form, true);
      auto sub = [k](const Matrix& r) { return leading_r(r, k); };
      bool ok = true;
      double held = 0;
      for (int f = 0; f < folds && ok; ++f) {
        const Matrix rt = sub(r_train[static_cast<std::size_t>(f)]);
        auto c = solve_leading(rt, k);
        if (!c) {
          ok = false;
          break;
        }
        held += sse(sub(r_test[static_cast<std::size_t>(f)]), *c);
      }
      if (!ok) continue;
      const Matrix ra = sub(r_all[static_cast<std::size_t>(form)]);
      auto c = solve_leading(ra, k);
      if (!c) continue;
      JointFit probe = out;
      probe.degree = d;
      probe.form = form;
      probe.coef.assign(c->data(), c->data() + c->size());
      cands.push_back(
          {d, form, held / static_cast<double>(out.n), non_decreasing_at_steps(probe, lo, hi)});
    }
  }
  out.candidates = cands.size();
  if (cands.empty())
    return fail(fmt::format("{}: no joint candidate can be solved in every fold", name));
  auto better = [](const Candidate& a, const Candidate& b) {
    if (a.cv_mse != b.cv_mse) return a.cv_mse < b.cv_mse;
    return JointFit::coefficient_count(a.d, a.form, true) <
           JointFit::coefficient_count(b.d, b.form, true);
  };
  const Candidate* best = nullptr;
  const Candidate* best_any = nullptr;
  for (const auto& c : cands) {
    if (best_any == nullptr || better(c, *best_any)) best_any = &c;
    if (c.mono && (best == nullptr || better(c, *best))) best = &c;
  }
  if (best == nullptr) {
    best = best_any;
    out.note = fmt::format(
        "no joint candidate is non-decreasing at every step over [{:.2f}, {:.2f}] %: kept degree "
        "{} form {}",
        lo, hi, best->d, best->form);
  } else if (best != best_any) {
    out.note = fmt::format(
        "degree {} form {} had the lowest CV error but decreases at a step; kept degree {} form {}",
        best_any->d, best_any->form, best->d, best->form);
  }
  out.degree = best->d;
  out.form = best->form;
  out.cv_mse_w2 = best->cv_mse;
  const int k = JointFit::coefficient_count(out.degree, out.form, true);
  {
    const Matrix rk = leading_r(r_all[static_cast<std::size_t>(out.form)], k);
    const auto c = solve_leading(rk, k);
    if (!c) return fail(fmt::format("{}: the chosen joint fit is singular", name));
    out.coef.assign(c->data(), c->data() + c->size());
    const double dof = std::max<double>(1.0, static_cast<double>(out.n) - k);
    out.sigma2_w2 = sse(rk, *c) / dof;
    const Matrix rinv =
        rk.topLeftCorner(k, k).triangularView<Eigen::Upper>().solve(Matrix::Identity(k, k));
    const Matrix cov = out.sigma2_w2 * rinv * rinv.transpose();
    out.cov.resize(static_cast<std::size_t>(k) * static_cast<std::size_t>(k));
    for (int a = 0; a < k; ++a)
      for (int b = 0; b < k; ++b) out.cov[static_cast<std::size_t>(a * k + b)] = cov(a, b);
  }
  out.level_var_w2 = std::max(0.0, out.cv_mse_w2 - out.sigma2_w2);

  // Leave one inner step out: the others' form-1 model at the same degree.
  if (steps.size() >= 3) {
    double excess = 0, dyn2 = 0;
    std::size_t held_n = 0;
    const int d = std::min(out.degree, 6);
    for (std::size_t s = 1; s + 1 < steps.size(); ++s) {
      const auto others =
          select([s](const Block& b) { return b.step_index != static_cast<int>(s); });
      const auto mine = select([s](const Block& b) { return b.step_index == static_cast<int>(s); });
      const int kk = JointFit::coefficient_count(d, 1, true);
      auto reduce = [kk](const Matrix& r) { return leading_r(r, kk); };
      const auto c = solve_leading(reduce(jr(others, 1)), kk);
      if (!c) continue;
      excess += sse(reduce(jr(mine, 1)), *c);
      const Polynomial p = out.at_step(steps[s].step_pct);
      const double idle = p(0.0);
      for (std::size_t i = 0; i < steps[s].x.size(); ++i) {
        const double dy = steps[s].y[i] - idle;
        dyn2 += dy * dy;
      }
      held_n += steps[s].x.size();
    }
    if (held_n > 0 && dyn2 > 0) {
      const double mse = excess / static_cast<double>(held_n);
      out.transfer_rel = std::sqrt(std::max(0.0, mse - out.sigma2_w2) / (dyn2 / held_n));
    }
  }
  return out;
}

}  // namespace cinergy::model
