#include "output/clock.hpp"

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
  tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[40];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(buf + n, sizeof(buf) - n, ".%06ldZ", micros);
  return buf;
}

}  // namespace why502
