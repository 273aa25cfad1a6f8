#include "common/result.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <variant>

namespace why502 {
namespace {

Result<int> half(int n) {
  if (n % 2 != 0) return Error{std::to_string(n) + " is odd"};
  return n / 2;
}

Result<void> even(int n) {
  if (n % 2 != 0) return Error{std::to_string(n) + " is odd"};
  return {};
}

TEST(Result, HoldsTheValueOnSuccess) {
  const Result<int> r = half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 4);
  EXPECT_THROW((void)r.error(), std::bad_variant_access);
}

TEST(Result, HoldsTheMessageOnFailure) {
  const Result<int> r = half(7);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error(), "7 is odd");
  EXPECT_THROW((void)r.value(), std::bad_variant_access);
}

TEST(Result, VoidHoldsOnlyTheError) {
  const Result<void> good = even(2);
  EXPECT_TRUE(good.ok());
  EXPECT_THROW((void)good.error(), std::bad_variant_access);
  const Result<void> bad = even(3);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "3 is odd");
}

TEST(Result, AStringValueIsNoError) {
  const Result<std::string> r = std::string("text");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r.operator->(), "text");
  EXPECT_EQ(r->size(), 4u);
  const Result<std::string> failed = Error{"text"};
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(failed.error(), "text");
}

TEST(Result, MovesAMoveOnlyValueOut) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> taken = std::move(r).value();
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, 5);
}

}  // namespace
}  // namespace why502
