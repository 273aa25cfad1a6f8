// The cause taxonomy, nginx's format strings → causes, and causes from
// r->upstream_states alone.
#include <cerrno>
#include <set>

#include <gtest/gtest.h>

#include "attribution/cause.hpp"
#include "attribution/engine.hpp"
#include "attribution/nginx_log_classifier.hpp"
#include "event_builders.hpp"

namespace why502::test {
namespace {

// The exact strings users filter and alert on, in enum order.
const char* const kCauseNames[] = {
    "refused",         "reset",          "closed_early",    "slow_backend",     "connect_timeout", "invalid_response",
    "upstream_status", "no_live_upstreams", "backlog_full", "fd_exhausted",     "backend_crashed", "unreachable",
    "dns_failure",     "tls_failure",    "limited",         "ports_exhausted",  "keepalive_race",  "h2_stream_reset",
    "h2_goaway",       "unknown",
};

TEST(CauseNames, AllTwentyHaveTheirDocumentedNames) {
  static_assert(std::size(kCauseNames) == 20);
  static_assert(static_cast<int>(Cause::unknown) == 19, "a cause was added: extend kCauseNames");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(cause_name(static_cast<Cause>(i)), kCauseNames[i]) << i;
}

TEST(CauseNames, AllTwentyRoundTrip) {
  std::set<std::string_view> seen;
  for (int i = 0; i < 20; ++i) {
    const Cause c = static_cast<Cause>(i);
    const std::string_view name = cause_name(c);
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
    const std::optional<Cause> back = cause_from_name(name);
    ASSERT_TRUE(back.has_value()) << name;
    EXPECT_EQ(*back, c) << name;
  }
  EXPECT_EQ(seen.size(), 20u);
}

TEST(CauseNames, UnknownNamesAreRejected) {
  for (std::string_view name : {"", "Refused", "refused ", " reset", "closed-early", "502", "bogus"})
    EXPECT_FALSE(cause_from_name(name).has_value()) << '"' << name << '"';
}

TEST(CauseNames, OutOfRangeValueIsNamedUnknown) { EXPECT_EQ(cause_name(static_cast<Cause>(99)), "unknown"); }

// ---------------------------------------------------------------------------

struct LogCase {
  const char* name;
  const char* fmt;
  int err;
  const char* action;
  Cause cause;
  bool is_attempt;
};
// gtest prints a parameter in each test's listing (ctest pads its lines to
// the longest): the case's name, not its bytes.
void PrintTo(const LogCase& c, std::ostream* os) { *os << c.name; }

class ClassifyNginxLog : public ::testing::TestWithParam<LogCase> {};

TEST_P(ClassifyNginxLog, FormatErrnoAndActionGiveTheCause) {
  const LogCase& c = GetParam();
  const std::optional<LoggedFailure> f = classify_nginx_log(c.fmt, c.err, c.action);
  ASSERT_TRUE(f.has_value()) << c.fmt;
  EXPECT_EQ(f->cause, c.cause) << c.fmt << " err " << c.err << " while " << c.action << ": got "
                               << cause_name(f->cause);
  EXPECT_EQ(f->is_attempt, c.is_attempt);
}

INSTANTIATE_TEST_SUITE_P(
    RealNginxFormats, ClassifyNginxLog,
    ::testing::Values(
        LogCase{"tcp_refused", "connect() failed", ECONNREFUSED, kConnecting, Cause::refused, true},
        LogCase{"unix_missing", "connect() to %V failed", ENOENT, kConnecting, Cause::refused, true},
        LogCase{"unix_stale", "connect() to %V failed", ECONNREFUSED, kConnecting, Cause::refused, true},
        LogCase{"unix_permission", "connect() to %V failed", EACCES, kConnecting, Cause::refused, true},
        LogCase{"unix_backlog", "connect() to %V failed", EAGAIN, kConnecting, Cause::backlog_full, true},
        LogCase{"connect_unreachable", "connect() failed", EHOSTUNREACH, kConnecting, Cause::unreachable, true},
        LogCase{"connect_net_unreachable", "connect() to %V failed", ENETUNREACH, kConnecting, Cause::unreachable,
                true},
        LogCase{"connect_timedout_errno", "connect() failed", ETIMEDOUT, kConnecting, Cause::connect_timeout, true},
        LogCase{"connect_reset", "connect() failed", ECONNRESET, kConnecting, Cause::reset, true},
        LogCase{"connect_emfile", "connect() to %V failed", EMFILE, kConnecting, Cause::fd_exhausted, true},
        LogCase{"recv_reset", "recv() failed", ECONNRESET, kReadingHeader, Cause::reset, true},
        LogCase{"writev_epipe", "writev() failed", EPIPE, "sending request to upstream", Cause::closed_early, true},
        LogCase{"readv_reset", "readv() failed", ECONNRESET, kReadingHeader, Cause::reset, true},
        LogCase{"closed", "upstream prematurely closed connection", 0, kReadingHeader, Cause::closed_early, true},
        LogCase{"timeout_connecting", "upstream timed out", ETIMEDOUT, kConnecting, Cause::connect_timeout, true},
        LogCase{"timeout_reading", "upstream timed out", ETIMEDOUT, kReadingHeader, Cause::slow_backend, true},
        LogCase{"invalid_header", "upstream sent invalid header: \"%*s\\x%02xd...\"", 0, kReadingHeader,
                Cause::invalid_response, true},
        LogCase{"too_big_header", "upstream sent too big header", 0, kReadingHeader, Cause::invalid_response, true},
        LogCase{"no_valid_header", "upstream sent no valid HTTP/1.0 header", 0, kReadingHeader,
                Cause::invalid_response, true},
        LogCase{"fastcgi_invalid", "upstream sent invalid FastCGI record type: %d", 0, kReadingHeader,
                Cause::invalid_response, true},
        LogCase{"no_live", "no live upstreams", 0, kConnecting, Cause::no_live_upstreams, true},
        LogCase{"socket_emfile", "socket() failed", EMFILE, kConnecting, Cause::fd_exhausted, true},
        LogCase{"worker_connections", "%ui worker_connections are not enough", 0, kConnecting, Cause::fd_exhausted,
                true},
        LogCase{"dns", "%V could not be resolved (%i: %s)", 0, "", Cause::dns_failure, true},
        LogCase{"tls_handshake", "SSL_do_handshake() failed", 0, "SSL handshaking to upstream", Cause::tls_failure,
                true},
        LogCase{"tls_certificate", "upstream SSL certificate verify error: (%l:%s)", 0,
                "SSL handshaking to upstream", Cause::tls_failure, true},
        LogCase{"limit_req", "limiting requests, excess: %ui.%03ui by zone \"%V\"", 0, "", Cause::limited, false},
        LogCase{"limit_conn", "limiting connections by zone \"%V\"", 0, "", Cause::limited, false},
        LogCase{"no_local_port", "connect() to %V failed", EADDRNOTAVAIL, kConnecting, Cause::ports_exhausted, true},
        LogCase{"proxy_bind", "bind(%V) failed", EADDRNOTAVAIL, kConnecting, Cause::unknown, true},
        LogCase{"no_resolver", "no resolver defined to resolve %V", 0, "", Cause::dns_failure, true},
        LogCase{"h2_rst_stream", "upstream rejected request with error %ui", 0, kReadingHeader,
                Cause::h2_stream_reset, true},
        LogCase{"h2_goaway", "upstream sent goaway with error %ui", 0, kReadingHeader, Cause::h2_goaway, true}),
    [](const ::testing::TestParamInfo<LogCase>& info) { return std::string(info.param.name); });

// A certificate nginx refuses is no handshake that failed on the wire: the
// record says what to look at.
TEST(ClassifyNginxLogMeaning, CertificatesNginxRefusesSayWhy) {
  const auto verify = classify_nginx_log("upstream SSL certificate verify error: (%l:%s)", 0,
                                         "SSL handshaking to upstream");
  ASSERT_TRUE(verify.has_value());
  EXPECT_NE(verify->meaning.find("proxy_ssl_trusted_certificate"), std::string_view::npos) << verify->meaning;
  const auto name = classify_nginx_log("upstream SSL certificate does not match \"%V\"", 0,
                                       "SSL handshaking to upstream");
  ASSERT_TRUE(name.has_value());
  EXPECT_EQ(name->cause, Cause::tls_failure);
  EXPECT_NE(name->meaning.find("proxy_ssl_name"), std::string_view::npos) << name->meaning;
  const auto handshake = classify_nginx_log("SSL_do_handshake() failed", 0, "SSL handshaking to upstream");
  ASSERT_TRUE(handshake.has_value());
  EXPECT_TRUE(handshake->meaning.empty());
}

// connect() itself failing with no route is this host's routing; the same
// errno later came from the network, and says nothing of the routes.
TEST(ClassifyNginxLogMeaning, NoRouteAtOnceIsTheRoutingTable) {
  for (const int err : {ENETUNREACH, EHOSTUNREACH}) {
    const auto at_once = classify_nginx_log("connect() to %V failed", err, kConnecting);
    ASSERT_TRUE(at_once.has_value());
    EXPECT_EQ(at_once->cause, Cause::unreachable);
    EXPECT_NE(at_once->meaning.find("ip route get"), std::string_view::npos) << err;
    const auto later = classify_nginx_log("connect() failed", err, kConnecting);
    ASSERT_TRUE(later.has_value());
    EXPECT_EQ(later->cause, Cause::unreachable);
    EXPECT_TRUE(later->meaning.empty()) << err;
  }
}

TEST(ClassifyNginxLogNone, MessagesThatAreNotUpstreamFailures) {
  // Evidence at most: the engine keeps it as a note, not as an attempt.
  EXPECT_FALSE(classify_nginx_log("upstream server temporarily disabled", 0, kConnecting).has_value());
  // Not about an upstream: a missing static file, a client going away.
  EXPECT_FALSE(classify_nginx_log("open() \"%s\" failed", ENOENT, "").has_value());
  EXPECT_FALSE(classify_nginx_log("recv() failed", ECONNRESET, "reading client request line").has_value());
  EXPECT_FALSE(classify_nginx_log("client intended to send too large body: %O bytes", 0, "").has_value());
  // An upstream I/O call "failing" without an errno says nothing.
  EXPECT_FALSE(classify_nginx_log("recv() failed", 0, kReadingHeader).has_value());
}

TEST(DescribeNginxLog, FillsInThePeerErrnoAndAction) {
  EXPECT_EQ(describe_nginx_log("connect() to %V failed", ENOENT, kConnecting, "unix:/run/php.sock"),
            "connect() to unix:/run/php.sock failed (2: No such file or directory) while connecting to upstream");
  EXPECT_EQ(describe_nginx_log("connect() failed", ECONNREFUSED, kConnecting, "127.0.0.1:9000"),
            "connect() failed (111: Connection refused) while connecting to upstream");
  EXPECT_EQ(describe_nginx_log("upstream prematurely closed connection", 0, kReadingHeader, "127.0.0.1:9000"),
            "upstream prematurely closed connection while reading response header from upstream");
  EXPECT_EQ(describe_nginx_log("no live upstreams", 0, "", "backend"), "no live upstreams");
}

// ---------------------------------------------------------------------------

TEST(CauseFromUpstreamState, NeverConnected) {
  EXPECT_EQ(cause_from_upstream_state(make_error_page({.states = {not_connected("a", 502)}}).states[0]),
            Cause::refused);
  EXPECT_EQ(cause_from_upstream_state(make_error_page({.states = {not_connected("a", 504)}}).states[0]),
            Cause::connect_timeout);
  EXPECT_EQ(cause_from_upstream_state(make_error_page({.states = {not_connected("a", 500)}}).states[0]),
            Cause::unknown);
}

TEST(CauseFromUpstreamState, ConnectedWithoutAHeader) {
  auto cause = [](State s) { return cause_from_upstream_state(make_error_page({.states = {s}}).states[0]); };
  EXPECT_EQ(cause(connected_no_header("a", 504, 60000)), Cause::slow_backend);
  EXPECT_EQ(cause(connected_no_header("a", 502, 3, 0)), Cause::closed_early);
  EXPECT_EQ(cause(connected_no_header("a", 502, 3, 1)), Cause::invalid_response);
  EXPECT_EQ(cause(connected_no_header("a", 500, 3, 0)), Cause::unknown);
}

TEST(CauseFromUpstreamState, AHeaderWithA5xxIsTheUpstreamsOwnStatus) {
  auto cause = [](State s) { return cause_from_upstream_state(make_error_page({.states = {s}}).states[0]); };
  for (uint32_t status : {500u, 502u, 503u, 504u})
    EXPECT_EQ(cause(State{status, 9, 1, 8, 300, 180, "a"}), Cause::upstream_status) << status;
  // A header with a non-5xx status is not an upstream failure by itself.
  EXPECT_EQ(cause(State{404, 9, 1, 8, 300, 180, "a"}), Cause::unknown);
}

}  // namespace
}  // namespace why502::test
