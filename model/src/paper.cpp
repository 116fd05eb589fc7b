// Compiled with -ffp-contract=off (model/CMakeLists.txt): numpy and the
// reference BLAS round every product and sum; a fused multiply-add would not.
#include "cinergy/model/paper.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

extern "C" {
// LAPACK (Fortran): minimum-norm least squares by a divide-and-conquer SVD.
void sgelsd_(const int* m, const int* n, const int* nrhs, float* a, const int* lda, float* b,
             const int* ldb, float* s, const float* rcond, int* rank, float* work, const int* lwork,
             int* iwork, int* info);
void dgelsd_(const int* m, const int* n, const int* nrhs, double* a, const int* lda, double* b,
             const int* ldb, double* s, const double* rcond, int* rank, double* work,
             const int* lwork, int* iwork, int* info);
}

namespace cinergy::model::paper {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// numpy's NPY_BUFSIZE: a reduction's inner loop sees at most this many elements.
constexpr std::size_t kNumpyBuffer = 8192;
// numpy's PW_BLOCKSIZE: below it, eight accumulators; above, split in two.
constexpr std::size_t kPairwiseBlock = 128;

template <typename T>
T pairwise(const T* a, std::size_t n) {
  if (n < 8) {
    T res = 0;
    for (std::size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= kPairwiseBlock) {
    T r[8];
    for (std::size_t j = 0; j < 8; ++j) r[j] = a[j];
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (std::size_t j = 0; j < 8; ++j) r[j] += a[i + j];
    T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

template <typename T>
T buffered_sum(std::span<const T> a) {
  T total = 0;
  for (std::size_t start = 0; start < a.size(); start += kNumpyBuffer) {
    const std::size_t len = std::min(kNumpyBuffer, a.size() - start);
    const T part = pairwise(a.data() + start, len);
    total = start == 0 ? part : total + part;
  }
  return total;
}

// `.sum(dtype=np.float64)` of an array in another dtype: each buffer is cast
// to float64 first, then summed as above.
double buffered_sum_f64(std::span<const Num> a) {
  std::vector<double> v(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) v[i] = a[i].v;
  return buffered_sum<double>(v);
}

// np.mean over n x 1 values of one dtype: numpy_sum in it, over n in it.
Num mean(std::span<const Num> v) {
  const bool f32 = !v.empty() && v.front().f32;
  const Num count = as(static_cast<double>(v.size()), f32);
  if (f32) {
    std::vector<float> f(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) f[i] = static_cast<float>(v[i].v);
    return Num{static_cast<double>(buffered_sum<float>(f)), true} / count;
  }
  std::vector<double> d(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) d[i] = v[i].v;
  return Num{buffered_sum<double>(d), false} / count;
}

double root(Num v) {
  return v.f32 ? static_cast<double>(std::sqrt(static_cast<float>(v.v))) : std::sqrt(v.v);
}

// mean_squared_error(truth, pred, squared=False).
double rmse(std::span<const Num> truth, std::span<const Num> pred) {
  std::vector<Num> sq(truth.size());
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const Num d = truth[i] - pred[i];
    sq[i] = d * d;
  }
  return root(mean(sq));
}

template <typename T>
T eps() {
  return std::numeric_limits<T>::epsilon();
}

// ?gelsd for float and double: the same call scipy.linalg.lstsq makes.
int gelsd(int m, int n, float* a, float* b, int ldb, float* s, float rcond, int* rank, float* work,
          int lwork, int* iwork) {
  const int nrhs = 1, lda = std::max(1, m);
  int info = 0;
  sgelsd_(&m, &n, &nrhs, a, &lda, b, &ldb, s, &rcond, rank, work, &lwork, iwork, &info);
  return info;
}
int gelsd(int m, int n, double* a, double* b, int ldb, double* s, double rcond, int* rank,
          double* work, int lwork, int* iwork) {
  const int nrhs = 1, lda = std::max(1, m);
  int info = 0;
  dgelsd_(&m, &n, &nrhs, a, &lda, b, &ldb, s, &rcond, rank, work, &lwork, iwork, &info);
  return info;
}

// scipy's lwork: the query's float answer, bumped to the next float32 value
// for the single-precision routine (scipy.linalg.lapack._check_work_float).
int work_size(float w) { return static_cast<int>(std::nextafter(w, INFINITY)); }
int work_size(double w) { return static_cast<int>(w); }

struct DegreeFit {
  std::vector<double> coef;
  double intercept = 0;
  double rmse = kNaN;
  int rank = 0;
};

// PolynomialFeatures(degree).fit_transform(x) then LinearRegression().fit
// and its training predictions, all in T (x's dtype; y cast to it), and
// mean_squared_error(squared=False) against y in its own dtype (y_own).
template <typename T>
Result<DegreeFit> fit_degree(const std::vector<T>& x, const std::vector<T>& y,
                             const std::vector<Num>& y_own, int degree, const std::string& what) {
  const std::size_t n = x.size();
  const int p = degree + 1;
  const auto pn = static_cast<std::size_t>(p);
  // Row-major features: 1, x, x^2 = x * x, x^3 = x^2 * x, ...
  std::vector<T> xp(n * pn);
  for (std::size_t i = 0; i < n; ++i) {
    T* row = &xp[i * pn];
    row[0] = 1;
    if (p > 1) row[1] = x[i];
    for (int k = 2; k < p; ++k) row[k] = row[k - 1] * x[i];
  }
  for (T v : xp)
    if (!std::isfinite(v))
      return fail(fmt::format("{}: x^{} overflows the {} features (scikit-learn refuses them too)",
                              what, degree, sizeof(T) == 4 ? "float32" : "float64"));
  // np.average(X, axis=0, weights=ones): column sums in row order (numpy
  // reduces a C-ordered array along axis 0 row by row), over the weights'
  // sum (exact: n).
  const T count = static_cast<T>(n);
  std::vector<T> x_offset(pn, 0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < pn; ++k) x_offset[k] += xp[i * pn + k];
  for (auto& o : x_offset) o /= count;
  const T y_offset = buffered_sum<T>(y) / count;

  // Column-major centred copy for LAPACK; b padded to max(m, n) rows.
  const int m = static_cast<int>(n);
  const int ldb = std::max(m, p);
  std::vector<T> a(n * pn), b(static_cast<std::size_t>(ldb), 0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < pn; ++k) a[k * n + i] = xp[i * pn + k] - x_offset[k];
    b[i] = y[i] - y_offset;
  }
  std::vector<T> s(static_cast<std::size_t>(std::min(m, p)));
  int rank = 0;
  T query = 0;
  int iquery = 0;
  if (int info =
          gelsd(m, p, a.data(), b.data(), ldb, s.data(), eps<T>(), &rank, &query, -1, &iquery);
      info != 0)
    return fail(fmt::format("{}: LAPACK ?gelsd workspace query failed (info {})", what, info));
  const int lwork = std::max(1, work_size(query));
  std::vector<T> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(std::max(1, iquery)));
  if (int info = gelsd(m, p, a.data(), b.data(), ldb, s.data(), eps<T>(), &rank, work.data(), lwork,
                       iwork.data());
      info != 0)
    return fail(fmt::format("{}: LAPACK ?gelsd failed at degree {} (info {})", what, degree, info));

  // intercept_ = y_offset - X_offset . coef_ (BLAS ?dot, in order).
  T dot = 0;
  for (std::size_t k = 0; k < pn; ++k) dot += x_offset[k] * b[k];
  DegreeFit out;
  out.rank = rank;
  out.coef.assign(b.begin(), b.begin() + p);
  const T intercept = y_offset - dot;
  out.intercept = intercept;
  // predict: X @ coef_ (BLAS ?gemv, each row in order) + intercept_; then
  // mean_squared_error(y, predictions, squared=False) against y in its own
  // dtype (the notebook passes its column, not the fit's float32 copy).
  std::vector<Num> pred(n);
  for (std::size_t i = 0; i < n; ++i) {
    T acc = 0;
    for (std::size_t k = 0; k < pn; ++k) acc += xp[i * pn + k] * b[k];
    pred[i] = Num{static_cast<double>(acc + intercept), sizeof(T) == 4};
  }
  out.rmse = rmse(y_own, pred);
  return out;
}

template <typename T>
Result<Fit> fit_all(std::span<const double> xs, std::span<const double> ys, bool y_f32,
                    int max_degree, const std::string& what) {
  std::vector<T> x(xs.size()), y(ys.size());
  std::vector<Num> y_own(ys.size());
  for (std::size_t i = 0; i < xs.size(); ++i) {
    x[i] = static_cast<T>(xs[i]);
    y[i] = static_cast<T>(ys[i]);  // np.asarray(y, dtype=X.dtype)
    y_own[i] = as(ys[i], y_f32);
  }
  Fit out;
  out.n = x.size();
  out.x_lo = *std::min_element(xs.begin(), xs.end());
  out.x_hi = *std::max_element(xs.begin(), xs.end());
  std::vector<DegreeFit> fits;
  for (int d = 1; d <= max_degree; ++d) {
    auto f = fit_degree<T>(x, y, y_own, d, what);
    if (!f) return std::unexpected(f.error());
    if (!std::isfinite(f->rmse))
      return fail(fmt::format("{}: the training RMSE of degree {} is not finite", what, d));
    out.rmse_by_degree.push_back(f->rmse);
    fits.push_back(std::move(*f));
  }
  // np.argmin: the first of the lowest.
  std::size_t best = 0;
  for (std::size_t k = 1; k < fits.size(); ++k)
    if (fits[k].rmse < fits[best].rmse) best = k;
  out.degree = static_cast<int>(best) + 1;
  out.rank = fits[best].rank;
  out.coef = std::move(fits[best].coef);
  out.intercept = fits[best].intercept;
  out.f32 = sizeof(T) == 4;
  return out;
}

// One operation in the promoted dtype (each operand converts exactly).
template <typename Op>
Num binary(Num a, Num b, Op op) {
  if (a.f32 && b.f32)
    return {static_cast<double>(op(static_cast<float>(a.v), static_cast<float>(b.v))), true};
  return {op(a.v, b.v), false};
}

bool same_dtype(std::span<const Num> v) {
  return std::all_of(v.begin(), v.end(), [&](const Num& a) { return a.f32 == v.front().f32; });
}

}  // namespace

bool downcasts_to_float32(std::span<const double> column) {
  for (double v : column) {
    if (std::isnan(v)) continue;
    const double f = static_cast<float>(v);
    // np.allclose(new, old, rtol=0, atol=5e-4): inf only matches itself.
    if (std::isinf(v) || std::isinf(f)) {
      if (f != v) return false;
      continue;
    }
    if (!(std::abs(f - v) <= 5e-4)) return false;
  }
  return true;
}

Num as(double v, bool f32) { return {f32 ? static_cast<double>(static_cast<float>(v)) : v, f32}; }

Num operator+(Num a, Num b) { return binary(a, b, std::plus<>{}); }
Num operator-(Num a, Num b) { return binary(a, b, std::minus<>{}); }
Num operator*(Num a, Num b) { return binary(a, b, std::multiplies<>{}); }
Num operator/(Num a, Num b) { return binary(a, b, std::divides<>{}); }

float numpy_sum(std::span<const float> a) { return buffered_sum<float>(a); }
double numpy_sum(std::span<const double> a) { return buffered_sum<double>(a); }

Num predict(std::span<const double> coef, double intercept, bool fit_f32, Num x) {
  // The powers in x's dtype (PolynomialFeatures keeps it), then X @ coef_
  // in the promoted dtype, then + intercept_.
  const bool t32 = x.f32 && fit_f32;
  Num power = as(1.0, x.f32);
  Num acc = as(0.0, t32);
  for (std::size_t k = 0; k < coef.size(); ++k) {
    if (k == 1) power = x;
    if (k >= 2) power = power * x;
    acc = acc + as(power.v, t32) * as(coef[k], t32);
  }
  return acc + as(intercept, t32);
}

Result<Fit> fit(std::span<const double> x, std::span<const double> y, bool x_f32, bool y_f32,
                std::string_view what, int max_degree) {
  const std::string name(what);
  if (x.size() != y.size()) return fail(fmt::format("{}: x and y sizes differ", name));
  if (x.empty())
    return fail(fmt::format("{}: no point to fit (scikit-learn needs at least one sample)", name));
  if (max_degree < 1 || max_degree > 20)
    return fail(fmt::format("{}: bad maximum degree {}", name, max_degree));
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]) || !std::isfinite(y[i]))
      return fail(fmt::format("{}: non-finite value at point {}", name, i));
  return x_f32 ? fit_all<float>(x, y, y_f32, max_degree, name)
               : fit_all<double>(x, y, y_f32, max_degree, name);
}

Metrics metrics(std::span<const Num> truth, std::span<const Num> pred) {
  Metrics m{kNaN, kNaN, kNaN, kNaN};
  const std::size_t n = truth.size();
  if (n == 0 || pred.size() != n || !same_dtype(truth) || !same_dtype(pred)) return m;
  std::vector<Num> sq(n), ab(n), ape(n);
  bool zero_truth = false;
  for (std::size_t i = 0; i < n; ++i) {
    const Num d = truth[i] - pred[i];
    sq[i] = d * d;
    const Num a = pred[i] - truth[i];
    ab[i] = {std::abs(a.v), a.f32};
    // np.maximum(np.abs(y_true), eps64): the Python scalar takes y_true's dtype.
    const Num denom =
        as(std::max(std::abs(truth[i].v), std::numeric_limits<double>::epsilon()), truth[i].f32);
    ape[i] = ab[i] / denom;
    if (truth[i].v == 0) zero_truth = true;
  }
  m.rmse = root(mean(sq));
  m.mae = mean(ab).v;
  if (!zero_truth) m.mape = mean(ape).v;
  if (n >= 2) {
    // r2_score: both sums in float64 (sum(dtype=np.float64)), the mean of
    // y_true in its own dtype.
    const double numerator = buffered_sum_f64(sq);
    const Num t_mean = mean(truth);
    std::vector<Num> dev(n);
    for (std::size_t i = 0; i < n; ++i) {
      const Num d = truth[i] - t_mean;
      dev[i] = d * d;
    }
    const double denominator = buffered_sum_f64(dev);
    if (denominator != 0) m.r2 = 1.0 - numerator / denominator;
  }
  return m;
}

}  // namespace cinergy::model::paper
