// The pace of the error path's host reads: one a second per key.
#include "host/read_pacing.hpp"

#include <string>
#include <utility>

#include <gtest/gtest.h>

namespace why502::test {
namespace {

TEST(OncePerSecond, OneReadASecondPerKey) {
  OncePerSecond<std::pair<int, std::string>> pacing;
  const uint64_t t = 5'000'000'000ull;
  EXPECT_TRUE(pacing.due({1, "a"}, t));
  EXPECT_FALSE(pacing.due({1, "a"}, t + 999'999'999ull));
  EXPECT_TRUE(pacing.due({1, "b"}, t + 1));  // another upstream
  EXPECT_TRUE(pacing.due({2, "a"}, t + 1));  // another worker
  EXPECT_TRUE(pacing.due({1, "a"}, t + 1'000'000'000ull));
  // A refused read does not move the second on.
  EXPECT_FALSE(pacing.due({1, "a"}, t + 1'500'000'000ull));
  EXPECT_TRUE(pacing.due({1, "a"}, t + 2'000'000'000ull));
}

}  // namespace
}  // namespace why502::test
