// Window aggregates from synthetic cumulative snapshots.
#include "cinergy/orchestrator/window.hpp"

#include <gtest/gtest.h>

#include <map>

namespace cinergy::orchestrator {
namespace {

std::map<std::string, double> as_map(const std::vector<Row>& rows) {
  std::map<std::string, double> m;
  for (const auto& [k, v] : rows) {
    EXPECT_FALSE(m.count(k)) << "duplicate row " << k;
    m[k] = v;
  }
  return m;
}

WindowLayout two_socket_layout() {
  WindowLayout l;
  l.domain_names = {"package-0", "dram-0", "package-1", "package-global"};
  l.series_names = {"noise", "vm", "vm/emulator", "vm/vcpu1", "vm/vcpu0"};
  l.cpu_socket = {0, 0, 1, 1};
  l.sockets = 2;
  return l;
}

sampler::Snapshot snap(std::int64_t t_ns, std::vector<std::uint64_t> e,
                       std::vector<std::uint64_t> s, std::vector<std::uint64_t> b) {
  sampler::Snapshot x;
  x.t_ns = t_ns;
  x.energy_uj = std::move(e);
  x.series_cpu_ns = std::move(s);
  x.cpu_busy_ns = std::move(b);
  return x;
}

TEST(Window, ExactDeltasEnergyPowerAndCpu) {
  const auto layout = two_socket_layout();
  // 2 s window. Energies: package-0 +40 J, dram-0 +6 J, package-1 +30 J, global +70 J.
  // The start counters are large (cumulative since t0, wraps already corrected).
  auto a = snap(1'000'000'000, {5'000'000'000, 100, 7'000'000'000, 12'000'000'000},
                {0, 10, 1, 4, 5}, {100, 100, 100, 100});
  auto b = snap(3'000'000'000, {5'040'000'000, 6'000'100, 7'030'000'000, 12'070'000'000},
                {3'000'000'000, 1'000'000'010, 40'000'001, 500'000'004, 400'000'005},
                {100 + 2'000'000'000, 100 + 1'000'000'000, 100 + 500'000'000, 100});
  auto w = aggregate_window(layout, a, b, true, {2'100'000.0, 1'200'000.0});
  EXPECT_DOUBLE_EQ(w.dt_s, 2.0);
  auto m = as_map(w.rows);
  EXPECT_DOUBLE_EQ(m["package-0-joule"], 40.0);
  EXPECT_DOUBLE_EQ(m["package-0-watt"], 20.0);
  EXPECT_DOUBLE_EQ(m["dram-0-joule"], 6.0);
  EXPECT_DOUBLE_EQ(m["dram-0-watt"], 3.0);
  EXPECT_DOUBLE_EQ(m["package-1-watt"], 15.0);
  EXPECT_DOUBLE_EQ(m["package-global-joule"], 70.0);
  EXPECT_DOUBLE_EQ(m["package-global-watt"], 35.0);
  EXPECT_DOUBLE_EQ(*w.host_watt, 35.0);
  // Busy: CPU0 100 %, CPU1 50 %, CPU2 25 %, CPU3 0 %.
  EXPECT_DOUBLE_EQ(m["cpu%_package-global"], 43.75);
  EXPECT_DOUBLE_EQ(m["cpu%_package-0"], 75.0);
  EXPECT_DOUBLE_EQ(m["cpu%_package-1"], 12.5);
  EXPECT_DOUBLE_EQ(m["freq_package-0"], 2'100'000.0);
  EXPECT_DOUBLE_EQ(m["freq_package-1"], 1'200'000.0);
  // vm: 1 s of CPU in 2 s = 50 % of one CPU; vcpu0 20 %, vcpu1 25 %.
  EXPECT_DOUBLE_EQ(m["vm"], 50.0);
  EXPECT_DOUBLE_EQ(m["CPU0"], 20.0);
  EXPECT_DOUBLE_EQ(m["CPU1"], 25.0);
  EXPECT_FALSE(m.count("noise")) << "the original format has no noise row";
  EXPECT_FALSE(m.count("emulator"));
  auto subjects = as_map(w.subject_cpu_pct);
  EXPECT_DOUBLE_EQ(subjects["noise"], 150.0);
  EXPECT_DOUBLE_EQ(subjects["vm"], 50.0);
  EXPECT_EQ(subjects.size(), 2u);
  // Busy 3.5 CPU-s of 8; noise 3 s + vm 1 s = 4 s: no time outside them
  // (the subjects' CPU can exceed the busy sum by rounding: clamped at 0).
  EXPECT_DOUBLE_EQ(w.other_cpu_pct, 0.0);
}

// Busy time no subject accounts for (other work on the host, the recorder):
// in % of the host, like cpu%_package-global; vm/ children not counted twice.
TEST(Window, OtherWorkIsTheBusyTimeOfNoSubject) {
  const auto layout = two_socket_layout();
  auto a = snap(0, {0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0});
  // 1 s: CPUs busy 1.0 + 0.6 + 0.4 + 0.2 = 2.2 CPU-s; noise 0.5 s, vm 0.9 s
  // (its children 0.9 s more: not added again) -> other 0.8 CPU-s = 20 %.
  auto b = snap(1'000'000'000, {1, 1, 1, 1}, {500'000'000, 900'000'000, 100'000'000, 400'000'000,
                                              400'000'000},
                {1'000'000'000, 600'000'000, 400'000'000, 200'000'000});
  auto w = aggregate_window(layout, a, b, true);
  EXPECT_DOUBLE_EQ(w.host_cpu_pct, 55.0);
  EXPECT_NEAR(w.other_cpu_pct, 20.0, 1e-12);
}

TEST(Window, RowOrderFollowsTheOriginal) {
  auto layout = two_socket_layout();
  auto a = snap(0, {0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0});
  auto b = snap(2'000'000'000, {1, 1, 1, 2}, {1, 1, 1, 1, 1}, {1, 1, 1, 1});
  auto w = aggregate_window(layout, a, b, true, {1.0, 1.0});
  std::vector<std::string> names;
  for (const auto& r : w.rows) names.push_back(r.first);
  EXPECT_EQ(names,
            (std::vector<std::string>{"package-0-joule", "package-0-watt", "dram-0-joule",
                                      "dram-0-watt", "package-1-joule", "package-1-watt",
                                      "package-global-joule", "package-global-watt",
                                      "cpu%_package-global", "cpu%_package-0", "freq_package-0",
                                      "cpu%_package-1", "freq_package-1", "vm", "CPU0", "CPU1"}));
}

TEST(Window, FirstWindowHasNoEnergyRows) {
  auto layout = two_socket_layout();
  auto a = snap(0, {0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0});
  auto b = snap(1'000'000'000, {9, 9, 9, 18}, {0, 0, 0, 0, 0}, {0, 0, 0, 0});
  auto w = aggregate_window(layout, a, b, false);
  for (const auto& [k, v] : w.rows) {
    EXPECT_EQ(k.find("joule"), std::string::npos) << k;
    EXPECT_EQ(k.find("watt"), std::string::npos) << k;
    EXPECT_EQ(k.find("freq"), std::string::npos) << "no frequency given: no row";
  }
  EXPECT_FALSE(w.host_watt);
}

TEST(Window, PackageGlobalIsSummedWhenTheSamplerHasNone) {
  WindowLayout l;
  l.domain_names = {"package-0", "core-0", "package-1", "psys"};
  l.cpu_socket = {0};
  auto a = snap(0, {0, 0, 0, 0}, {}, {0});
  auto b = snap(1'000'000'000, {10'000'000, 4'000'000, 5'000'000, 99'000'000}, {}, {0});
  auto m = as_map(aggregate_window(l, a, b, true).rows);
  EXPECT_DOUBLE_EQ(m["package-global-joule"], 15.0) << "packages only: never core or psys";
  EXPECT_DOUBLE_EQ(m["psys-watt"], 99.0);
}

TEST(Window, CountersGoingBackwardsGiveNoRowNeverANegativeNumber) {
  WindowLayout l;
  l.domain_names = {"package-0"};
  l.series_names = {"vm"};
  l.cpu_socket = {0, 0};
  auto a = snap(0, {100}, {50}, {10, 10});
  auto b = snap(1'000'000'000, {50}, {40}, {5, 500'000'010});
  auto w = aggregate_window(l, a, b, true);
  auto m = as_map(w.rows);
  EXPECT_FALSE(m.count("package-0-joule"));
  EXPECT_FALSE(m.count("package-global-joule")) << "incomplete package sum: no global";
  EXPECT_FALSE(m.count("vm"));
  EXPECT_DOUBLE_EQ(m["cpu%_package-global"], 50.0) << "only the CPU that could be read";
}

TEST(Window, EmptyOrNegativeDurationGivesNothing) {
  WindowLayout l;
  l.domain_names = {"package-0"};
  auto a = snap(5, {0}, {}, {});
  EXPECT_TRUE(aggregate_window(l, a, a, true).rows.empty());
}

TEST(Window, VcpuIndexParsing) {
  EXPECT_EQ(vcpu_index("vm/vcpu12", "vm"), 12);
  EXPECT_EQ(vcpu_index("vm/vcpu", "vm"), std::nullopt);
  EXPECT_EQ(vcpu_index("vm/vcpu1x", "vm"), std::nullopt);
  EXPECT_EQ(vcpu_index("vm/emulator", "vm"), std::nullopt);
  EXPECT_EQ(vcpu_index("other/vcpu1", "vm"), std::nullopt);
}

}  // namespace
}  // namespace cinergy::orchestrator
