// What a FastCGI application wrote to its stderr before its answer (nginx:
// "FastCGI sent in stderr: ..."): the record of that request, and of no
// other, says it.
#include <cerrno>
#include <string>

#include <gtest/gtest.h>

#include "engine_test_events.hpp"

namespace why502::test {
namespace {

const std::string kFpm = "unix:/run/php/php-fpm.sock";
const std::string kWarning = "PHP message: PHP Warning:  database is down in /srv/www/index.php";
const std::string kNginxWords =
    "nginx: FastCGI sent in stderr: \"" + kWarning + "\" while reading response header from upstream";

// nginx's log of one STDERR record of the request on client socket client_sk.
w5_ngx_log stderr_log(double at, uint64_t request, uint64_t client_sk, uint64_t upstream_sk = kUpSk1) {
  return make_log({.ts = sec(at), .request = request, .connection = 10, .fmt = "FastCGI sent in stderr: \"%*s\"",
                   .action = kReadingHeader, .peer = kFpm, .upstream_sk = upstream_sk, .upstream = unix_sock(),
                   .client = kClientA, .client_sk = client_sk,
                   .args = {num(kWarning.size()), c_string(kWarning)}});
}

w5_upstream_status fpm_status(double at, uint32_t status, uint64_t upstream_sk = kUpSk1) {
  return make_upstream_status({.ts = sec(at), .sk = upstream_sk, .status = status, .proto = W5_PROTO_FASTCGI,
                               .remote = unix_sock(), .unix_path = "/run/php/php-fpm.sock"});
}

// kReq1 times out on kUpSk1 at 31 s (fastcgi_read_timeout): its log and page.
void feed_timeout(EngineHarness& h) {
  h.feed(make_log({.ts = sec(31), .request = kReq1, .connection = 10, .fmt = "upstream timed out",
                   .err = ETIMEDOUT, .action = kReadingHeader, .peer = kFpm, .upstream_sk = kUpSk1,
                   .upstream = unix_sock(), .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(31.0001), .request = kReq1, .connection = 10, .client_sk = kClientSk1,
                          .status = 504, .peer = kFpm, .client = kClientA,
                          .states = {connected_no_header(kFpm, 504, 1000)}}));
}

TEST(EngineBackendStderr, AnApplicationsOwn5xxSaysWhatItWroteToItsStderr) {
  EngineHarness h;
  // One read: the STDERR record, then STDOUT with "Status: 503".
  h.feed(fpm_status(5, 503));
  h.feed(stderr_log(5.0001, kReq1, kClientSk1));
  h.feed(make_client_response({.ts = sec(5.0002), .sk = kClientSk1, .status = 503, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::upstream_status);
  ASSERT_EQ(r.evidence.size(), 3u) << dump(r);
  EXPECT_EQ(r.evidence[1], "the status came in the upstream's FastCGI Status header; nginx passed it on");
  EXPECT_EQ(r.evidence[2], kNginxWords);
}

TEST(EngineBackendStderr, StderrOfAnotherClientOrLongBeforeIsNotTheAnswers) {
  EngineHarness h;
  // A warning for another client on the same upstream socket, then one
  // 2 s before the read of the 5xx (an earlier request's, fastcgi_keep_conn).
  h.feed(stderr_log(1, kReq2, kClientSk2));
  h.feed(fpm_status(1.5, 502));
  h.feed(make_client_response({.ts = sec(1.5001), .sk = kClientSk1, .status = 502, .remote = kClientA}));
  h.feed(stderr_log(3, kReq1, kClientSk1));
  h.feed(fpm_status(5, 503));
  h.feed(make_client_response({.ts = sec(5.0001), .sk = kClientSk1, .status = 503, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  for (const Record& r : h.records()) EXPECT_EQ(r.evidence.size(), 2u) << dump(r);
}

TEST(EngineBackendStderr, ATimeoutAfterStderrSaysIt) {
  EngineHarness h;
  // The application warned, then hung until fastcgi_read_timeout.
  h.feed(stderr_log(30, kReq1, kClientSk1));
  feed_timeout(h);
  h.feed(make_client_response({.ts = sec(31.0002), .sk = kClientSk1, .status = 504, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::slow_backend);
  EXPECT_NE(std::find(r.evidence.begin(), r.evidence.end(), kNginxWords), r.evidence.end()) << dump(r);
}

TEST(EngineBackendStderr, AnotherRequestsStderrOnTheConnectionIsNotATimeouts) {
  EngineHarness h;
  // kReq2's warning came on this pooled connection; kReq1 timed out on it.
  h.feed(stderr_log(30, kReq2, kClientSk1));
  feed_timeout(h);

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  for (const std::string& line : h.records()[0].evidence)
    EXPECT_EQ(line.find("FastCGI sent in stderr"), std::string::npos) << dump(h.records()[0]);
}

}  // namespace
}  // namespace why502::test
