#include "output/clock.hpp"

#include <cstring>
#include <ctime>

namespace why502 {

namespace {
int64_t now_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

uint64_t monotonic_now_ns() { return static_cast<uint64_t>(now_ns(CLOCK_MONOTONIC)); }

WallClock::WallClock() : offset_ns_(now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC)) {}

std::string format_rfc3339_us(int64_t realtime_ns) {
  time_t seconds = static_cast<time_t>(realtime_ns / 1'000'000'000);
  long micros = static_cast<long>((realtime_ns % 1'000'000'000) / 1000);
  if (micros < 0) {
    micros += 1'000'000;
    --seconds;
  }
  // Records come in bursts within a second (a storm writes thousands): the
  // date and time of day are formatted once per second, not per record.
  thread_local bool cached = false;
  thread_local time_t cached_seconds = 0;
  thread_local char prefix[32];
  thread_local size_t prefix_len = 0;
  if (!cached || seconds != cached_seconds) {
    tm utc{};
    gmtime_r(&seconds, &utc);
    prefix_len = strftime(prefix, sizeof(prefix), "%Y-%m-%dT%H:%M:%S", &utc);
    cached_seconds = seconds;
    cached = true;
  }
  char buf[48];
  std::memcpy(buf, prefix, prefix_len);
  char* p = buf + prefix_len;
  *p++ = '.';
  for (int digit = 5; digit >= 0; --digit) {
    p[digit] = static_cast<char>('0' + micros % 10);
    micros /= 10;
  }
  p += 6;
  *p++ = 'Z';
  return std::string(buf, static_cast<size_t>(p - buf));
}

}  // namespace why502
