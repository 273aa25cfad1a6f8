// What a layout slot held is closed off the caller's thread, and the slot
// stays busy until it is.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>

#include "loader/slot_closer.hpp"

namespace why502 {
namespace {

// Stands in for a uprobe link whose close waits on the kernel: its
// destructor blocks until the test releases it.
struct SlowToClose {
  std::shared_future<void> release;
  std::shared_ptr<std::atomic<int>> closed;
  SlowToClose(std::shared_future<void> r, std::shared_ptr<std::atomic<int>> c)
      : release(std::move(r)), closed(std::move(c)) {}
  SlowToClose(SlowToClose&& other) = default;
  ~SlowToClose() {
    if (!closed) return;  // moved from
    release.wait();
    ++*closed;
  }
};

TEST(SlotCloser, ClosesOnItsOwnThreadAndTheSlotIsBusyUntilThen) {
  std::promise<void> release;
  auto closed = std::make_shared<std::atomic<int>>(0);
  SlotCloser<SlowToClose, 8> closer;
  closer.close(3, SlowToClose(release.get_future().share(), closed));  // returns at once
  EXPECT_TRUE(closer.closing(3));
  EXPECT_FALSE(closer.closing(2));
  EXPECT_EQ(*closed, 0);
  release.set_value();
  closer.wait_until_closed(3);
  EXPECT_FALSE(closer.closing(3));
  EXPECT_EQ(*closed, 1);
}

TEST(SlotCloser, WhatIsStillQueuedIsClosedBeforeItGoes) {
  std::promise<void> release;
  auto closed = std::make_shared<std::atomic<int>>(0);
  const std::shared_future<void> released = release.get_future().share();
  {
    SlotCloser<SlowToClose, 8> closer;
    for (uint32_t slot = 0; slot < 4; ++slot) closer.close(slot, SlowToClose(released, closed));
    release.set_value();
  }
  EXPECT_EQ(*closed, 4);
}

}  // namespace
}  // namespace why502
