// Least-squares polynomial fits of power (W) against host load (%), with the
// degree chosen by grouped k-fold cross-validation (Cinergy) or by training
// RMSE (the paper).
//
// Numerics: the abscissa is scaled to u = (x - x_center) / x_scale in [-1, 1]
// and the design matrix [1 u u^2 .. u^D | y] is reduced, chunk by chunk, to
// its R factor with Householder QR (Eigen). The R factor of the full degree
// D problem holds every lower degree's solution (its leading block) and
// residual, and R factors of folds combine by another QR, so one pass over
// the data gives all degrees and all folds: O(n D^2) time, O(D^2) memory per
// fold, no n x D matrix.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::model {

// p(x) = sum_k coef[k] * u^k, u = (x - x_center) / x_scale (Form::scaled,
// the Cinergy method's fits: double, Horner).
//
// The paper's fits hold scikit-learn's form instead (paper.hpp): raw powers,
// p(x) = sum_k coef[k] * x^k + intercept, evaluated as
// LinearRegression.predict does, in float32 (Form::sklearn_f32, x rounded
// to float32 first) or float64; x_center is 0 and x_scale 1 there.
struct Polynomial {
  enum class Form { scaled, sklearn_f32, sklearn_f64 };
  std::vector<double> coef;
  double x_center = 0.0;
  double x_scale = 1.0;
  Form form = Form::scaled;
  double intercept = 0.0;  // the sklearn forms' intercept_ (0 for Form::scaled)

  [[nodiscard]] int degree() const { return static_cast<int>(coef.size()) - 1; }
  [[nodiscard]] bool sklearn() const { return form != Form::scaled; }
  [[nodiscard]] double operator()(double x) const;
  [[nodiscard]] double derivative(double x) const;  // dp/dx (per x unit, not per u)
  // Non-decreasing on [lo, hi], checked on a dense grid with a tolerance of
  // 1e-6 of the curve's span (flat parts pass).
  [[nodiscard]] bool non_decreasing(double lo, double hi) const;
};

enum class DegreeSelection { cross_validation, training_rmse };

struct FitOptions {
  DegreeSelection selection = DegreeSelection::cross_validation;
  int min_degree = 1;
  int max_degree = 14;
  int folds = 5;
  // Choose only among degrees whose curve is non-decreasing over the data
  // range; when none is, keep the best one and say so in PolyFit::note.
  bool require_non_decreasing = true;
};

struct PolyFit {
  Polynomial poly;
  int degree = 0;
  double x_lo = 0, x_hi = 0;  // range of the fitted x
  std::size_t n = 0;          // points used
  std::size_t levels = 0;     // distinct load levels (groups) in the data
  // Per degree min_degree..(last evaluated): NaN where not evaluated (rank deficient).
  std::vector<double> train_rmse_by_degree;
  std::vector<double> cv_rmse_by_degree;  // empty without cross-validation
  std::optional<double> cv_rmse;          // of the chosen degree
  double r2 = 0, rmse = 0, mae = 0;       // in-sample, of the chosen degree
  bool non_decreasing = true;             // over [x_lo, x_hi]
  int unconstrained_degree = 0;           // best degree before the monotone rule
  int rank = 0;                           // the paper: the rank LAPACK found at `degree`
  std::string note;                       // what the monotone rule did, if anything
  // Non-empty when the CV folds were not the data's own levels (a `target`
  // that never changes): how they were built instead.
  std::string folds_from;
};

// Fits y(x). `group` (same length as x, or empty) labels load levels: folds
// hold out whole levels (fold = group % folds), so the CV error measures
// interpolation between levels, not just noise; without groups, 10 bins of
// load with equal numbers of points are the levels. `what` names the data in
// error messages.
// Groups that give fewer than 3 levels while x takes 3 or more values (a
// constant `target`) are replaced by 10 bins of load with equal numbers of
// points (PolyFit::folds_from says so). Fewer than 3 levels of either kind:
// the least-squares line or the mean power, with a note, no degree search.
// Errors: size mismatch, non-finite values, no point at all.
Result<PolyFit> fit_polynomial(std::span<const double> x, std::span<const double> y,
                               std::span<const int> group, const FitOptions& options,
                               std::string_view what);

}  // namespace cinergy::model

namespace cinergy::model {

// One staircase's points for a joint fit: its step (the busy CPUs' load, %)
// and its (load %, power W) points with their load levels (see
// fit_polynomial's `group`; folds hold out whole levels).
struct StepPoints {
  int step_pct = 0;
  std::span<const double> x, y;
  std::span<const int> group;
};

// All staircases in one model, p(x, s) = sum_{i<=D, j<=J} c_ij b_i(u, j)
// v^j, u = (x - x_center) / x_scale, v = s / 100, with the degree D in load
// and the form J in the step chosen together by grouped CV (the lowest
// held-out MSE): J = 0 one curve for every step (the step does not matter),
// J = 1 a curve that changes linearly with the step, J = 2 (three steps or
// more) a curve of its own per step. Only candidates whose curve is
// non-decreasing at every step over the fitted loads are chosen (when none
// is, the best one, with a note).
// The step terms vanish at no load (`anchored`): b_i(u, 0) = u^i and, for j
// >= 1, b_i(u, j) = u^i - u_anchor^i (i >= 1), u_anchor the u of x = 0: at
// target 0 no staircase runs a worker, so every step is the same state and
// the data cannot make the steps' idle powers differ by their noise. Model
// files written before it hold unanchored fits (b_i = u^i for every j, i
// from 0), still read as such.
struct JointFit {
  int degree = 0;
  int form = 0;
  double x_center = 0, x_scale = 1, x_lo = 0, x_hi = 0;
  bool anchored = true;
  double u_anchor = 0;     // (0 - x_center) / x_scale when anchored
  std::vector<int> steps;  // ascending
  // i-major: (i, j) at i (J + 1) + j; anchored, the (0, j >= 1) terms do not
  // exist: (0, 0) first, then (i, j) at 1 + (i - 1) (J + 1) + j.
  // coefficient_count(D, J, anchored) of them.
  std::vector<double> coef;
  // Covariance of coef (row-major, coef.size()^2): sigma2 (X'X)^-1.
  std::vector<double> cov;
  double sigma2_w2 = 0;     // residual variance (W^2), n - p degrees of freedom
  double cv_mse_w2 = 0;     // held-out MSE of the chosen candidate
  double level_var_w2 = 0;  // max(0, cv_mse - sigma2): misfit between levels
  // Leave-one-step-out: each step strictly between the first and the last
  // predicted by the form-1 model of the others (same degree, at most 6),
  // its excess RMS error over the noise relative to the RMS dynamic power
  // there (NaN with fewer than three steps).
  double transfer_rel = std::numeric_limits<double>::quiet_NaN();
  std::size_t n = 0;
  std::size_t candidates = 0;  // (D, J) pairs evaluated
  std::string note;            // the monotone rule, if it acted

  [[nodiscard]] static int coefficient_count(int degree, int form, bool anchored) {
    return anchored ? 1 + degree * (form + 1) : (degree + 1) * (form + 1);
  }
  // The curve of one step (any s, in %): a Form::scaled polynomial in x.
  [[nodiscard]] Polynomial at_step(double step_pct) const;
  // d p(x, s) / d coef, for variances: g' cov g.
  [[nodiscard]] std::vector<double> gradient(double x, double step_pct) const;
  [[nodiscard]] double variance(const std::vector<double>& g) const;
};

// The CV fold of a window of load level `level` in step `step_index` (the
// steps' ascending order): fit_joint's, and any comparison with its CV error
// must hold out the same windows. Consecutive levels of a step fall in
// different folds, and the steps' folds are shifted against each other.
[[nodiscard]] inline int joint_fold(int level, int step_index, int folds) {
  return ((level + step_index) % folds + folds) % folds;
}

// Errors: fewer than two steps, a step with fewer than 3 levels (fit each
// step alone then), a size mismatch or non-finite value, no candidate that
// can be solved in every fold.
Result<JointFit> fit_joint(std::span<const StepPoints> steps, const FitOptions& options,
                           std::string_view what);

}  // namespace cinergy::model
