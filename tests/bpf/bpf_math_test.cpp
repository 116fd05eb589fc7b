#include "bpf_math.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "cpu_account.h"

namespace cinergy::bpf::detail {
namespace {

struct Entry {
  std::uint32_t id;
  std::uint32_t slot;
};

TEST(SlotTable, PlacementInADirectMappedTable) {
  std::vector<Entry> t(8, Entry{0, 0});
  t[3] = {3, 1};
  t[5] = {13, 2};  // 13 & 7 = 5
  struct Case {
    std::uint32_t key;
    Placement want;
  } cases[] = {
      {3, Placement::present},   {13, Placement::present},
      {4, Placement::direct},    {11, Placement::overflow},  // 11 & 7 = 3, taken by 3
      {5, Placement::overflow},                              // taken by 13
      {21, Placement::overflow},                             // 21 & 7 = 5
      {8, Placement::direct},                                // 8 & 7 = 0, empty
  };
  constexpr std::uint32_t kDead = 0xFFFFFFFFu;
  for (const auto& c : cases)
    EXPECT_EQ((place_key<Entry, std::uint32_t>(std::span<const Entry>(t), c.key, 7, kDead)), c.want)
        << c.key;
  // A removed key's entry is free again for a new key, but not empty: keys
  // that collided with it (in the overflow map) must stay reachable.
  t[3] = {kDead, 1};
  EXPECT_EQ((place_key<Entry, std::uint32_t>(std::span<const Entry>(t), 11, 7, kDead)),
            Placement::direct);
  EXPECT_TRUE(entry_free<std::uint32_t>(0, kDead));
  EXPECT_TRUE(entry_free<std::uint32_t>(kDead, kDead));
  EXPECT_FALSE(entry_free<std::uint32_t>(3, kDead));
  // A smaller mask (tests) folds keys onto fewer entries: with mask 1, key 13
  // lands on entry 1 (taken by key 1) instead of its own entry 5.
  t[1] = {1, 3};
  EXPECT_EQ((place_key<Entry, std::uint32_t>(std::span<const Entry>(t), 13, 1, kDead)),
            Placement::overflow);
  EXPECT_EQ((place_key<Entry, std::uint32_t>(std::span<const Entry>(t), 13, 7, kDead)),
            Placement::present);
}

TEST(ReadMath, BusyAndRunningSlice) {
  RowSnapshot r;
  r.busy_ns = 100;
  r.busy_since_ns = 1000;
  EXPECT_EQ(busy_at(r, 5000), 100u);  // not initialized: folded value only
  r.initialized = true;
  EXPECT_EQ(busy_at(r, 5000), 100u);  // idle now
  r.busy = true;
  EXPECT_EQ(busy_at(r, 5000), 4100u);
  EXPECT_EQ(busy_at(r, 900), 100u);  // now before busy_since (clock skew): no negative

  std::vector<std::uint64_t> slots(8, 10);
  r.cur_slot = {2, 0, 5};
  r.switched_in_ns = 4000;
  add_running_slice(r, 5000, slots);  // not tracked
  EXPECT_EQ(slots, (std::vector<std::uint64_t>{10, 10, 10, 10, 10, 10, 10, 10}));
  r.cur_tracked = true;
  add_running_slice(r, 5000, slots);
  EXPECT_EQ(slots, (std::vector<std::uint64_t>{10, 10, 1010, 10, 10, 1010, 10, 10}));
  r.cur_slot = {9, 0, 0};  // out of range: ignored
  add_running_slice(r, 5000, slots);
  EXPECT_EQ(slots[2], 1010u);
}

TEST(ReadMath, ClockConversionUsesTheFreshestPair) {
  std::vector<RowSnapshot> rows(3);
  EXPECT_EQ(clocks_now(rows, 777).program_ns, 777u);  // no pair yet: identity
  EXPECT_EQ(clocks_now(rows, 777).task_ns, 777u);
  rows[0].calib_clock_ns = 50'000;
  rows[0].calib_task_ns = 40'000;
  rows[0].calib_mono_ns = 1'000;
  rows[2].calib_clock_ns = 60'100;
  rows[2].calib_task_ns = 48'000;  // the task clock lags by the IRQ/steal time so far
  rows[2].calib_mono_ns = 1'100;   // fresher
  EXPECT_EQ(clocks_now(rows, 1'500).program_ns, 60'500u);
  EXPECT_EQ(clocks_now(rows, 1'500).task_ns, 48'400u);
  EXPECT_EQ(clocks_now(std::span(rows).first(1), 1'500).program_ns, 50'500u);
  EXPECT_EQ(clocks_now(std::span(rows).first(1), 1'500).task_ns, 40'500u);
  EXPECT_EQ(clocks_now(rows, 1'000).program_ns, 60'100u);  // now before the pair: clamped
}

// The program's calibration (cpu_account.h, shared with the program): a pair
// read at a switch whose rq->clock was stale has a larger offset; it is
// refused, and the switch's staleness returned, measured against the pair
// kept. Offsets: mono - clock = 4'000'000 ns when fresh.
TEST(ReadMath, OfferPairKeepsTheFreshestPairAndMeasuresStaleness) {
  cinergy_cpu_row r{};
  constexpr std::uint64_t k2s = 2'000'000'000;
  struct Case {
    const char* what;
    std::uint64_t clock_ns, mono_ns;
    std::uint64_t want_stale_ns, want_pair_clock_ns;
  };
  const Case cases[] = {
      {"first pair: taken", 1'000'000, 5'000'000, 0, 1'000'000},
      {"fresh 1 ms later: taken", 2'000'000, 6'000'000, 0, 2'000'000},
      // A wakeup updated the clock 35 us before the switch.
      {"35 us stale: refused, measured", 3'000'000 - 35'000, 7'000'000, 35'000, 2'000'000},
      {"fresh again: taken", 3'500'000, 7'500'000, 0, 3'500'000},
      {"1.5 us late: refused, under the 2 us counted", 3'600'000 - 1'500, 7'600'000, 0, 3'500'000},
      {"fresh: taken", 3'700'000, 7'700'000, 0, 3'700'000},
      // Two seconds on one task without a handled switch, then a wakeup
      // preempting it, its clock 200 us stale: an allowance of 200 ppm of the
      // pair's age (400 us) would have taken it as drift.
      {"200 us stale after 2 s without a switch: refused", 3'700'000 + k2s - 200'000,
       7'700'000 + k2s, 200'000, 3'700'000},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(cinergy_offer_pair(&r, c.clock_ns, c.mono_ns), c.want_stale_ns) << c.what;
    EXPECT_EQ(r.calib_clock_ns, c.want_pair_clock_ns) << c.what;
  }
  // The clocks' relation changes for good (CLOCK_MONOTONIC stepped 50 us):
  // refused at first, then, after CINERGY_PAIR_CONFIRM_NS of refusals, the
  // best refused pair becomes the pair.
  const std::uint64_t mono7 = 7'700'000 + k2s;
  const std::uint64_t stepped = 4'050'000;
  EXPECT_EQ(cinergy_offer_pair(&r, mono7 + 1'000 - stepped, mono7 + 1'000), 50'000u);
  EXPECT_EQ(r.calib_clock_ns, 3'700'000u);
  const std::uint64_t later = mono7 + CINERGY_PAIR_CONFIRM_NS;
  cinergy_offer_pair(&r, later - stepped - 3'000, later);  // 3 us worse than the best refused
  EXPECT_EQ(static_cast<std::int64_t>(r.calib_mono_ns - r.calib_clock_ns),
            static_cast<std::int64_t>(stepped))
      << "the best refused pair";
  EXPECT_EQ(cinergy_offer_pair(&r, later + 1'000 - stepped, later + 1'000), 0u);
  EXPECT_EQ(r.calib_mono_ns, later + 1'000);
}

// User space converts with the row's pair as it is (the program's), and takes
// the task clock's lag from every row: the program refreshes it at every
// switch it handles while keeping an older, fresher pair.
TEST(ReadMath, ClockEstimateFollowsTheRowsPairAndLag) {
  ClockEstimate est;
  EXPECT_FALSE(est.valid());
  RowSnapshot r;
  r.calib_clock_ns = 1'000'000;
  r.calib_task_ns = 900'000;    // 100 us of steal so far
  r.calib_mono_ns = 5'000'000;  // offset 4'000'000
  est.update(r);
  ASSERT_TRUE(est.valid());
  EXPECT_EQ(est.offset_ns(), 4'000'000);
  EXPECT_EQ(est.at(5'500'000).program_ns, 1'500'000u);
  EXPECT_EQ(est.at(5'500'000).task_ns, 1'400'000u);
  r.calib_task_ns = 700'000;  // same pair, the lag grew to 300 us
  est.update(r);
  EXPECT_EQ(est.at(9'000'000).program_ns, 5'000'000u);
  EXPECT_EQ(est.at(9'000'000).task_ns, 5'000'000u - 300'000u);
  // Without the refresh, running slices would be extended by the steal time
  // since the pair: 200 us here, on every later read.
}

// Which rows are checked on their CPU before a read.
TEST(ReadMath, RowVerifierChecksUntilConfirmedAndSuspectsForever) {
  RowVerifier v;
  RowSnapshot r;
  r.initialized = r.busy = true;
  r.cur_task = 0xA;
  r.cur_gen = 7;
  EXPECT_TRUE(v.wants(r, 7)) << "an untracked task never found running";
  r.cur_tracked = true;
  EXPECT_FALSE(v.wants(r, 7)) << "a tracked task: the row knows it";
  r.cur_tracked = false;
  r.busy = false;
  EXPECT_FALSE(v.wants(r, 7)) << "an idle CPU";
  r.busy = true;
  const std::uint64_t ms = 1'000'000;
  v.learned(0xA, 0xA, 100 * ms);
  EXPECT_TRUE(v.wants(r, 7)) << "found running once";
  v.learned(0xA, 0xA, 120 * ms);
  EXPECT_TRUE(v.wants(r, 7)) << "twice, but within 50 ms (the same activation)";
  v.learned(0xA, 0xA, 160 * ms);
  EXPECT_FALSE(v.wants(r, 7)) << "found running at two separate checks: good";
  EXPECT_TRUE(v.wants(r, 8)) << "but its slots were looked up under older tables";
  r.cur_tracked = true;
  EXPECT_TRUE(v.wants(r, 8)) << "tracked or not: it may have been moved while it ran";
  r.cur_tracked = false;
  // A task found not running while its row showed it is a suspect for good.
  r.cur_task = 0xB;
  v.learned(0xB, 0xC, 200 * ms);
  v.learned(0xB, 0xB, 300 * ms);
  v.learned(0xB, 0xB, 400 * ms);
  EXPECT_TRUE(v.is_suspect(0xB));
  EXPECT_TRUE(v.wants(r, 7));
  v.add_suspect(0xA);  // the program saw its switch-out missing
  r.cur_task = 0xA;
  EXPECT_TRUE(v.wants(r, 7));
  // The rate limit: a burst of kBurst, then kRatePerS per second.
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += v.take(1'000'000'000) ? 1 : 0;
  EXPECT_EQ(allowed, static_cast<int>(RowVerifier::kBurst));
  EXPECT_FALSE(v.take(1'000'000'000));
  EXPECT_TRUE(v.take(1'000'000'000 + 10 * ms)) << "200/s: two tokens in 10 ms";
}

TEST(ReadMath, SeriesSums) {
  // Slots: 1 = vm dir, 2 = vm/vcpu0, 3 = vm/vcpu0/inner, 4 = pid.
  std::vector<std::uint64_t> slots{999, 10, 20, 5, 7};
  std::vector<SlotSeries> pairs{{1, 0}, {2, 0}, {2, 1}, {3, 0}, {3, 1}, {4, 2}, {9, 0}, {1, 7}};
  std::vector<std::uint64_t> raw(3, 123);
  sum_series(slots, pairs, raw);
  EXPECT_EQ(raw, (std::vector<std::uint64_t>{35, 25, 7}));  // slot 0 (sink) never counted
}

}  // namespace
}  // namespace cinergy::bpf::detail
