#include "cinergy/sampler/histogram.hpp"

#include <gtest/gtest.h>

using cinergy::sampler::LogHistogram;

TEST(LogHistogram, IndexAndLowerAreConsistent) {
  for (std::uint64_t v :
       {0ull, 1ull, 31ull, 32ull, 33ull, 63ull, 64ull, 1000ull, 123456789ull, 1ull << 40}) {
    const unsigned i = LogHistogram::index_of(v);
    EXPECT_LE(LogHistogram::lower_of(i), v) << v;
    EXPECT_GT(LogHistogram::lower_of(i + 1), v) << v;
  }
  EXPECT_LT(LogHistogram::index_of(UINT64_MAX), LogHistogram::kBuckets);
}

TEST(LogHistogram, QuantilesWithinThreePercent) {
  LogHistogram h;
  for (std::uint64_t v = 1; v <= 100000; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.max(), 100000u);
  EXPECT_NEAR(h.quantile(0.5), 50000, 50000 * 0.03);
  EXPECT_NEAR(h.quantile(0.99), 99000, 99000 * 0.03);
  EXPECT_NEAR(h.quantile(0.05), 5000, 5000 * 0.03);
  EXPECT_LE(h.quantile(1.0), 100000);
}

TEST(LogHistogram, SmallValuesExact) {
  LogHistogram a;
  for (int i = 0; i < 10; ++i) a.record(3);
  for (int i = 0; i < 30; ++i) a.record(7);
  EXPECT_EQ(a.count(), 40u);
  EXPECT_EQ(a.quantile(0.1), 3);
  EXPECT_EQ(a.quantile(0.9), 7);
  LogHistogram empty;
  EXPECT_EQ(empty.quantile(0.5), 0);
}
