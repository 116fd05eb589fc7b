// Polynomial fits: exactness, degree choice, monotone rule, bad input.
#include <cmath>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cinergy/model/polyfit.hpp"

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
  auto f = [](double x) { const double t = x - 1000.0; return 5 + t - 2 * t * t * t + t * t * t * t * t * t; };
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
  auto f = [](double x) { return 50 + 1.2 * x - 0.006 * x * x; };  // concave, increasing on [0, 100]
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

TEST(FitPolynomial, WithoutGroupsBlocksOfTenFormFolds) {
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

TEST(FitPolynomial, BadInput) {
  std::vector<double> x{1, 1, 2, 2}, y{1, 1, 2, 2};
  auto few = fit_polynomial(x, y, {}, FitOptions{}, "t.csv");
  ASSERT_FALSE(few);
  EXPECT_THAT(few.error().message, HasSubstr("t.csv: too few distinct load levels"));
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
