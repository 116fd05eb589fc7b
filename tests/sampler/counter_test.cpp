#include "cinergy/sampler/counter.hpp"

#include <gtest/gtest.h>

using namespace cinergy::sampler;

TEST(EnergyUnit, FromPowerUnitMsr) {
  EXPECT_DOUBLE_EQ(energy_unit_uj(0xA0E03), 61.03515625);  // ESU 14 (Xeon Scalable)
  EXPECT_DOUBLE_EQ(energy_unit_uj(0xA1003), 15.2587890625);  // ESU 16 (client)
  EXPECT_DOUBLE_EQ(energy_unit_uj(0x0000), 1e6);             // ESU 0: 1 J
  EXPECT_DOUBLE_EQ(energy_unit_uj(0x1F00), 1e6 / 2147483648.0);  // only bits 12:8
}

struct StepCase {
  std::uint64_t prev, cur, modulus;
  std::int64_t dt_ns, max_gap_ns;
  std::uint64_t delta;
  bool wrapped, gap;
};

TEST(CounterStep, Table) {
  const StepCase cases[] = {
      {100, 150, kMsrModulus, 1'000'000, 0, 50, false, false},
      {100, 100, kMsrModulus, 1'000'000, 0, 0, false, false},
      {0xFFFFFFF0u, 0x10, kMsrModulus, 1'000'000, 0, 0x20, true, false},
      {0xFFFFFFFFu, 0, kMsrModulus, 1'000'000, 0, 1, true, false},
      {262143328850ull, 1000, 262143328850ull, 1'000'000, 0, 1000, true, false},  // powercap range
      {5, 4, 10, 1, 0, 9, true, false},
      {1, 2, 10, 2'000, 1'000, 1, false, true},   // longer than max gap: suspect
      {1, 2, 10, 1'000, 1'000, 1, false, false},  // exactly the max gap: fine
  };
  for (const auto& c : cases) {
    auto s = counter_step(c.prev, c.cur, c.modulus, c.dt_ns, c.max_gap_ns);
    EXPECT_EQ(s.delta_raw, c.delta) << c.prev << "->" << c.cur;
    EXPECT_EQ(s.wrapped, c.wrapped) << c.prev << "->" << c.cur;
    EXPECT_EQ(s.suspect_gap, c.gap) << c.prev << "->" << c.cur;
  }
}

TEST(Counter, FirstSampleIsZeroThenAccumulates) {
  Counter c(kMsrModulus, 61.03515625);
  EXPECT_FALSE(c.primed());
  EXPECT_TRUE(c.update(123456, 0));
  EXPECT_EQ(c.energy_uj(), 0u);
  EXPECT_TRUE(c.update(123456 + 1000, 1'000'000));
  EXPECT_EQ(c.energy_uj(), 61035u);  // 1000 x 61.035 uJ, rounded down
}

TEST(Counter, ExtendsAcrossSeveralWraps) {
  Counter c(kMsrModulus, 1.0);
  std::uint64_t raw = 0xFFFF0000u;
  c.update(raw, 0);
  std::uint64_t expected = 0;
  for (int i = 1; i <= 100; ++i) {
    raw = (raw + 0x08000000u) % kMsrModulus;  // 1/32 of the range per step
    expected += 0x08000000u;
    ASSERT_TRUE(c.update(raw, i * 1'000'000));
  }
  EXPECT_EQ(c.energy_uj(), expected);
  EXPECT_EQ(c.wraps(), 4u);  // from 2^32 - 2^16, 3.125 x 2^32 further: crosses 0 four times
  EXPECT_EQ(c.suspect_gaps(), 0u);
}

TEST(Counter, PowercapWrapsAtMaxEnergyRange) {
  const std::uint64_t range = 262143328850ull;
  Counter c(range, 1.0);
  c.update(range - 500, 0);
  c.update(700, 1'000'000);
  EXPECT_EQ(c.energy_uj(), 1200u);
  EXPECT_EQ(c.wraps(), 1u);
}

TEST(Counter, RejectsImpossibleValueAndKeepsState) {
  Counter c(1000, 1.0);
  c.update(10, 0);
  c.update(20, 1);
  EXPECT_FALSE(c.update(1000, 2));  // >= modulus
  EXPECT_FALSE(c.update(5000, 3));
  EXPECT_EQ(c.energy_uj(), 10u);
  c.update(30, 4);
  EXPECT_EQ(c.energy_uj(), 20u);
}

TEST(Counter, ReportsGapThatCouldHideAWrap) {
  // 2^32 x 61 uJ = 262 kJ: at 1000 W it wraps in 262 s.
  Counter c(kMsrModulus, 61.03515625);
  EXPECT_EQ(c.max_gap_ns(), 262'144'000'000);
  c.update(0, 0);
  c.update(10, 1'000'000'000);  // 1 s: fine
  EXPECT_EQ(c.suspect_gaps(), 0u);
  c.update(20, 1'000'000'000 + 300'000'000'000);  // 300 s later: a wrap could hide
  EXPECT_EQ(c.suspect_gaps(), 1u);
  EXPECT_EQ(c.total_raw(), 20u);  // applied, one wrap at most assumed, but reported
}

TEST(ParseU64, Table) {
  std::uint64_t v = 0;
  EXPECT_TRUE(parse_u64("123\n", 4, v));
  EXPECT_EQ(v, 123u);
  EXPECT_TRUE(parse_u64("0", 1, v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(parse_u64("18446744073709551615", 20, v));
  EXPECT_EQ(v, UINT64_MAX);
  EXPECT_FALSE(parse_u64("18446744073709551616", 20, v));
  EXPECT_FALSE(parse_u64("", 0, v));
  EXPECT_FALSE(parse_u64("\n", 1, v));
  EXPECT_FALSE(parse_u64("12a", 3, v));
  EXPECT_FALSE(parse_u64("-1", 2, v));
  EXPECT_FALSE(parse_u64("garbage\n", 8, v));
}
