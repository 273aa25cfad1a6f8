// Records held for their client echo: released by the echo on their own
// socket, oldest first, or once their deadline has passed.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "attribution/held_records.hpp"

namespace why502 {
namespace {

Record record_for(const std::string& client) {
  Record r;
  r.client = client;
  return r;
}

constexpr SocketKey kSocketA{100, 0xa000};
constexpr SocketKey kSocketB{100, 0xb000};

// Held records and the clients of those handed out, in order.
class HeldRecordsTest : public ::testing::Test {
 protected:
  void take(Record& r) { taken.push_back(r.client); }
  bool take_oldest(SocketKey socket) {
    return held.take_oldest(socket, [this](Record& r) { take(r); });
  }
  void take_due(uint64_t now_ns) {
    held.take_due(now_ns, [this](Record& r) { take(r); });
  }
  HeldRecords held;
  std::vector<std::string> taken;
};

TEST_F(HeldRecordsTest, TheEchoTakesTheOldestOnItsOwnSocket) {
  held.hold(kSocketA, record_for("a1"), 10);
  held.hold(kSocketB, record_for("b1"), 10);
  held.hold(kSocketA, record_for("a2"), 20);
  EXPECT_TRUE(take_oldest(kSocketA));
  EXPECT_TRUE(take_oldest(kSocketA));
  EXPECT_FALSE(take_oldest(kSocketA));
  EXPECT_FALSE(take_oldest(SocketKey{101, 0xb000}));  // another process's socket at that address
  EXPECT_EQ(taken, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_FALSE(held.empty());
  EXPECT_TRUE(take_oldest(kSocketB));
  EXPECT_TRUE(held.empty());
}

TEST_F(HeldRecordsTest, OnlyRecordsPastTheirDeadlineAreDue) {
  held.hold(kSocketA, record_for("a1"), 10);
  held.hold(kSocketA, record_for("a2"), 30);
  held.hold(kSocketB, record_for("b1"), 20);
  take_due(10);  // a deadline is not yet past at its own instant
  EXPECT_TRUE(taken.empty());
  take_due(25);
  std::sort(taken.begin(), taken.end());
  EXPECT_EQ(taken, (std::vector<std::string>{"a1", "b1"}));
  taken.clear();
  EXPECT_TRUE(take_oldest(kSocketA));
  EXPECT_EQ(taken, (std::vector<std::string>{"a2"}));
  EXPECT_TRUE(held.empty());
}

// A socket that always holds some records: released ones are dropped from
// its queue as it goes, and none still held is lost or reordered.
TEST_F(HeldRecordsTest, ASocketThatAlwaysHoldsSomeKeepsEveryRecordInOrder) {
  int next = 0;
  for (int i = 0; i < 3; ++i) held.hold(kSocketA, record_for(std::to_string(next++)), 1000);
  for (int round = 0; round < 100; ++round) {
    held.hold(kSocketA, record_for(std::to_string(next++)), 1000);
    ASSERT_TRUE(take_oldest(kSocketA));
  }
  while (take_oldest(kSocketA)) {
  }
  ASSERT_EQ(taken.size(), static_cast<size_t>(next));
  for (int i = 0; i < next; ++i) EXPECT_EQ(taken[i], std::to_string(i));
}

}  // namespace
}  // namespace why502
