// nginx's error_log messages filled in from the arguments the uprobe copied,
// as ngx_vslprintf fills them: each case is a format nginx 1.22 logs.
#include "attribution/nginx_log_format.hpp"

#include <cerrno>

#include <gtest/gtest.h>

#include "event_builders.hpp"

namespace why502::test {
namespace {

std::string formatted(Log l) { return format_nginx_log(make_log(l)); }

TEST(NginxLogFormat, LimitReqNamesItsZone) {
  const std::string fmt = R"(limiting requests%s, excess: %ui.%03ui by zone "%V")";
  EXPECT_EQ(formatted({.fmt = fmt, .args = {c_string(""), num(1), num(0), ngx_string("one")}}),
            R"(limiting requests, excess: 1.000 by zone "one")");
  EXPECT_EQ(formatted({.fmt = fmt, .args = {c_string(", dry run"), num(12), num(7), ngx_string("api")}}),
            R"(limiting requests, dry run, excess: 12.007 by zone "api")");
}

TEST(NginxLogFormat, LimitConnNamesItsZone) {
  EXPECT_EQ(formatted({.fmt = R"(limiting connections%s by zone "%V")", .args = {c_string(""), ngx_string("addr")}}),
            R"(limiting connections by zone "addr")");
}

TEST(NginxLogFormat, ErrnoAndActionFollowAsInErrorLog) {
  EXPECT_EQ(formatted({.fmt = "connect() to %V failed", .err = ECONNREFUSED, .action = kConnecting,
                       .peer = "127.0.0.1:9000", .args = {ngx_string("127.0.0.1:9000")}}),
            "connect() to 127.0.0.1:9000 failed (111: Connection refused) while connecting to upstream");
}

TEST(NginxLogFormat, ResolverHostComesFromTheArguments) {
  EXPECT_EQ(formatted({.fmt = "no resolver defined to resolve %V", .args = {ngx_string("api.internal")}}),
            "no resolver defined to resolve api.internal");
  EXPECT_EQ(formatted({.fmt = "%V could not be resolved (%i: %s)",
                       .args = {ngx_string("nosuch.test"), num(3), c_string("Host not found")}}),
            "nosuch.test could not be resolved (3: Host not found)");
}

TEST(NginxLogFormat, IntegerDirectives) {
  EXPECT_EQ(formatted({.fmt = "%i %d %ui %xi %Xi %05i %M %%", .args = {num(static_cast<uint64_t>(-5)),
                                                                         num(0xffffffff00000007ull), num(42),
                                                                         num(255), num(255), num(42)}}),
            "-5 7 42 ff FF 00042 %M %%");  // %M's argument was not captured: the rest as nginx wrote it
  EXPECT_EQ(formatted({.fmt = "%d workers", .args = {num(0x00000000ffffffffull)}}), "-1 workers");
  EXPECT_EQ(formatted({.fmt = "at %p", .args = {num(0x55d0c0a01000)}}), "at 000055D0C0A01000");
}

TEST(NginxLogFormat, StarStringTakesItsLength) {
  EXPECT_EQ(formatted({.fmt = R"(SSL_do_handshake() failed "%*s")", .args = {num(5), c_string("abcdefgh")}}),
            R"(SSL_do_handshake() failed "abcde")");
}

TEST(NginxLogFormat, UpstreamResponseBytesAreWithheld) {
  // The header's bytes are the upstream's response: never copied nor shown.
  EXPECT_EQ(formatted({.fmt = R"(upstream sent invalid header: "%*s\x%02xd...")",
                       .action = kReadingHeader, .args = {num(3), c_string("abc"), num(10)}}),
            R"(upstream sent invalid header: "...\x0a..." while reading response header from upstream)");
  EXPECT_TRUE(withholds_argument_text("upstream sent invalid header"));
  EXPECT_FALSE(withholds_argument_text("upstream timed out"));
}

TEST(NginxLogFormat, LongFormatGoesOnInItsRest) {
  const std::string fmt = "a format longer than the sixty-three bytes fmt[] holds, with %V at its end";
  ASSERT_GT(fmt.size(), static_cast<size_t>(W5_FMT_LEN));
  EXPECT_EQ(formatted({.fmt = fmt, .args = {ngx_string("x")}}),
            "a format longer than the sixty-three bytes fmt[] holds, with x at its end");
}

TEST(NginxLogFormat, UnreadableArgumentsSayLittle) {
  // %V that could not be read: nginx's peer, which it nearly always is.
  EXPECT_EQ(formatted({.fmt = "connect() to %V failed", .peer = "127.0.0.1:9000", .args = {num(0)}}),
            "connect() to 127.0.0.1:9000 failed");
  EXPECT_EQ(formatted({.fmt = "%s and %V", .args = {num(0), num(0)}}), "? and ?");
  // A long argument ends in "...".
  EXPECT_EQ(formatted({.fmt = "zone \"%V\"", .args = {Arg{1, {}, std::string(63, 'z')}}}),
            "zone \"" + std::string(63, 'z') + "\"");
}

TEST(NginxLogFormat, SizedTextIsWholeUpToItsBuffer) {
  // OpenSSL's reason, after the 63 bytes arguments had before wire version 6.
  const std::string ssl =
      "SSL_do_handshake() failed (SSL: error:0A000086:SSL routines::certificate verify failed)";
  EXPECT_EQ(formatted({.fmt = "%*s", .action = "SSL handshaking to upstream", .args = {num(ssl.size()), c_string(ssl)}}),
            ssl + " while SSL handshaking to upstream");
  // Longer than the buffer: cut there, and said to be.
  const std::string stderr_text = "PHP message: " + std::string(200, 'w');
  EXPECT_EQ(formatted({.fmt = "FastCGI sent in stderr: \"%*s\"",
                       .args = {num(stderr_text.size()), c_string(stderr_text.substr(0, W5_ARG_CSTR_LEN - 1))}}),
            "FastCGI sent in stderr: \"" + stderr_text.substr(0, W5_ARG_CSTR_LEN - 1) + "...\"");
}

TEST(NginxLogFormat, AnUnreadFormatIsSaidToBeSo) {
  // A worker's first use of a format whose page it had not touched yet.
  EXPECT_EQ(formatted({.fmt = "", .action = "SSL handshaking to upstream", .args = {num(82), num(0x7ffd0000a000)}}),
            "(nginx's message could not be read) while SSL handshaking to upstream");
}

TEST(NginxLogFormat, WireVersion1EventsAreDescribedAsBefore) {
  // No arguments: the peer fills %V, and what else nginx filled in is unknown.
  EXPECT_EQ(formatted({.fmt = "connect() to %V failed", .err = ECONNREFUSED, .action = kConnecting,
                       .peer = "127.0.0.1:9000"}),
            "connect() to 127.0.0.1:9000 failed (111: Connection refused) while connecting to upstream");
  EXPECT_EQ(formatted({.fmt = R"(limiting requests%s, excess: %ui.%03ui by zone "%V")"}),
            R"(limiting requests%s, excess: %ui.%03ui by zone "the upstream host")");
}

}  // namespace
}  // namespace why502::test
