#include <gtest/gtest.h>

#include "cinergy/sampler/energy_source.hpp"
#include "cinergy/sampler/specpower.hpp"
#include "fakes.hpp"
#include "temp_dir.hpp"

using namespace cinergy::sampler;
using cinergy::test::TempDir;

TEST(SpecPower, EmbeddedCsvHasTheDefaultHost) {
  auto curves = parse_specpower_csv(embedded_specpower_csv());
  ASSERT_TRUE(curves) << curves.error().what();
  EXPECT_EQ(curves->size(), 619u);
  auto c = find_spec_curve("");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->result_id, kDefaultSimHost);
  EXPECT_EQ(c->chips, 2);
  EXPECT_DOUBLE_EQ(c->watts[0], 61.5);
  EXPECT_DOUBLE_EQ(c->watts[10], 318);
}

TEST(SpecPower, InterpolatesAndClamps) {
  SpecCurve c;
  c.watts = {100, 110, 130, 140, 150, 160, 170, 180, 190, 200, 300};
  EXPECT_DOUBLE_EQ(c.power_w(0), 100);
  EXPECT_DOUBLE_EQ(c.power_w(0.05), 105);
  EXPECT_DOUBLE_EQ(c.power_w(0.15), 120);
  EXPECT_DOUBLE_EQ(c.power_w(0.95), 250);
  EXPECT_DOUBLE_EQ(c.power_w(1.0), 300);
  EXPECT_DOUBLE_EQ(c.power_w(-1), 100);
  EXPECT_DOUBLE_EQ(c.power_w(7), 300);
}

TEST(SpecPower, UnknownHostAndBadCsv) {
  auto c = find_spec_curve("power_ssj2008-nope");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("unknown --sim-host 'power_ssj2008-nope'"), std::string::npos);
  EXPECT_FALSE(parse_specpower_csv("a,b\n1,2\n"));
  EXPECT_FALSE(parse_specpower_csv(
      "result_id,chips,threads,watts_idle,watts_10,watts_20,watts_30,watts_40,watts_50,watts_60,"
      "watts_70,"
      "watts_80,watts_90,watts_100\nx,1,2,10,11,12,13,14,oops,16,17,18,19,20\n"));
  // Quoted fields with commas parse.
  auto q = parse_specpower_csv(
      "result_id,system,chips,threads,watts_idle,watts_10,watts_20,watts_30,watts_40,watts_50,"
      "watts_60,"
      "watts_70,watts_80,watts_90,watts_100\nx,\"Big, "
      "Server\",1,2,10,11,12,13,14,15,16,17,18,19,20\n");
  ASSERT_TRUE(q) << q.error().what();
  EXPECT_EQ((*q)[0].system, "Big, Server");
}

namespace {
std::int64_t g_now_ns = 0;
std::int64_t fake_clock() { return g_now_ns; }

class FixedUtil final : public UtilisationSource {
 public:
  explicit FixedUtil(double u) : u_(u) {}
  std::string_view name() const override { return "fixed"; }
  double busy_fraction() noexcept override {
    ++calls;
    return u_;
  }
  double u_;
  int calls = 0;
};

SimOptions sim_options(std::optional<std::uint32_t> initial) {
  SimOptions o;
  o.curve.result_id = "test";
  o.curve.watts = {100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200};
  o.clock_ns = &fake_clock;
  o.noise_rel = 0;
  o.initial_raw = initial;
  return o;
}
}  // namespace

TEST(SimMeter, EnergyFollowsCurveAtUtilisation) {
  g_now_ns = 1'000'000'000;
  auto u = std::make_unique<FixedUtil>(0.5);
  auto* util = u.get();
  auto s = open_sim(sim_options(1000), std::move(u));
  ASSERT_TRUE(s);
  EXPECT_TRUE((*s)->simulated());
  EXPECT_EQ((*s)->sim_host(), "test");
  ASSERT_EQ((*s)->domains().size(), 2u);
  EXPECT_EQ((*s)->domains()[0].name, "package-0");
  std::vector<std::uint64_t> e(2);
  (*s)->read(e);
  EXPECT_EQ(e[0], 0u);
  g_now_ns += 400'000;  // less than 1 ms: no update yet
  (*s)->read(e);
  EXPECT_EQ(e[0], 0u);
  for (int ms = 0; ms < 1000; ++ms) {
    g_now_ns += 1'000'000;
    (*s)->read(e);
  }
  // 150 W for 1 s = 150 J, quantised to 61.035 uJ units.
  EXPECT_NEAR(static_cast<double>(e[0]), 150e6, 62.0);
  EXPECT_EQ(e[1], e[0]);
  EXPECT_EQ(util->calls, 1000);
}

TEST(SimMeter, CounterWrapsAt32BitsAndIsCorrected) {
  g_now_ns = 0;
  auto s = open_sim(sim_options(0xFFFFFF00u), std::make_unique<FixedUtil>(1.0));
  ASSERT_TRUE(s);
  std::vector<std::uint64_t> e(2);
  (*s)->read(e);
  // 200 W x 1 ms = 200000 uJ = 3276.8 units per update: wraps on the first update.
  for (int ms = 0; ms < 10; ++ms) {
    g_now_ns += 1'000'000;
    (*s)->read(e);
  }
  EXPECT_NEAR(static_cast<double>(e[0]), 2e6, 62.0);
}

TEST(SimMeter, LazyUpdateCatchesUpWholeMilliseconds) {
  g_now_ns = 0;
  auto s = open_sim(sim_options(5), std::make_unique<FixedUtil>(0.0));
  ASSERT_TRUE(s);
  std::vector<std::uint64_t> e(2);
  (*s)->read(e);
  g_now_ns += 2'500'000;  // 2.5 ms: two whole updates
  (*s)->read(e);
  EXPECT_NEAR(static_cast<double>(e[0]), 200'000.0, 62.0);  // 100 W x 2 ms
  g_now_ns += 500'000;                                      // completes the third ms
  (*s)->read(e);
  EXPECT_NEAR(static_cast<double>(e[0]), 300'000.0, 62.0);
}

TEST(SimMeter, NoiseIsSmallAndSeeded) {
  auto run = [](std::uint64_t seed) {
    g_now_ns = 0;
    auto o = sim_options(1);
    o.noise_rel = 0.01;
    o.seed = seed;
    auto s = open_sim(o, std::make_unique<FixedUtil>(0.0));
    std::vector<std::uint64_t> e(2);
    (*s)->read(e);
    for (int ms = 0; ms < 1000; ++ms) {
      g_now_ns += 1'000'000;
      (*s)->read(e);
    }
    return e[0];
  };
  const auto a = run(1), b = run(1), c = run(2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NEAR(static_cast<double>(a), 100e6, 100e6 * 0.01);  // 1 % per update averages out
}

TEST(ProcStatUtilisation, FromFakeProcStat) {
  TempDir t;
  const auto f = t.write("stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n");
  auto u = open_proc_stat_utilisation(f);
  ASSERT_TRUE(u) << u.error().what();
  EXPECT_EQ((*u)->min_refresh_ns(), 10'000'000);
  t.write("stat", "cpu  200 0 200 1000 0 0 0 0 0 0\n");
  EXPECT_DOUBLE_EQ((*u)->busy_fraction(), 0.5);
  t.write("stat", "cpu  200 0 200 1000 0 0 0 0 0 0\n");  // no tick since: unchanged
  EXPECT_DOUBLE_EQ((*u)->busy_fraction(), 0.5);
  t.write("stat", "garbage\n");
  EXPECT_LT((*u)->busy_fraction(), 0);
  t.write("stat", "cpu  500 0 200 1100 0 0 0 0 0 0\n");
  EXPECT_DOUBLE_EQ((*u)->busy_fraction(), 0.75);
  EXPECT_FALSE(open_proc_stat_utilisation(t.path() / "missing"));
  t.write("bad", "intr 1 2 3\n");
  EXPECT_FALSE(open_proc_stat_utilisation(t.path() / "bad"));
}

// The simulated meter driven by the sampling loop's own accounting read: no
// second read per sample, utilisation over the online CPUs (the accounting
// covers every possible CPU), energy up to exactly the sample's instant.
TEST(SimMeter, FedByTheLoopsReadOverOnlineCpus) {
  TempDir sys;
  sys.write("online", "0\n");  // 1 CPU online of the fake's 2 possible
  cinergy::test::FakeAccounting acc;
  acc.clock_ns = [] { return std::int64_t{999'000'000}; };  // its one read, at open
  auto u = open_accounting_utilisation(&acc, sys.path());
  ASSERT_TRUE(u) << u.error().what();
  const auto reads_at_open = acc.reads.load();
  g_now_ns = 1'000'000'000;
  auto s = open_sim(sim_options(1), std::move(*u));
  ASSERT_TRUE(s);
  std::vector<std::uint64_t> e(2), series(3), busy(2);
  std::int64_t at = 0;
  (*s)->read(e);
  for (int i = 1; i <= 200; ++i) {
    // The loop's read: busy grows 0.9 ms per ms across the fake's two CPUs.
    busy = {static_cast<std::uint64_t>(i) * 600'000, static_cast<std::uint64_t>(i) * 300'000};
    at = 1'000'000'000 + static_cast<std::int64_t>(i) * 1'000'000;
    (*s)->on_accounting_read(busy, at);
    g_now_ns = at + 777'000;  // the meter's own clock is not used when fed
    (*s)->read(e);
  }
  EXPECT_EQ(acc.reads.load(), reads_at_open) << "the meter never read the accounting itself";
  // 0.9 CPU of 1 online = 90 %: 190 W on the test curve (100 W idle, 200 W full).
  const double joules = static_cast<double>(e[0]) / 1e6;
  EXPECT_NEAR(joules / 0.2, 190.0, 2.0) << "energy over the 200 fed ms";
  EXPECT_FALSE(open_accounting_utilisation(&acc, sys.path() / "missing"));
}
