// Table tests of the report's arithmetic: rates from cumulative counters and
// the min/max downsampling (every bucket keeps its min and max).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cinergy/report/series.hpp"
#include "trace.hpp"

using namespace cinergy::report;

namespace {

struct RateCase {
  std::string name;
  std::vector<std::int64_t> t_ns;
  std::vector<std::uint64_t> c;
  double scale;
  std::vector<double> want;  // NaN = no rate
};

TEST(DeriveRate, Table) {
  const double nan = kNaN;
  const std::vector<RateCase> cases = {
      {"1 J per s is 1 W", {0, 1'000'000'000}, {0, 1'000'000}, kWattsPerUjPerNs, {nan, 1.0}},
      {"1 kHz, 25 W", {0, 1'000'000, 2'000'000}, {5, 25'005, 50'005}, kWattsPerUjPerNs,
       {nan, 25.0, 25.0}},
      {"uneven intervals", {0, 1'000'000, 3'000'000}, {0, 10'000, 50'000}, kWattsPerUjPerNs,
       {nan, 10.0, 20.0}},
      {"time not advancing", {0, 1'000, 1'000}, {0, 10, 20}, kWattsPerUjPerNs, {nan, 10.0, nan}},
      {"counter going down", {0, 10, 20}, {100, 50, 60}, 1.0, {nan, nan, 1.0}},
      {"CPU ns to % of one CPU", {0, 1'000'000}, {0, 500'000}, kPercentPerNsPerNs, {nan, 50.0}},
      {"huge counters stay exact", {0, 1'000'000'000}, {9'000'000'000'000'000, 9'000'000'100'000'000},
       kWattsPerUjPerNs, {nan, 100.0}},
      {"single sample", {5}, {7}, 1.0, {nan}},
      {"empty", {}, {}, 1.0, {}},
  };
  for (const auto& c : cases) {
    auto got = derive_rate(c.t_ns, c.c, c.scale);
    ASSERT_EQ(got.size(), c.want.size()) << c.name;
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(c.want[i]))
        EXPECT_TRUE(std::isnan(got[i])) << c.name << " [" << i << "] = " << got[i];
      else
        EXPECT_NEAR(got[i], c.want[i], 1e-9 * std::max(1.0, c.want[i])) << c.name << " [" << i << "]";
    }
  }
  std::vector<std::int64_t> t{0, 1};
  std::vector<std::uint64_t> c{0};
  EXPECT_TRUE(derive_rate(t, c, 1.0).empty()) << "mismatched sizes";
}

TEST(BucketOf, Edges) {
  EXPECT_EQ(bucket_of(0, 0, 100, 10), 0u);
  EXPECT_EQ(bucket_of(9, 0, 100, 10), 0u);
  EXPECT_EQ(bucket_of(10, 0, 100, 10), 1u);
  EXPECT_EQ(bucket_of(99, 0, 100, 10), 9u);
  EXPECT_EQ(bucket_of(100, 0, 100, 10), 9u) << "the last sample belongs to the last bucket";
  EXPECT_EQ(bucket_of(-5, 0, 100, 10), 0u) << "clamped";
  EXPECT_EQ(bucket_of(500, 0, 100, 10), 9u) << "clamped";
  EXPECT_EQ(bucket_of(50, 0, 0, 10), 0u) << "zero span";
  EXPECT_EQ(bucket_of(50, 0, 100, 0), 0u) << "zero buckets";
  // Hours at ns resolution: 3 h, 4000 buckets.
  const std::int64_t span = 3LL * 3600 * 1'000'000'000;
  EXPECT_EQ(bucket_of(span / 2, 0, span, 4000), 2000u);
}

// Reference: for each time bucket, the min and max of the non-NaN values.
void expect_keeps_extremes(const std::string& name, const std::vector<std::int64_t>& t,
                           const std::vector<std::vector<double>>& ys, std::size_t buckets) {
  const Envelope env = downsample_minmax(t, ys, buckets);
  ASSERT_EQ(env.y.size(), ys.size()) << name;
  if (t.size() <= buckets) {
    EXPECT_EQ(env.x_ns, t) << name << ": few samples are kept as they are";
    for (std::size_t s = 0; s < ys.size(); ++s)
      for (std::size_t i = 0; i < t.size(); ++i)
        EXPECT_TRUE(env.y[s][i] == ys[s][i] || (std::isnan(env.y[s][i]) && std::isnan(ys[s][i])))
            << name;
    return;
  }
  EXPECT_LE(env.x_ns.size(), 2 * buckets) << name;
  EXPECT_TRUE(std::is_sorted(env.x_ns.begin(), env.x_ns.end())) << name;
  // Walk buckets in order; output points of a bucket are those with x in it.
  for (std::size_t s = 0; s < ys.size(); ++s) {
    std::size_t out = 0;
    for (std::size_t b = 0; b < buckets; ++b) {
      double mn = kNaN, mx = kNaN;
      std::size_t imn = 0, imx = 0, rows = 0;
      for (std::size_t i = 0; i < t.size(); ++i) {
        if (bucket_of(t[i], t.front(), t.back(), buckets) != b) continue;
        ++rows;
        const double v = ys[s][i];
        if (std::isnan(v)) continue;
        if (std::isnan(mn) || v < mn) { mn = v; imn = i; }
        if (std::isnan(mx) || v > mx) { mx = v; imx = i; }
      }
      if (rows == 0) continue;
      const std::size_t points = rows > 1 ? 2 : 1;
      ASSERT_LE(out + points, env.x_ns.size()) << name;
      std::vector<double> got(env.y[s].begin() + out, env.y[s].begin() + out + points);
      out += points;
      if (std::isnan(mn)) {
        for (double g : got) EXPECT_TRUE(std::isnan(g)) << name << " bucket " << b << ": all NaN";
        continue;
      }
      const double first = imn <= imx ? mn : mx, second = imn <= imx ? mx : mn;
      EXPECT_EQ(got.front(), first) << name << " series " << s << " bucket " << b;
      EXPECT_EQ(got.back(), second) << name << " series " << s << " bucket " << b;
      if (points == 2) {
        EXPECT_EQ(std::min(got[0], got[1]), mn) << name << " bucket " << b << " lost its min";
        EXPECT_EQ(std::max(got[0], got[1]), mx) << name << " bucket " << b << " lost its max";
      }
    }
    EXPECT_EQ(out, env.x_ns.size()) << name;
  }
}

std::vector<std::int64_t> ramp_t(std::size_t n, std::int64_t step = 1'000'000) {
  std::vector<std::int64_t> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::int64_t>(i) * step;
  return t;
}

TEST(DownsampleMinMax, KeepsEachBucketsMinAndMax) {
  const double nan = kNaN;
  expect_keeps_extremes("empty", {}, {{}}, 4);
  expect_keeps_extremes("single sample", {0}, {{3.0}}, 4);
  expect_keeps_extremes("fewer samples than buckets", ramp_t(3), {{1, 5, 2}}, 4);
  expect_keeps_extremes("exactly as many", ramp_t(4), {{1, 5, 2, 7}}, 4);
  expect_keeps_extremes("one bucket", ramp_t(6), {{4, 9, -1, 3, 8, 2}}, 1);
  expect_keeps_extremes("max before min", ramp_t(8), {{0, 9, 5, -3, 1, 1, 1, 1}}, 2);
  expect_keeps_extremes("min before max", ramp_t(8), {{5, -3, 9, 0, 1, 2, 3, 4}}, 2);
  expect_keeps_extremes("constant", ramp_t(10), {{2, 2, 2, 2, 2, 2, 2, 2, 2, 2}}, 3);
  expect_keeps_extremes("NaN ignored", ramp_t(8), {{nan, 4, nan, 1, 7, nan, 0, nan}}, 2);
  expect_keeps_extremes("all-NaN bucket", ramp_t(8), {{nan, nan, nan, nan, 1, 2, 3, 4}}, 2);
  expect_keeps_extremes("spike of one sample", ramp_t(1000), {std::vector<double>(1000, 1.0)}, 10);
  expect_keeps_extremes("two series, different extremes", ramp_t(9),
                        {{1, 2, 3, 4, 5, 6, 7, 8, 9}, {9, 1, 8, 2, 7, 3, 6, 4, 5}}, 3);
  // A time gap (an interrupted trace) leaves empty buckets: they give nothing.
  expect_keeps_extremes("gap", {0, 1, 2, 3, 1000, 1001, 1002, 1003}, {{1, 8, 3, 4, 5, 6, 0, 2}}, 10);
  // Negative and large values.
  expect_keeps_extremes("signs", ramp_t(6), {{-1e12, 1e12, 0, -0.5, 0.5, 3}}, 2);
  std::vector<double> spike(1000, 1.0);
  spike[537] = 250.0;
  spike[538] = -250.0;
  expect_keeps_extremes("spike kept", ramp_t(1000), {spike}, 10);
  auto env = downsample_minmax(ramp_t(1000), std::vector<std::vector<double>>{spike}, 10);
  EXPECT_NE(std::find(env.y[0].begin(), env.y[0].end(), 250.0), env.y[0].end());
  EXPECT_NE(std::find(env.y[0].begin(), env.y[0].end(), -250.0), env.y[0].end());
}

TEST(DownsampleMinMax, RandomisedAgainstReference) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> v(-100, 100);
  std::uniform_int_distribution<int> jitter(0, 400);
  for (int round = 0; round < 20; ++round) {
    const std::size_t n = 50 + static_cast<std::size_t>(round) * 37;
    std::vector<std::int64_t> t(n);
    std::int64_t acc = 0;
    for (auto& x : t) x = (acc += 1000 + jitter(rng));
    std::vector<std::vector<double>> ys(3, std::vector<double>(n));
    for (auto& s : ys)
      for (auto& x : s) x = (rng() % 17 == 0) ? kNaN : v(rng);
    expect_keeps_extremes("random round " + std::to_string(round), t, ys, 7 + round % 5);
  }
}

TEST(EnvelopeBuilder, RawLevelKeepsEveryRow) {
  EnvelopeBuilder b(2, 0, 30, 2, /*raw=*/true);
  for (int i = 0; i < 4; ++i) {
    const double row[2] = {double(i), -double(i)};
    b.add(i * 10, row);
  }
  auto env = b.finish();
  EXPECT_EQ(env.x_ns, (std::vector<std::int64_t>{0, 10, 20, 30}));
  EXPECT_EQ(env.y[1], (std::vector<double>{0, -1, -2, -3}));
}

TEST(DeltaEncoding, QuantisedDeltasAndNulls) {
  std::string s;
  cinergy::report::detail::append_delta_array(s, {10.0, 10.004, 10.5, kNaN, 9.0}, 0.01);
  EXPECT_EQ(s, "[1000,0,50,null,-150]");
  s.clear();
  cinergy::report::detail::append_delta_ints(s, {5, 7, 7, 1});
  EXPECT_EQ(s, "[5,2,0,-6]");
}

}  // namespace
