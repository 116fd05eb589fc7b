#include <gtest/gtest.h>

#include "cinergy/common/error.hpp"

namespace {

cinergy::Result<int> parse_positive(int v) {
  if (v <= 0) return cinergy::fail("value must be positive, got " + std::to_string(v));
  return v;
}

TEST(Error, CarriesMessageAndErrno) {
  auto r = parse_positive(-3);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().what(), "value must be positive, got -3");
  auto e = cinergy::fail_errno(ENOENT, "open /nope");
  EXPECT_EQ(e.error().what(), "open /nope: No such file or directory");
  EXPECT_EQ(*parse_positive(4), 4);
}

}  // namespace
