// The interval invariants (invariants.hpp), table-tested on hand-made samples.
#include "cinergy/sampler/invariants.hpp"

#include <gtest/gtest.h>

#include <vector>

using cinergy::sampler::InvariantChecker;
using cinergy::sampler::InvariantLimits;

namespace {

// Two CPUs, two series: a cgroup (any CPU) and a thread (one CPU); epsilon 10 us.
InvariantLimits limits() {
  InvariantLimits l;
  l.epsilon_ns = 10'000;
  l.online_cpus = 2;
  l.series_max_cpus = {0, 1};
  return l;
}

struct Step {
  std::int64_t dt_ns;
  std::vector<std::uint64_t> d_series, d_busy;  // increments over the interval
};

// Feeds a start sample at 0 and then each step's increments.
InvariantChecker run(const std::vector<Step>& steps, InvariantLimits l = limits()) {
  InvariantChecker c(std::move(l));
  std::int64_t t = 1'000'000;
  std::vector<std::uint64_t> series(2, 0), busy(2, 0), energy;
  c.add(t, energy, series, busy);
  for (const auto& s : steps) {
    t += s.dt_ns;
    for (std::size_t i = 0; i < 2; ++i) series[i] += s.d_series[i], busy[i] += s.d_busy[i];
    c.add(t, energy, series, busy);
  }
  return c;
}

}  // namespace

TEST(Invariants, EachKindAtAndPastItsBound) {
  struct Case {
    const char* what;
    Step step;
    std::uint64_t cpu, host, series;
  } cases[] = {
      {"everything within", {1'000'000, {2'000'000, 1'000'000}, {1'000'000, 1'000'000}}, 0, 0, 0},
      {"a CPU exactly at dt + epsilon", {1'000'000, {0, 0}, {1'010'000, 0}}, 0, 0, 0},
      {"a CPU 1 ns past it", {1'000'000, {0, 0}, {1'010'001, 0}}, 1, 0, 0},
      {"both CPUs past it: host too", {1'000'000, {0, 0}, {1'500'000, 1'500'000}}, 1, 1, 0},
      {"a cgroup on both CPUs is fine", {1'000'000, {2'020'000, 0}, {0, 0}}, 0, 0, 0},
      {"a cgroup beyond two CPUs", {1'000'000, {2'020'001, 0}, {0, 0}}, 0, 0, 1},
      {"a thread beyond one CPU", {1'000'000, {0, 1'500'000}, {0, 0}}, 0, 0, 1},
  };
  for (const auto& c : cases) {
    auto k = run({c.step}).counts();
    EXPECT_EQ(k.intervals, 1u) << c.what;
    EXPECT_EQ(k.cpu_busy, c.cpu) << c.what;
    EXPECT_EQ(k.host_busy, c.host) << c.what;
    EXPECT_EQ(k.series, c.series) << c.what;
    EXPECT_EQ(k.violations(), c.cpu + c.host + c.series) << c.what;
  }
}

TEST(Invariants, OverAndUnderInTurnAreBothSeenNotNetted) {
  // The symptom of a sample stamped before its reads: short then long.
  auto k = run({{1'000'000, {0, 0}, {200'000, 0}}, {1'000'000, {0, 0}, {1'800'000, 0}}}).counts();
  EXPECT_EQ(k.intervals, 2u);
  EXPECT_EQ(k.cpu_busy, 1u);
  EXPECT_NEAR(k.worst_cpu_ratio, 1'800'000.0 / 1'010'000.0, 1e-9);
}

TEST(Invariants, ZeroLengthIntervalsAndCountersGoingBackAreNotViolations) {
  InvariantChecker c(limits());
  std::vector<std::uint64_t> e, s{100, 100}, b{100, 100};
  c.add(10, e, s, b);
  c.add(10, e, s, b);  // same instant: not checked
  std::vector<std::uint64_t> back{50, 50};
  c.add(20, e, back, back);  // a counter that went back counts as 0
  EXPECT_EQ(c.counts().intervals, 1u);
  EXPECT_EQ(c.counts().violations(), 0u);
}

TEST(Invariants, SimulatedPowerOverTenMillisecondWindows) {
  InvariantLimits l = limits();
  l.max_power_w = 100.0;
  l.power_domain = 0;
  InvariantChecker c(l);
  std::vector<std::uint64_t> s{0, 0}, b{0, 0}, e{0};
  std::int64_t t = 0;
  c.add(t, e, s, b);
  // 1 ms samples at 100 W for 10 ms: one window at the bound, none over.
  for (int i = 0; i < 10; ++i) {
    t += 1'000'000;
    e[0] += 100'000;  // 100 W x 1 ms = 0.1 J
    c.add(t, e, s, b);
  }
  EXPECT_EQ(c.counts().power_windows, 1u);
  EXPECT_EQ(c.counts().sim_power, 0u);
  // One more whole update in a window is the meter's quantisation: allowed.
  for (int i = 0; i < 10; ++i) {
    t += 1'000'000;
    e[0] += i == 0 ? 200'000 : 100'000;
    c.add(t, e, s, b);
  }
  EXPECT_EQ(c.counts().sim_power, 0u);
  // Twice the maximum over a window is not.
  for (int i = 0; i < 10; ++i) {
    t += 1'000'000;
    e[0] += 200'000;
    c.add(t, e, s, b);
  }
  EXPECT_EQ(c.counts().power_windows, 3u);
  EXPECT_EQ(c.counts().sim_power, 1u);
  EXPECT_GT(c.counts().worst_power_ratio, 1.8);
  auto j = c.counts().to_json();
  EXPECT_EQ(j["violations"], 1);
  EXPECT_EQ(j["sim_power"], 1);
}
