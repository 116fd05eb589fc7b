#include "proc_parse.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace cinergy::bpf::detail {
namespace {

TEST(ProcParse, CpuStatUsage) {
  struct Case {
    const char* text;
    std::optional<std::uint64_t> want;
  } cases[] = {
      {"usage_usec 123456\nuser_usec 1\nsystem_usec 2\n", 123456},
      {"user_usec 1\nusage_usec 7\n", 7},
      {"usage_usec 0\n", 0},
      {"nr_periods 0\n", std::nullopt},
      {"", std::nullopt},
      {"usage_usec x\n", std::nullopt},
      {"xusage_usec 5\n", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_cpu_stat_usage_usec(c.text), c.want) << c.text;
}

TEST(ProcParse, Schedstat) {
  EXPECT_EQ(parse_schedstat_runtime_ns("123456789 42 7\n"), 123456789u);
  EXPECT_EQ(parse_schedstat_runtime_ns("0 0 0\n"), 0u);
  EXPECT_EQ(parse_schedstat_runtime_ns(""), std::nullopt);
  EXPECT_EQ(parse_schedstat_runtime_ns("abc"), std::nullopt);
}

TEST(ProcParse, ProcStatBusyExcludesIdleIowaitAndGuest) {
  const char* text =
      "cpu  100 100 100 100 100 100 100 100 100 100\n"
      "cpu0 10 1 5 1000 7 2 3 4 9 9\n"
      "cpu1 1 0 0 5 0 0 0 0 0 0\n"
      "intr 12345\n"
      "cpu3 2 0 0 0 0 0 0 0\n";  // cpu2 offline
  std::array<std::uint64_t, 4> busy{99, 99, 99, 99};
  EXPECT_EQ(parse_proc_stat_busy_ticks(text, busy), 4u);
  EXPECT_EQ(busy[0], 10u + 1 + 5 + 2 + 3 + 4);
  EXPECT_EQ(busy[1], 1u);
  EXPECT_EQ(busy[2], 99u);  // untouched
  EXPECT_EQ(busy[3], 2u);
  // Counting only (empty span), and a short span.
  EXPECT_EQ(parse_proc_stat_busy_ticks(text, {}), 4u);
  std::array<std::uint64_t, 1> one{};
  EXPECT_EQ(parse_proc_stat_busy_ticks(text, one), 4u);
  EXPECT_EQ(one[0], 25u);
  EXPECT_EQ(parse_proc_stat_busy_ticks("intr 1\n", busy), 0u);
}

TEST(CounterMath, BaselineAndMonotone) {
  struct Case {
    std::uint64_t prev, value, base, want;
  } cases[] = {
      {0, 100, 40, 60},  // normal
      {60, 50, 40, 60},  // went back (exited thread): held
      {60, 30, 40, 60},  // below baseline: 0, held at 60
      {0, 30, 40, 0},    // below baseline from the start
      {10, 10, 0, 10},   // equal
      {~0ull - 1, ~0ull, 0, ~0ull},
  };
  for (const auto& c : cases)
    EXPECT_EQ(clamp_monotonic(c.prev, since_baseline(c.value, c.base)), c.want)
        << c.prev << " " << c.value << " " << c.base;
}

}  // namespace
}  // namespace cinergy::bpf::detail
