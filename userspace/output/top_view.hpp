// What `why502 top` shows, kept apart from the terminal so it can be tested:
// error rates by cause and by upstream over a sliding window, the latest
// records, and whether events were lost.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "attribution/record.hpp"
#include "output/clock.hpp"

namespace why502 {

class TopView {
 public:
  TopView(WallClock clock, double window_s) : clock_(clock), window_ns_(static_cast<uint64_t>(window_s * 1e9)) {}

  void add(const Record& record);
  // The screen as plain lines (width columns at most), at monotonic time now_ns.
  std::string render(uint64_t now_ns, uint64_t events, uint64_t lost, int width, int height);

 private:
  WallClock clock_;
  uint64_t window_ns_;
  std::deque<Record> recent_;  // gateway errors within the window, oldest first
  std::deque<Record> latest_;  // the last few records of any type
};

}  // namespace why502
