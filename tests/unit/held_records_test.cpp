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
  // A record that would go unconfirmed is marked with a trailing "+".
  void take(Record& r, bool keep_unconfirmed) { taken.push_back(r.client + (keep_unconfirmed ? "+" : "")); }
  bool take_oldest(SocketKey socket) {
    return held.take_oldest(socket, [this](Record& r, bool keep) { take(r, keep); });
  }
  void take_due(uint64_t now_ns) {
    held.take_due(now_ns, [this](Record& r, bool keep) { take(r, keep); });
  }
  // A record of a request of its own (the error page of a request not held yet).
  bool hold(SocketKey socket, const std::string& client, uint64_t deadline_ns) {
    return held.hold(socket, PageOf{++pages, 7, 1}, record_for(client), deadline_ns);
  }
  uint64_t pages = 0;
  HeldRecords held;
  std::vector<std::string> taken;
};

TEST_F(HeldRecordsTest, TheEchoTakesTheOldestOnItsOwnSocket) {
  hold(kSocketA, "a1", 10);
  hold(kSocketB, "b1", 10);
  hold(kSocketA, "a2", 20);
  EXPECT_TRUE(take_oldest(kSocketA));
  EXPECT_TRUE(take_oldest(kSocketA));
  EXPECT_FALSE(take_oldest(kSocketA));
  EXPECT_FALSE(take_oldest(SocketKey{101, 0xb000}));  // another process's socket at that address
  EXPECT_EQ(taken, (std::vector<std::string>{"a1+", "a2+"}));
  EXPECT_FALSE(held.empty());
  EXPECT_TRUE(take_oldest(kSocketB));
  EXPECT_TRUE(held.empty());
}

TEST_F(HeldRecordsTest, OnlyRecordsPastTheirDeadlineAreDue) {
  hold(kSocketA, "a1", 10);
  hold(kSocketA, "a2", 30);
  hold(kSocketB, "b1", 20);
  take_due(10);  // a deadline is not yet past at its own instant
  EXPECT_TRUE(taken.empty());
  take_due(25);
  std::sort(taken.begin(), taken.end());
  EXPECT_EQ(taken, (std::vector<std::string>{"a1+", "b1+"}));
  taken.clear();
  EXPECT_TRUE(take_oldest(kSocketA));
  EXPECT_EQ(taken, (std::vector<std::string>{"a2+"}));
  EXPECT_TRUE(held.empty());
}

// A socket that always holds some records: released ones are dropped from
// its queue as it goes, and none still held is lost or reordered.
TEST_F(HeldRecordsTest, ASocketThatAlwaysHoldsSomeKeepsEveryRecordInOrder) {
  int next = 0;
  for (int i = 0; i < 3; ++i) hold(kSocketA, std::to_string(next++), 1000);
  for (int round = 0; round < 100; ++round) {
    hold(kSocketA, std::to_string(next++), 1000);
    ASSERT_TRUE(take_oldest(kSocketA));
  }
  while (take_oldest(kSocketA)) {
  }
  ASSERT_EQ(taken.size(), static_cast<size_t>(next));
  for (int i = 0; i < next; ++i) EXPECT_EQ(taken[i], std::to_string(i) + "+");
}

// error_page sent a request to another location, which failed too: its
// second page replaces the first, in its place, and the first page of
// another request on the socket (an HTTP/2 stream, or the same address
// again on a later request) is kept.
TEST_F(HeldRecordsTest, ALaterPageOfTheSameRequestReplacesItsFirst) {
  const PageOf first{0x1000, 9, 1};
  EXPECT_FALSE(held.hold(kSocketA, first, record_for("redirected"), 10));
  EXPECT_FALSE(hold(kSocketA, "other stream", 10));
  EXPECT_FALSE(held.hold(kSocketA, PageOf{0x1000, 9, 2}, record_for("next request"), 10));
  EXPECT_FALSE(held.hold(kSocketB, first, record_for("another socket"), 10));
  EXPECT_TRUE(held.holds(kSocketA, first));
  EXPECT_FALSE(held.holds(kSocketA, PageOf{0x1000, 9, 3}));
  EXPECT_TRUE(held.hold(kSocketA, first, record_for("final"), 30));
  take_due(20);  // the replacement took its deadline too, and still goes first on its socket
  EXPECT_EQ(taken, (std::vector<std::string>{"another socket+"}));
  taken.clear();
  while (take_oldest(kSocketA)) {
  }
  EXPECT_EQ(taken, (std::vector<std::string>{"final+", "other stream+", "next request+"}));
  EXPECT_TRUE(held.empty());
}

// Whether a record goes out unconfirmed is the latest page's say: a first
// page error_page leads to a success is dropped unconfirmed, but the page of
// its target failing too goes out.
TEST_F(HeldRecordsTest, AReplacementTakesItsOwnWordOnGoingOutUnconfirmed) {
  const PageOf page{0x2000, 9, 1};
  held.hold(kSocketA, page, record_for("to a success"), 10, false);
  held.hold(kSocketB, page, record_for("stays"), 10, false);
  held.hold(kSocketB, page, record_for("target failed"), 10, true);
  take_due(20);
  std::sort(taken.begin(), taken.end());
  EXPECT_EQ(taken, (std::vector<std::string>{"target failed+", "to a success"}));
}

}  // namespace
}  // namespace why502
