// What the engine says of the backend at the other end of a timed-out
// upstream connection (W5_EV_BACKEND_STATE), and which services a record
// names (W5_EV_PROCESS_CGROUP), from synthetic events.
#include <gtest/gtest.h>

#include <cerrno>

#include "attribution/engine.hpp"
#include "event_builders.hpp"
#include "output/record_sink.hpp"

namespace why502::test {
namespace {

constexpr uint64_t kReq = 0x55d0c0a01000;
constexpr uint64_t kClientSk = 0xffff888104a01000;
constexpr uint64_t kUpSk = 0xffff888105b01000;
const w5_addr kClient = ipv4("192.0.2.10", 51000);
const w5_addr kBackend = ipv4("127.0.0.1", 9000);
const w5_addr kNginxEnd = ipv4("127.0.0.1", 40100);
const std::string kBackendName = "127.0.0.1:9000";

w5_backend_state backend_state(uint64_t ts, uint32_t found) {
  w5_backend_state b{};
  b.h = header(W5_EV_BACKEND_STATE, sizeof(b), ts, kWorker, kWorker);
  b.upstream_sk = kUpSk;
  b.upstream = kBackend;
  b.upstream_local = kNginxEnd;
  b.found = found;
  b.syscall_nr = -1;
  b.quota_us = -1;
  return b;
}

w5_backend_state held_by(uint64_t ts, uint32_t pid, const char* comm, char state) {
  w5_backend_state b = backend_state(ts, W5_BACKEND_HOLDER);
  b.pid = pid;
  b.tid = pid;
  b.threads = 1;
  set_str(b.comm, comm);
  set_str(b.thread_comm, comm);
  b.state = static_cast<uint32_t>(state);
  set_str(b.cgroup, "/system.slice/app.service");
  return b;
}

w5_process_cgroup nginx_cgroup(uint64_t ts, const char* path) {
  w5_process_cgroup c{};
  c.h = header(W5_EV_PROCESS_CGROUP, sizeof(c), ts, kWorker, kWorker);
  set_str(c.cgroup, path);
  return c;
}

// nginx times out reading the header at ts and answers 504.
Record timed_out(EngineHarness& h, uint64_t ts, const char* action = kReadingHeader) {
  const bool connecting = std::string_view(action) == kConnecting;
  h.feed(make_log({.ts = ts, .request = kReq, .connection = 10, .fmt = "upstream timed out", .err = ETIMEDOUT,
                   .action = action, .peer = kBackendName, .upstream_sk = kUpSk, .upstream = kBackend,
                   .client = kClient, .client_sk = kClientSk, .upstream_local = kNginxEnd}));
  h.feed(make_error_page({.ts = ts + msec(0.1), .request = kReq, .connection = 10, .client_sk = kClientSk,
                          .status = 504, .peer = kBackendName, .client = kClient,
                          .states = {connecting ? not_connected(kBackendName, 504, 1000)
                                                : connected_no_header(kBackendName, 504, 1000)}}));
  h.feed(make_client_response({.ts = ts + msec(0.2), .sk = kClientSk, .status = 504, .remote = kClient}));
  EXPECT_EQ(h.records().size(), 1u) << dump(h.records());
  return h.records().empty() ? Record{} : h.records().back();
}

// The backend thread of b blocked in system call nr (name) with a
// connection to 127.0.0.1:port, served by pid (comm), as kind describes it.
void blocked_with_connection(w5_backend_state& b, int nr, const char* name, uint32_t kind, uint16_t port,
                             uint32_t pid, const char* comm) {
  b.syscall_nr = nr;
  set_str(b.syscall_name, name);
  b.wait_kind = kind;
  b.wait_local = ipv4("127.0.0.1", 50123);
  b.wait_remote = ipv4("127.0.0.1", port);
  b.wait_listener_pid = pid;
  set_str(b.wait_listener_comm, comm);
}

TEST(BackendEvidence, BlockedOnItsOwnDependency) {
  EngineHarness h;
  h.feed(nginx_cgroup(sec(1), "/system.slice/nginx.service"));
  w5_backend_state b = held_by(sec(31), 4121, "gunicorn", 'S');
  blocked_with_connection(b, 45, "recvfrom", W5_WAIT_SOCKET, 5432, 880, "postgres");
  h.feed(b);
  const Record r = timed_out(h, sec(31));
  EXPECT_EQ(r.cause, Cause::slow_backend) << dump(r);
  ASSERT_GE(r.evidence.size(), 2u) << dump(r);
  EXPECT_EQ(r.evidence[1],
            "backend pid 4121 (gunicorn) had been blocked in recvfrom() on a connection to 127.0.0.1:5432 (postgres, "
            "pid 880) when nginx gave up");
  EXPECT_EQ(r.nginx_cgroup, "/system.slice/nginx.service");
  EXPECT_EQ(r.nginx_unit, "nginx.service");
  EXPECT_EQ(r.backend_cgroup, "/system.slice/app.service");
  EXPECT_EQ(r.backend_unit, "app.service");
}

// A client library (libpq, mysqlnd, a Python socket with a timeout) waits
// for its server in poll() on that one socket: the record names it as it
// names a recv(); a poll of many descriptors says only that.
TEST(BackendEvidence, BlockedPollingItsOwnDependency) {
  EngineHarness h;
  w5_backend_state b = held_by(sec(31), 4121, "php-fpm8.2", 'S');
  blocked_with_connection(b, 7, "poll", W5_WAIT_SOCKET, 3306, 881, "mysqld");
  b.wait_fd = 9;
  h.feed(b);
  const Record r = timed_out(h, sec(31));
  ASSERT_GE(r.evidence.size(), 2u) << dump(r);
  EXPECT_EQ(r.evidence[1],
            "backend pid 4121 (php-fpm8.2) had been blocked in poll() on a connection to 127.0.0.1:3306 (mysqld, "
            "pid 881) when nginx gave up");
  EngineHarness loop;
  b.wait_kind = W5_WAIT_NONE;
  b.wait_fd = -1;
  loop.feed(b);
  const Record idle = timed_out(loop, sec(31));
  EXPECT_EQ(lines_with(idle, "had been blocked in poll(): waiting for any of its descriptors"), 1) << dump(idle);
}

// A unix connection: to a server's path and its process; accepted on the
// backend's own path, from nginx's worker or from another client.
TEST(BackendEvidence, BlockedOnAUnixSocket) {
  struct Case {
    uint32_t server_side;
    uint32_t other_end;
    const char* says;
  };
  for (const Case& c :
       {Case{0, 881, "had been blocked in poll() on a unix socket connection to /run/mysqld/mysqld.sock (mysqld, pid 881)"},
        Case{0, 0, "had been blocked in poll() on a unix socket connection to /run/mysqld/mysqld.sock when"},
        Case{W5_SERVER_SIDE, kWorker, "had been blocked in poll() on nginx's connection itself"},
        Case{W5_SERVER_SIDE, 882,
             "had been blocked in poll() on a connection accepted on its unix socket /run/mysqld/mysqld.sock (from "
             "mysqld, pid 882)"}}) {
    EngineHarness h;
    w5_backend_state b = held_by(sec(31), 4121, "php-fpm8.2", 'S');
    b.syscall_nr = 7;
    set_str(b.syscall_name, "poll");
    b.wait_kind = W5_WAIT_UNIX_SOCKET;
    b.wait_server_side = c.server_side;
    set_str(b.wait_path, "/run/mysqld/mysqld.sock");
    b.wait_listener_pid = c.other_end;
    set_str(b.wait_listener_comm, c.other_end ? "mysqld" : "");
    h.feed(b);
    const Record r = timed_out(h, sec(31));
    EXPECT_EQ(lines_with(r, c.says), 1) << dump(r);
  }
}

// An event loop blocks no thread on its database: the connection it sent on
// after nginx's request, unanswered, gets a line of its own.
TEST(BackendEvidence, AnEventLoopAwaitingAnAnswer) {
  EngineHarness h;
  w5_backend_state b = held_by(sec(31), 4121, "node", 'S');
  blocked_with_connection(b, 232, "epoll_wait", W5_WAIT_AWAITED_SOCKET, 5432, 880, "postgres");
  h.feed(b);
  const Record r = timed_out(h, sec(31));
  ASSERT_GE(r.evidence.size(), 3u) << dump(r);
  EXPECT_EQ(r.evidence[1],
            "backend pid 4121 (node) had been blocked in epoll_wait(): waiting for any of its descriptors (idle, or "
            "waiting on something it polls) when nginx gave up");
  EXPECT_EQ(r.evidence[2],
            "it had sent on its own connection to 127.0.0.1:5432 (postgres, pid 880) after nginx's request, and had "
            "no answer from it when nginx gave up");
}

TEST(BackendEvidence, OnCpuForMostOfTheSample) {
  EngineHarness h;
  w5_backend_state b = held_by(sec(31), 4121, "python3", 'R');
  b.threads = 3;
  b.tid = 4125;
  set_str(b.thread_comm, "worker");
  b.sample_ns = msec(150);
  b.run_ns = msec(147);
  b.runqueue_ns = msec(3);
  h.feed(b);
  const Record r = timed_out(h, sec(31));
  EXPECT_EQ(lines_with(r, "backend pid 4121 (python3), thread 4125 (worker) of its 3, was running or runnable"), 1)
      << dump(r);
  EXPECT_EQ(lines_with(r, "the thread was on CPU 98% of a 150 ms sample as nginx gave up (runnable but waiting for "
                          "a CPU 2%)"),
            1)
      << dump(r);
}

TEST(BackendEvidence, ReadDuringTheWaitTheShareIsOfTheWait) {
  EngineHarness h;
  w5_backend_state b = held_by(sec(31), 4121, "python3", 'R');
  set_str(b.cgroup, "/why502-throttle");
  b.sample_in_wait = 1;
  b.sample_ns = sec(2.9);
  b.run_ns = sec(0.29);
  b.runqueue_ns = sec(2.5);
  b.periods = 29;
  b.throttled_periods = 28;
  b.throttled_ns = sec(2.4);
  h.feed(b);
  const Record r = timed_out(h, sec(31));
  EXPECT_EQ(lines_with(r, "its cgroup /why502-throttle was CPU-throttled in 28 of 29 CFS periods of the last 2.9 s "
                          "of nginx's wait (2400 ms throttled)"),
            1)
      << dump(r);
  EXPECT_EQ(lines_with(r, "the thread was on CPU 10% of the last 2.9 s of nginx's wait (runnable but waiting for a "
                          "CPU 86%)"),
            1)
      << dump(r);
  EXPECT_EQ(lines_with(r, "sample as nginx gave up"), 0) << dump(r);
}

TEST(BackendEvidence, ThrottledByItsCgroupComesFirst) {
  EngineHarness h;
  w5_backend_state b = held_by(sec(31), 4121, "python3", 'R');
  set_str(b.cgroup, "/why502-throttle");
  b.sample_ns = msec(150);
  b.run_ns = msec(15);
  b.periods = 2;
  b.throttled_periods = 2;
  b.throttled_ns = msec(130);
  b.total_periods = 40;
  b.total_throttled_periods = 38;
  b.total_throttled_ns = sec(3.4);
  b.quota_us = 10000;
  b.period_us = 100000;
  h.feed(b);
  const Record r = timed_out(h, sec(31));
  ASSERT_GE(r.evidence.size(), 3u) << dump(r);
  EXPECT_EQ(r.evidence[1],
            "its cgroup /why502-throttle was CPU-throttled in 2 of 2 CFS periods of a 150 ms sample as nginx gave up "
            "(130 ms throttled); quota 10 ms of CPU per 100 ms; since it was made: 38 of 40 periods throttled, 3.4 s "
            "in all");
  EXPECT_EQ(r.backend_cgroup, "/why502-throttle");
  EXPECT_EQ(r.backend_unit, "");
}

TEST(BackendEvidence, BlockedStatesSaySo) {
  struct Case {
    char state;
    int nr;
    const char* name;
    const char* says;
  };
  for (const Case& c : {Case{'S', 202, "futex", "blocked in futex(): waiting for a lock or for another thread"},
                        Case{'S', 232, "epoll_wait", "blocked in epoll_wait(): waiting for any of its descriptors"},
                        Case{'T', -1, "", "was stopped (SIGSTOP or job control)"},
                        Case{'t', -1, "", "was stopped under a debugger"},
                        Case{'D', 74, "fsync", "uninterruptible sleep (D: waiting on the disk or another kernel "
                                               "resource) in fsync() on /var/lib/app/db"},
                        Case{'\0', -1, "", "had exited by the time why502 looked"}}) {
    EngineHarness h;
    w5_backend_state b = held_by(sec(31), 4121, "app", c.state);
    b.syscall_nr = c.nr;
    set_str(b.syscall_name, c.name);
    if (c.nr == 74) {
      b.wait_kind = W5_WAIT_FILE;
      set_str(b.wait_path, "/var/lib/app/db");
    }
    h.feed(b);
    const Record r = timed_out(h, sec(31));
    EXPECT_EQ(lines_with(r, c.says), 1) << dump(r);
  }
}

TEST(BackendEvidence, NeverAccepted) {
  EngineHarness h;
  w5_backend_state b = held_by(sec(31), 777, "gunicorn", 'T');
  b.found = W5_BACKEND_NOT_ACCEPTED;
  h.feed(b);
  const Record r = timed_out(h, sec(31));
  EXPECT_EQ(lines_with(r, "the backend never accept()ed nginx's connection: it waits in the accept queue of "
                          "127.0.0.1:9000, whose owner backend pid 777 (gunicorn) was stopped"),
            1)
      << dump(r);
}

TEST(BackendEvidence, ConnectTimeoutNamesTheListenersOwner) {
  EngineHarness h;
  w5_backend_state b = held_by(sec(31), 777, "gunicorn", 'T');
  b.found = W5_BACKEND_LISTENER;
  h.feed(b);
  const Record r = timed_out(h, sec(31), kConnecting);
  EXPECT_EQ(r.cause, Cause::connect_timeout) << dump(r);
  EXPECT_EQ(lines_with(r, "the listener on 127.0.0.1:9000 belongs to backend pid 777 (gunicorn), which was stopped"),
            1)
      << dump(r);
}

TEST(BackendEvidence, AUnixBackendWithSeveralConnectionsSaysItMayBeAnother) {
  EngineHarness h;
  w5_backend_state b = held_by(sec(31), 4121, "php-fpm8.2", 'S');
  b.syscall_nr = 230;
  set_str(b.syscall_name, "clock_nanosleep");
  b.unix_connections = 3;
  h.feed(b);
  const Record r = timed_out(h, sec(31));
  EXPECT_EQ(lines_with(r, "backend pid 4121 (php-fpm8.2) was sleeping in clock_nanosleep() when nginx gave up"), 1)
      << dump(r);
  EXPECT_EQ(lines_with(r, "this nginx worker had 3 connections to 127.0.0.1:9000 open: the backend process above "
                          "holds one of them, maybe not this request's"),
            1)
      << dump(r);
}

TEST(BackendEvidence, ARemoteBackendIsNamedRemote) {
  EngineHarness h;
  h.feed(backend_state(sec(31), W5_BACKEND_REMOTE));
  const Record r = timed_out(h, sec(31));
  EXPECT_EQ(r.cause, Cause::slow_backend) << dump(r);
  EXPECT_EQ(lines_with(r, "the backend 127.0.0.1:9000 is not on this host"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "backend pid"), 0) << dump(r);
  EXPECT_EQ(r.backend_cgroup, "");
}

TEST(BackendEvidence, NotForAnotherSocketNorALongAgoRead) {
  for (const bool other_socket : {true, false}) {
    EngineHarness h;
    w5_backend_state b = held_by(other_socket ? sec(31) : sec(20), 4121, "app", 'R');
    if (other_socket) b.upstream_sk = kUpSk + 0x100;
    h.feed(b);
    const Record r = timed_out(h, sec(31));
    EXPECT_EQ(lines_with(r, "backend pid"), 0) << dump(r);
    EXPECT_EQ(r.backend_cgroup, "");
  }
}

TEST(BackendEvidence, NotForAFailureThatIsNoTimeout) {
  EngineHarness h;
  h.feed(held_by(sec(31), 4121, "app", 'R'));
  h.feed(make_log({.ts = sec(31), .request = kReq, .connection = 10, .fmt = "recv() failed", .err = ECONNRESET,
                   .action = kReadingHeader, .peer = kBackendName, .upstream_sk = kUpSk, .upstream = kBackend,
                   .client = kClient, .client_sk = kClientSk, .upstream_local = kNginxEnd}));
  h.feed(make_error_page({.ts = sec(31.0001), .request = kReq, .connection = 10, .client_sk = kClientSk,
                          .status = 502, .peer = kBackendName, .client = kClient,
                          .states = {connected_no_header(kBackendName, 502, 10)}}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::reset);
  EXPECT_EQ(lines_with(h.records()[0], "backend pid"), 0) << dump(h.records()[0]);
}

TEST(BackendEvidence, EveryRecordOfAWorkerNamesItsCgroup) {
  EngineHarness h;
  const Record without = timed_out(h, sec(31));
  EXPECT_EQ(without.nginx_cgroup, "");
  EngineHarness with;
  with.feed(nginx_cgroup(sec(1), "/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope"));
  const Record r = timed_out(with, sec(31));
  EXPECT_EQ(r.nginx_unit, "docker:0123456789ab");
}

TEST(BackendEvidence, JsonKeysAreNullWhenUnknown) {
  Record r;
  r.nginx_cgroup = "/system.slice/nginx.service";
  r.nginx_unit = "nginx.service";
  const std::string json = record_to_json(r, WallClock(0));
  EXPECT_NE(json.find("\"nginx_cgroup\":\"/system.slice/nginx.service\",\"nginx_unit\":\"nginx.service\","
                      "\"backend_cgroup\":null,\"backend_unit\":null"),
            std::string::npos)
      << json;
}

}  // namespace
}  // namespace why502::test
