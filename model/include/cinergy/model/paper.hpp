// The paper method's arithmetic, operation for operation as the published
// notebook's libraries run it, so that the same CSV files give the
// notebook's numbers (docs/model.md, "The paper method", says what is exact
// and what is not; tests/model/paper_reference.py checks it against pandas
// and scikit-learn):
//
// * pandas' to_numeric(downcast="float") holds a column in float32 when it
//   can (downcasts_to_float32), so the fit, the estimate and the metrics run
//   in float32; a column it keeps in float64 promotes what it touches, as
//   numpy does (Num);
// * scikit-learn's PolynomialFeatures + LinearRegression: raw powers x^k by
//   repeated multiplication, columns and target centred on their means
//   (numpy's summation orders: numpy_sum, column_sum), then LAPACK's
//   minimum-norm least-squares solve (?gelsd, rcond = the dtype's epsilon)
//   in the input dtype, the very routine scipy.linalg.lstsq calls;
// * dot products in BLAS order (sequential, as the reference BLAS sums).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::model::paper {

// pandas to_numeric(..., downcast="float"): float32 when every value lies
// within 5e-4 of its float32 rounding (NaN matching NaN), else float64.
bool downcasts_to_float32(std::span<const double> column);

// A number as numpy holds it: `v` is exact in its dtype (float32 when f32).
struct Num {
  double v = 0;
  bool f32 = true;
};
// `v` rounded to the dtype.
Num as(double v, bool f32);
// numpy's binary operations between arrays: float32 when both operands
// are, else float64 (a float32 operand converts exactly).
Num operator+(Num a, Num b);
Num operator-(Num a, Num b);
Num operator*(Num a, Num b);
Num operator/(Num a, Num b);

// numpy's add.reduce over a contiguous 1-D (or n x 1) array: pairwise
// summation (8 accumulators, blocks of up to 128) within buffers of 8192
// elements, the buffers' sums added in order.
float numpy_sum(std::span<const float> a);
double numpy_sum(std::span<const double> a);

// LinearRegression.predict(PolynomialFeatures(degree).transform(x)) at one
// x, for the fit's coef_ (coef[0] is the bias column's, coef[k] x^k's) and
// intercept_ in the fit's dtype (`fit_f32`): the powers in x's dtype, the
// dot product in order in the promoted dtype, then the intercept.
Num predict(std::span<const double> coef, double intercept, bool fit_f32, Num x);

struct Fit {
  std::vector<double> coef;  // coef_, exact in the fit's dtype
  double intercept = 0;      // intercept_
  bool f32 = true;           // the fit's dtype: float32, else float64
  int degree = 0;            // 1..max_degree: the lowest training RMSE, the first of equal ones
  int rank = 0;  // the rank ?gelsd found for that degree (at most degree: the bias column is 0)
  std::vector<double> rmse_by_degree;  // degrees 1..max_degree, in the fit's dtype
  std::size_t n = 0;
  double x_lo = 0, x_hi = 0;  // range of the fitted x
};

// Fits y(x) at every degree 1..max_degree as the notebook does and keeps
// the lowest training RMSE (no minimum number of points or levels: a
// rank-deficient design gets the minimum-norm solution). `x_f32`: x's dtype,
// which the fit runs in (LinearRegression casts y to it); `y_f32`: y's,
// which its training RMSE is taken against. Errors: no point,
// sizes differ, a non-finite value or power (scipy refuses those too), a
// non-finite training RMSE, LAPACK failing to converge. `what` names the
// data in errors.
Result<Fit> fit(std::span<const double> x, std::span<const double> y, bool x_f32, bool y_f32,
                std::string_view what, int max_degree = 14);

// scikit-learn's regression metrics with the ground truth as y_true
// (r2_score, mean_squared_error(squared=False), mean_absolute_error,
// mean_absolute_percentage_error), each in numpy's dtypes and summation
// orders. Undefined values are NaN (the caller says why): r2 with fewer
// than two points or a constant truth (scikit-learn returns 0 or 1 there),
// MAPE when a truth is 0 W (scikit-learn divides by 2.2e-16).
struct Metrics {
  double r2, rmse, mae, mape;  // mape a fraction
};
Metrics metrics(std::span<const Num> truth, std::span<const Num> pred);

}  // namespace cinergy::model::paper
