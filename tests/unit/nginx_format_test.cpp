// Reading nginx's format strings from a process's memory, tried on this one.
#include <unistd.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "host/nginx_format.hpp"

namespace why502 {
namespace {

// Formats as nginx's read-only data holds them.
const char kShort[] = "upstream timed out";
const char kLong[] = "upstream sent too big header while reading response header from upstream, and more";

w5_ngx_log unread_log(const char* fmt) {
  w5_ngx_log e{};
  e.h.tgid = static_cast<uint32_t>(getpid());
  e.fmt_addr = reinterpret_cast<uint64_t>(fmt);
  return e;
}

TEST(NginxFormat, AnUnreadFormatIsReadWhereItIs) {
  w5_ngx_log e = unread_log(kShort);
  ASSERT_TRUE(format_unread(e));
  ASSERT_TRUE(read_unread_format(e));
  EXPECT_STREQ(e.fmt, kShort);
  EXPECT_STREQ(e.fmt_rest, "");
  EXPECT_FALSE(format_unread(e));
}

TEST(NginxFormat, ALongFormatGoesOnInItsRestAsTheUprobeLaysItOut) {
  w5_ngx_log e = unread_log(kLong);
  ASSERT_TRUE(read_unread_format(e));
  EXPECT_EQ(std::string(e.fmt), std::string(kLong, W5_FMT_LEN - 1));
  EXPECT_EQ(std::string(e.fmt_rest), std::string(kLong + W5_FMT_LEN - 1));
}

TEST(NginxFormat, NoProcessNoFormat) {
  w5_ngx_log e = unread_log(kShort);
  e.h.tgid = 0x3fffffff;  // above pid_max's limit: no such process
  EXPECT_FALSE(read_unread_format(e));
  EXPECT_FALSE(format_unread(w5_ngx_log{}));  // no address: nothing to read
}

TEST(NginxFormat, ABinarysReadOnlyDataIsMapped) {
  // This test binary's read-only data (kLong among it) is read whole.
  EXPECT_GT(map_read_only_data(getpid()), sizeof(kLong));
  EXPECT_EQ(map_read_only_data(0x3fffffff), 0u);  // no such process
}

}  // namespace
}  // namespace why502
