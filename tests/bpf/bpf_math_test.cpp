#include "bpf_math.hpp"

#include <gtest/gtest.h>

#include <vector>

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
    EXPECT_EQ((place_key<Entry, std::uint32_t>(std::span<const Entry>(t), c.key, 7, kDead)),
              c.want)
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
