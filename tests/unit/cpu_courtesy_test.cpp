// The live loop gives the CPU away every so many events, but not when it is
// behind: on a saturated CPU that cost most of a storm's events.
#include "cli/cpu_courtesy.hpp"

#include <gtest/gtest.h>

namespace why502 {
namespace {

uint64_t g_now_ns = 0;
int g_yields = 0;
uint64_t test_clock() { return g_now_ns; }
int count_yield() { return ++g_yields; }

class CpuCourtesyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_now_ns = 10'000'000'000;
    g_yields = 0;
  }
  CpuCourtesy courtesy{test_clock, count_yield};
};

TEST_F(CpuCourtesyTest, YieldsOnceEverySoManyEventsWhileKeepingUp) {
  const uint64_t fresh = g_now_ns - 1'000'000;  // an event 1 ms old
  for (uint64_t i = 1; i < CpuCourtesy::kEventsBetweenYields; ++i) courtesy.after_event(fresh);
  EXPECT_EQ(g_yields, 0);
  courtesy.after_event(fresh);
  EXPECT_EQ(g_yields, 1);
  for (uint64_t i = 0; i < 3 * CpuCourtesy::kEventsBetweenYields; ++i) courtesy.after_event(fresh);
  EXPECT_EQ(g_yields, 4);
}

TEST_F(CpuCourtesyTest, KeepsTheCpuWhileBehind) {
  const uint64_t old = g_now_ns - CpuCourtesy::kBehindNs - 1;
  for (uint64_t i = 0; i < 10 * CpuCourtesy::kEventsBetweenYields; ++i) courtesy.after_event(old);
  EXPECT_EQ(g_yields, 0);
  // Caught up: courteous again.
  for (uint64_t i = 0; i < CpuCourtesy::kEventsBetweenYields; ++i) courtesy.after_event(g_now_ns - CpuCourtesy::kBehindNs);
  EXPECT_EQ(g_yields, 1);
}

TEST_F(CpuCourtesyTest, AnEventStampedAfterTheClockReadIsNotBehind) {
  for (uint64_t i = 0; i < CpuCourtesy::kEventsBetweenYields; ++i) courtesy.after_event(g_now_ns + 5);
  EXPECT_EQ(g_yields, 1);
}

}  // namespace
}  // namespace why502
