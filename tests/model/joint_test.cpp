// The joint fit of the staircases (polyfit.hpp, fit_joint) and the interval
// of every Cinergy estimate (HostModel::isolated_interval).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cinergy/model/host_model.hpp"
#include "cinergy/model/polyfit.hpp"

namespace cinergy::model {
namespace {

struct Step {
  int step;
  std::vector<double> x, y;
  std::vector<int> group;
};

// `levels` levels in [0, hi] per step, `per` points each, y = f(x, step) + noise.
template <typename F>
std::vector<Step> make(F f, std::vector<int> steps, double hi, int levels, int per, double sd,
                       unsigned seed = 3) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<Step> out;
  for (int s : steps) {
    Step st{s, {}, {}, {}};
    for (int l = 0; l < levels; ++l)
      for (int r = 0; r < per; ++r) {
        const double x = hi * l / (levels - 1);
        st.x.push_back(x);
        st.y.push_back(f(x, s) + sd * noise(rng));
        st.group.push_back(l);
      }
    out.push_back(std::move(st));
  }
  return out;
}

std::vector<StepPoints> points(const std::vector<Step>& s) {
  std::vector<StepPoints> p;
  for (const auto& st : s) p.push_back({st.step, st.x, st.y, st.group});
  return p;
}

TEST(FitJoint, ExactOnAModelOfItsFamily) {
  // 50 + 2x - 0.01x^2 + (x / 10)(s / 100): degree 2, linear in the step.
  auto f = [](double x, int s) { return 50 + 2 * x - 0.01 * x * x + 0.1 * x * s / 100.0; };
  const auto data = make(f, {25, 50, 100}, 40, 12, 3, 0.0);
  auto j = fit_joint(points(data), {}, "exact");
  ASSERT_TRUE(j) << j.error().message;
  for (int s : {25, 50, 75, 100})
    for (double x : {0.0, 7.5, 33.0}) EXPECT_NEAR(j->at_step(s)(x), f(x, s), 1e-6);
  EXPECT_GE(j->form, 1);
  EXPECT_LT(j->sigma2_w2, 1e-12);
}

TEST(FitJoint, TheStepIsDroppedWhenItDoesNotMatter) {
  auto f = [](double x, int) { return 80 + 30 * std::sqrt(x / 40.0 + 0.01); };
  const auto data = make(f, {25, 50, 100}, 40, 15, 10, 0.5);
  auto j = fit_joint(points(data), {}, "no step effect");
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ(j->form, 0);  // one curve: pooling the three staircases
  EXPECT_GT(j->candidates, 10u);
  for (double x : {2.0, 20.0, 38.0}) EXPECT_NEAR(j->at_step(50)(x), f(x, 50), 0.5);
}

TEST(FitJoint, AStepThatMattersKeepsItsOwnCurve) {
  // Concave in x with a curvature that changes with the step (not linear in it).
  auto f = [](double x, int s) {
    const double k = s == 50 ? 0.02 : 0.005;
    return 60 + 3 * x - k * x * x;
  };
  const auto data = make(f, {25, 50, 100}, 40, 12, 10, 0.3);
  auto j = fit_joint(points(data), {}, "own curves");
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ(j->form, 2);
  for (int s : {25, 50, 100}) EXPECT_NEAR(j->at_step(s)(30), f(30, s), 0.5);
  // Leave step 50 out: the others cannot predict it, which transfer_rel says.
  EXPECT_TRUE(std::isfinite(j->transfer_rel));
  EXPECT_GT(j->transfer_rel, 0.01);
}

TEST(FitJoint, CovarianceMatchesTheErrorOverNoiseDraws) {
  // Each draw's error at x = 15 in units of its own predicted standard
  // deviation: about unit variance when the covariance is right.
  auto f = [](double x, int s) { return 50 + x + 0.002 * x * s; };
  double z2 = 0;
  const int draws = 80;
  for (int seed = 1; seed <= draws; ++seed) {
    const auto data = make(f, {25, 50, 100}, 20, 8, 5, 1.0, static_cast<unsigned>(seed));
    auto j = fit_joint(points(data), {}, "cov");
    ASSERT_TRUE(j);
    const double e = j->at_step(50)(15) - f(15, 50);
    z2 += e * e / j->variance(j->gradient(15, 50));
  }
  EXPECT_GT(z2 / draws, 0.5);
  EXPECT_LT(z2 / draws, 2.0);
}

// At target 0 no staircase runs a worker: every step is the same state.
// Staircases whose idle windows differ by noise (here 0.4 W apart, as the
// three idle means of a real case did) still give one idle power, and the
// step terms' variance vanishes there.
TEST(FitJoint, EveryStepIdlesAtTheSamePower) {
  auto f = [](double x, int s) { return 40 + (1 + s / 200.0) * x; };
  auto data = make(f, {25, 50, 100}, 30, 10, 6, 0.05);
  const double idle_bias[] = {-0.2, 0.0, 0.2};
  for (std::size_t k = 0; k < data.size(); ++k)
    for (std::size_t i = 0; i < data[k].x.size(); ++i)
      if (data[k].x[i] == 0) data[k].y[i] += idle_bias[k];
  auto j = fit_joint(points(data), {}, "anchored");
  ASSERT_TRUE(j) << j.error().message;
  ASSERT_TRUE(j->anchored);
  EXPECT_GE(j->form, 1);  // the slope depends on the step
  EXPECT_EQ(j->coef.size(),
            static_cast<std::size_t>(JointFit::coefficient_count(j->degree, j->form, true)));
  const double idle25 = j->at_step(25)(0);
  for (int s : {50, 75, 100}) EXPECT_NEAR(j->at_step(s)(0), idle25, 1e-9) << s;
  EXPECT_NEAR(j->variance(j->gradient(0, 100)), j->variance(j->gradient(0, 25)), 1e-12);
  for (int s : {25, 100}) EXPECT_NEAR(j->at_step(s)(20), f(20, s), 0.2) << s;
}

// Model files written before the anchored basis hold the plain one
// (sum coef[i (J+1) + j] u^i v^j): read as such, and a size that fits
// neither basis is refused.
TEST(FitJoint, ModelFilesOfThePlainBasisStillRead) {
  HostModel m;
  m.host_threads = 8;
  JointFit plain;
  plain.degree = 1;
  plain.form = 1;
  plain.anchored = false;
  plain.x_center = 0;
  plain.x_scale = 1;
  plain.x_hi = 10;
  plain.steps = {25, 100};
  plain.coef = {10, 2, 3, 4};  // 10 + 2v + 3u + 4uv
  plain.cov.assign(16, 0.0);
  PolyFit pf;
  pf.poly = plain.at_step(50);
  pf.x_hi = 10;
  m.curves.push_back({50, "", pf, {}, {}});
  m.joint = plain;
  auto j = to_json(m);
  j["joint"].erase("anchored");  // as such a file has it
  j["joint"].erase("u_anchor");
  auto back = model_from_json(j, "old");
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_TRUE(back->joint);
  EXPECT_FALSE(back->joint->anchored);
  EXPECT_NEAR(back->joint->at_step(50)(2), 10 + 1 + (3 + 2) * 2, 1e-12);
  j["joint"]["anchored"] = true;  // 4 coefficients: not degree 1 form 1 anchored (3)
  j["joint"]["u_anchor"] = -1.0;
  EXPECT_FALSE(model_from_json(j, "mixed"));
}

TEST(FitJoint, Errors) {
  auto f = [](double x, int) { return x; };
  auto one = make(f, {50}, 10, 5, 2, 0.0);
  EXPECT_FALSE(fit_joint(points(one), {}, "one step"));
  auto few = make(f, {25, 50}, 10, 2, 2, 0.0);
  EXPECT_FALSE(fit_joint(points(few), {}, "two levels"));
  auto bad = make(f, {25, 50}, 10, 5, 2, 0.0);
  bad[0].y[1] = std::nan("");
  EXPECT_FALSE(fit_joint(points(bad), {}, "nan"));
  auto desc = make(f, {50, 25}, 10, 5, 2, 0.0);
  EXPECT_FALSE(fit_joint(points(desc), {}, "order"));
}

TEST(Interval, CoversTheEstimateWidensWithSpreadAndIsNaNForThePaper) {
  auto f = [](double x, int s) { return 60 + 3 * x - (s == 100 ? 0.03 : 0.01) * x * x; };
  const auto data = make(f, {25, 50, 100}, 40, 12, 10, 0.3);
  auto j = fit_joint(points(data), {}, "interval");
  ASSERT_TRUE(j);
  HostModel m;
  m.host_threads = 8;
  for (const auto& s : data) {
    PolyFit pf;
    pf.poly = j->at_step(s.step);
    pf.x_lo = j->x_lo;
    pf.x_hi = j->x_hi;
    m.curves.push_back({s.step, "", pf, {}, {}});
  }
  m.joint = *j;
  const Interval at0 = m.isolated_interval(0, 50);
  const Interval at30 = m.isolated_interval(30, 50);
  const double est = m.power_w(30, 50);
  EXPECT_LT(at30.low_w, est);
  EXPECT_GT(at30.high_w, est);
  // The steps disagree at 30 % (by 18 W), not at 0: wider there.
  EXPECT_GT(at30.high_w - at30.low_w, 10 * (at0.high_w - at0.low_w));
  m.method = Method::paper;
  EXPECT_TRUE(std::isnan(m.isolated_interval(30, 50).low_w));
}

TEST(Interval, RoundTripsThroughTheModelJson) {
  auto f = [](double x, int s) { return 60 + 2 * x + 0.001 * x * s; };
  const auto data = make(f, {25, 50, 100}, 40, 10, 5, 0.3);
  auto j = fit_joint(points(data), {}, "json");
  ASSERT_TRUE(j);
  HostModel m;
  m.host_threads = 16;
  m.vm_vcpus = 4;
  for (const auto& s : data) {
    PolyFit pf;
    pf.poly = j->at_step(s.step);
    pf.degree = pf.poly.degree();
    pf.x_lo = j->x_lo;
    pf.x_hi = j->x_hi;
    m.curves.push_back({s.step, "", pf, {}, {}});
  }
  m.joint = *j;
  auto back = model_from_json(to_json(m), "mem");
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_TRUE(back->joint);
  const Interval a = m.isolated_interval(12, 70), b = back->isolated_interval(12, 70);
  EXPECT_DOUBLE_EQ(a.low_w, b.low_w);
  EXPECT_DOUBLE_EQ(a.high_w, b.high_w);
  auto bad = to_json(m);
  bad["joint"]["cov"] = nlohmann::json::array({1.0});
  EXPECT_FALSE(model_from_json(bad, "bad"));
}

}  // namespace
}  // namespace cinergy::model
