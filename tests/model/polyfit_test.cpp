// Polynomial fits: exactness, degree choice, monotone rule, bad input.
#include "cinergy/model/polyfit.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace cinergy::model {
namespace {

using ::testing::HasSubstr;

struct Data {
  std::vector<double> x, y;
  std::vector<int> group;
};

// `levels` load levels in [lo, hi], `per` points each, y = f(x) + noise.
template <typename F>
Data make(F f, double lo, double hi, int levels, int per, double noise_sd, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, noise_sd);
  Data d;
  for (int l = 0; l < levels; ++l) {
    const double x = lo + (hi - lo) * l / (levels - 1);
    for (int r = 0; r < per; ++r) {
      const double xi = x + (noise_sd > 0 ? 0.01 * noise(rng) : 0.0);
      d.x.push_back(xi);
      d.y.push_back(f(xi) + (noise_sd > 0 ? noise(rng) : 0.0));
      d.group.push_back(l);
    }
  }
  return d;
}

TEST(Polynomial, EvaluatesInScaledAbscissa) {
  Polynomial p{{1.0, 2.0, 3.0}, 10.0, 5.0};  // 1 + 2u + 3u^2, u = (x-10)/5
  EXPECT_DOUBLE_EQ(p(10.0), 1.0);
  EXPECT_DOUBLE_EQ(p(15.0), 6.0);
  EXPECT_DOUBLE_EQ(p(5.0), 2.0);
  EXPECT_DOUBLE_EQ(p.derivative(15.0), (2.0 + 6.0) / 5.0);
  EXPECT_TRUE(p.non_decreasing(10, 20));
  EXPECT_FALSE(p.non_decreasing(0, 20));
}

TEST(FitPolynomial, ExactOnPolynomialsUpToHighDegree) {
  for (int degree : {1, 2, 3, 5, 8}) {
    auto f = [degree](double x) {
      double acc = 0, p = 1;
      for (int k = 0; k <= degree; ++k, p *= (x - 3.0) / 40.0) acc += (k % 2 ? 1.5 : 2.0) * p;
      return 40.0 + acc;
    };
    auto d = make(f, 0.0, 80.0, 30, 3, 0.0);
    FitOptions o;
    o.selection = DegreeSelection::training_rmse;
    o.min_degree = degree;
    o.max_degree = degree;
    o.require_non_decreasing = false;
    auto fit = fit_polynomial(d.x, d.y, d.group, o, "exact");
    ASSERT_TRUE(fit) << fit.error().message;
    EXPECT_EQ(fit->degree, degree);
    EXPECT_LT(fit->rmse, 1e-8) << degree;
    for (double x : {0.0, 13.7, 55.5, 80.0}) EXPECT_NEAR(fit->poly(x), f(x), 1e-7) << degree;
  }
}

TEST(FitPolynomial, StableOnFarFromZeroAbscissa) {
  // x in [1000, 1001]: monomials in raw x would be hopeless at degree 6.
  auto f = [](double x) {
    const double t = x - 1000.0;
    return 5 + t - 2 * t * t * t + t * t * t * t * t * t;
  };
  auto d = make(f, 1000.0, 1001.0, 40, 1, 0.0);
  FitOptions o;
  o.selection = DegreeSelection::training_rmse;
  o.min_degree = o.max_degree = 6;
  o.require_non_decreasing = false;
  auto fit = fit_polynomial(d.x, d.y, d.group, o, "far");
  ASSERT_TRUE(fit);
  EXPECT_LT(fit->rmse, 1e-9);
}

TEST(FitPolynomial, CrossValidationPicksTheTrueDegreeTrainingErrorOverfits) {
  auto f = [](double x) {
    return 50 + 1.2 * x - 0.006 * x * x;
  };  // concave, increasing on [0, 100]
  auto d = make(f, 0.0, 60.0, 25, 10, 0.8, 7);
  FitOptions cv;
  auto a = fit_polynomial(d.x, d.y, d.group, cv, "cv");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_GE(a->degree, 2);
  EXPECT_LE(a->degree, 3);
  ASSERT_TRUE(a->cv_rmse);
  EXPECT_NEAR(*a->cv_rmse, 0.8, 0.15);
  EXPECT_TRUE(a->non_decreasing);

  FitOptions train;
  train.selection = DegreeSelection::training_rmse;
  train.require_non_decreasing = false;
  auto b = fit_polynomial(d.x, d.y, d.group, train, "train");
  ASSERT_TRUE(b);
  // Training error never increases with the degree: the paper's rule takes a high degree.
  EXPECT_GE(b->degree, 10);
  EXPECT_LE(b->rmse, a->rmse);
  EXPECT_FALSE(b->cv_rmse);
}

TEST(FitPolynomial, WithoutGroupsBinsOfLoadFormFolds) {
  auto f = [](double x) { return 10 + 0.5 * x; };
  auto d = make(f, 0.0, 20.0, 12, 10, 0.2, 3);
  auto fit = fit_polynomial(d.x, d.y, {}, FitOptions{}, "nogroup");
  ASSERT_TRUE(fit);
  EXPECT_LE(fit->degree, 2);
  EXPECT_NEAR(fit->poly(10.0), 15.0, 0.1);
}

TEST(FitPolynomial, MonotoneRuleSkipsWigglyDegrees) {
  // A plateau with a dip in the data: the best curves dip too.
  auto f = [](double x) { return x < 10 ? 40 + 2 * x : 60 - 0.3 * std::sin((x - 10) / 3.0); };
  auto d = make(f, 0.0, 30.0, 31, 5, 0.05, 11);
  FitOptions o;
  auto fit = fit_polynomial(d.x, d.y, d.group, o, "dip");
  ASSERT_TRUE(fit);
  EXPECT_TRUE(fit->poly.non_decreasing(fit->x_lo, fit->x_hi) || !fit->note.empty());
  if (fit->degree != fit->unconstrained_degree) {
    EXPECT_THAT(fit->note, HasSubstr("non-decreasing"));
  }

  FitOptions off = o;
  off.require_non_decreasing = false;
  auto raw = fit_polynomial(d.x, d.y, d.group, off, "dip");
  ASSERT_TRUE(raw);
  EXPECT_FALSE(raw->poly.non_decreasing(raw->x_lo, raw->x_hi));
  EXPECT_TRUE(fit->non_decreasing);
  EXPECT_NE(fit->degree, raw->degree);
}

TEST(FitPolynomial, DecreasingDataIsReportedNotHidden) {
  auto d = make([](double x) { return 100 - x; }, 0.0, 50.0, 10, 3, 0.0);
  auto fit = fit_polynomial(d.x, d.y, d.group, FitOptions{}, "down");
  ASSERT_TRUE(fit);
  EXPECT_FALSE(fit->non_decreasing);
  EXPECT_THAT(fit->note, HasSubstr("contradicts"));
}

// A `target` that never changes (one group) while the load varies, as in
// traces of other tools: folds come from bins of load, the degree is still
// chosen by cross-validation, and the curve is the true one.
TEST(FitPolynomial, ConstantTargetFoldsFromBinsOfLoad) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> load(0.0, 100.0);
  std::normal_distribution<double> noise(0.0, 1.0);
  const auto truth = [](double x) { return 60 + 2.4 * x - 0.008 * x * x; };
  Data d;
  for (int i = 0; i < 2000; ++i) {
    const double x = load(rng);
    d.x.push_back(x);
    d.y.push_back(truth(x) + noise(rng));
    d.group.push_back(0);
  }
  auto fit = fit_polynomial(d.x, d.y, d.group, FitOptions{}, "trace");
  ASSERT_TRUE(fit) << fit.error().message;
  EXPECT_THAT(fit->folds_from, HasSubstr("folds from 10 bins of load"));
  EXPECT_THAT(fit->folds_from, HasSubstr("give 1 group(s)"));
  EXPECT_EQ(fit->levels, 10u);
  EXPECT_EQ(fit->degree, 2);
  EXPECT_TRUE(fit->cv_rmse.has_value());
  for (double x : {0.0, 25.0, 50.0, 75.0, 100.0}) EXPECT_NEAR(fit->poly(x), truth(x), 0.5) << x;
  // Groups that do label levels are kept as they are.
  auto levels = make(truth, 0.0, 100.0, 8, 20, 1.0);
  auto kept = fit_polynomial(levels.x, levels.y, levels.group, FitOptions{}, "staircase");
  ASSERT_TRUE(kept);
  EXPECT_TRUE(kept->folds_from.empty());
  EXPECT_EQ(kept->levels, 8u);
}

// Fewer than 3 levels: fitted anyway, the simplest curve the data can
// support, and said so; never refused while there is a point.
TEST(FitPolynomial, FewLevelsGiveTheLineOrTheMean) {
  std::vector<double> x{1, 1, 2, 2}, y{10, 12, 20, 22};
  auto line = fit_polynomial(x, y, {}, FitOptions{}, "two");
  ASSERT_TRUE(line) << line.error().message;
  EXPECT_EQ(line->degree, 1);
  EXPECT_NEAR(line->poly(1), 11, 1e-9);
  EXPECT_NEAR(line->poly(2), 21, 1e-9);
  EXPECT_THAT(line->note, HasSubstr("2 distinct loads: too few to choose a degree"));
  EXPECT_THAT(line->note, HasSubstr("the least-squares line"));
  std::vector<double> one{12.5, 12.5, 12.5}, w{70, 71, 72};
  auto mean = fit_polynomial(one, w, {}, FitOptions{}, "one");
  ASSERT_TRUE(mean);
  EXPECT_EQ(mean->degree, 0);
  EXPECT_NEAR(mean->poly(0), 71, 1e-9);
  EXPECT_NEAR(mean->poly(100), 71, 1e-9);
  EXPECT_THAT(mean->note, HasSubstr("one load (12.50 %)"));
  EXPECT_THAT(mean->note, HasSubstr("the mean power"));
  std::vector<double> down{10, 10, 20, 20}, dw{22, 20, 12, 10};
  auto falls = fit_polynomial(down, dw, {}, FitOptions{}, "down");
  ASSERT_TRUE(falls);
  EXPECT_EQ(falls->degree, 1);
  EXPECT_FALSE(falls->non_decreasing) << "reported, not hidden";
  EXPECT_THAT(falls->note, HasSubstr("it falls with load: the data contradicts a power curve"));
  // Three points, one per bin, three folds: each fold holds one load.
  std::vector<double> x3{0.5, 8, 17.25}, y3{60.45, 67.2, 75.525};
  auto three = fit_polynomial(x3, y3, std::vector<int>{0, 0, 0}, FitOptions{}, "three");
  ASSERT_TRUE(three) << three.error().message;
  EXPECT_EQ(three->degree, 1);
  EXPECT_NEAR(three->poly(10), 69, 1e-9);
}

TEST(FitPolynomial, BadInput) {
  std::vector<double> none;
  auto empty = fit_polynomial(none, none, {}, FitOptions{}, "t.csv");
  ASSERT_FALSE(empty);
  EXPECT_THAT(empty.error().message, HasSubstr("t.csv: no points to fit"));
  std::vector<double> x2{1, 2, 3}, y2{1, 2};
  EXPECT_FALSE(fit_polynomial(x2, y2, {}, FitOptions{}, "t"));
  std::vector<double> y3{1, NAN, 3};
  auto nan = fit_polynomial(x2, y3, {}, FitOptions{}, "t");
  ASSERT_FALSE(nan);
  EXPECT_THAT(nan.error().message, HasSubstr("non-finite"));
  FitOptions bad;
  bad.min_degree = 5;
  bad.max_degree = 2;
  EXPECT_FALSE(fit_polynomial(x2, x2, {}, bad, "t"));
}

}  // namespace
}  // namespace cinergy::model
