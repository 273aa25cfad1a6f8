// --capture-request and --anonymise-clients, on synthetic events.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <variant>

#include "cli/private_output.hpp"
#include "event_builders.hpp"
#include "events/address.hpp"
#include "events/anonymise.hpp"
#include "output/record_sink.hpp"

namespace why502::test {
namespace {

std::string request_of(std::string_view text, uint32_t len = UINT32_MAX) {
  EngineHarness h;
  h.feed(make_request_line(sec(1), 0x10, 7, text, len));
  h.feed(make_error_page({.ts = sec(1), .request = 0x10, .connection = 7, .status = 502, .has_upstream = false,
                          .client = ipv4("10.0.0.9", 5000)}));
  const std::vector<Record>& records = h.records();
  return records.size() == 1 ? records[0].request : "no record";
}

TEST(CaptureRequest, TheLineGoesIntoTheRecordOfItsRequest) {
  EXPECT_EQ(request_of("GET /a?b=c HTTP/1.1"), "GET /a?b=c HTTP/1.1");
  EXPECT_EQ(request_of("DELETE /x HTTP/2.0"), "DELETE /x HTTP/2.0");
  // Longer than the event holds: cut, and said so.
  const std::string long_line = "GET /" + std::string(200, 'a') + " HTTP/1.1";
  EXPECT_EQ(request_of(long_line.substr(0, W5_REQUEST_LINE_LEN - 1), 210),
            long_line.substr(0, W5_REQUEST_LINE_LEN - 1) + "...");
}

TEST(CaptureRequest, WhatDoesNotLookLikeARequestLineIsDropped) {
  EXPECT_EQ(request_of("\x01\x02garbage"), "");      // a wrong offset reads anything
  EXPECT_EQ(request_of("get / HTTP/1.1"), "");        // methods are upper case
  EXPECT_EQ(request_of("GET"), "");                   // no target
  EXPECT_EQ(request_of("GET /x HTTP/1.1", 40), "");  // the length nginx holds disagrees
  EXPECT_EQ(request_of("GET /\xff HTTP/1.1"), "");   // not printable ASCII
}

TEST(CaptureRequest, AnotherRequestsLineIsNotUsed) {
  EngineHarness h;
  h.feed(make_request_line(sec(1), 0x99, 7, "GET /other HTTP/1.1"));
  h.feed(make_error_page({.ts = sec(1), .request = 0x10, .connection = 7, .status = 502, .has_upstream = false,
                          .client = ipv4("10.0.0.9", 5000)}));
  ASSERT_EQ(h.records().size(), 1u);
  EXPECT_EQ(h.records()[0].request, "");
}

TEST(AnonymiseClients, CutsIpv4To24AndIpv6To48AndKeepsThePort) {
  w5_addr v4 = ipv4("192.168.7.42", 5000);
  anonymise_address(v4);
  EXPECT_EQ(format_endpoint(v4), "192.168.7.0:5000");
  w5_addr v6 = ipv6("2001:db8:1234:5678::1", 443);
  anonymise_address(v6);
  EXPECT_EQ(format_endpoint(v6), "[2001:db8:1234::]:443");

  Event log = make_log({.ts = sec(1), .upstream = ipv4("10.9.9.9", 8080), .client = ipv4("10.1.2.3", 80)});
  anonymise_clients(log);
  EXPECT_EQ(format_endpoint(std::get<w5_ngx_log>(log).client), "10.1.2.0:80");
  EXPECT_EQ(format_endpoint(std::get<w5_ngx_log>(log).upstream), "10.9.9.9:8080");  // upstreams stay
  // The anonymised event is what a recording gets.
  EXPECT_EQ(event_bytes(log).size(), sizeof(w5_ngx_log));
}

// Per event type: what --anonymise-clients cuts and what it keeps. One case
// per alternative of Event (checked below), so a new event type needs a case.
const w5_addr kClient = ipv4("203.0.113.77", 51000);
const w5_addr kClientCut = ipv4("203.0.113.0", 51000);
const w5_addr kClient6 = ipv6("2001:db8:aa:bb::77", 51001);
const w5_addr kClient6Cut = ipv6("2001:db8:aa::", 51001);
const w5_addr kListener = ipv4("192.0.2.1", 443);           // nginx's listener
const w5_addr kUpstream = ipv4("10.9.9.9", 8080);           // an upstream
const w5_addr kNginxSource = ipv4("10.9.8.7", 40000);       // nginx's end towards it
const w5_addr kNginxSourceCut = ipv4("10.9.8.0", 40000);

w5_sock_evidence evidence(w5_addr local, w5_addr remote, uint32_t server_side, uint32_t state = kTcpEstablished) {
  w5_sock_evidence e = rst(sec(1), 0x51, state, remote);
  e.local = local;
  e.server_side = server_side;
  return e;
}

w5_held_socket held_side(uint16_t state, w5_addr local, w5_addr remote, uint32_t server_side) {
  w5_held_socket s = held(state, local, remote);
  s.server_side = server_side;
  return s;
}

struct AnonymiseCase {
  std::string what;
  Event before;
  Event after;  // what anonymise_clients must make of it, byte for byte
};

std::vector<AnonymiseCase> anonymise_cases() {
  std::vector<AnonymiseCase> cases;
  cases.push_back({"ngx_log: the client and nginx's source cut, the upstream kept",
                   make_log({.ts = sec(1), .peer = "10.9.9.9:8080", .upstream = kUpstream, .client = kClient,
                             .upstream_local = kNginxSource}),
                   make_log({.ts = sec(1), .peer = "10.9.9.9:8080", .upstream = kUpstream, .client = kClientCut,
                             .upstream_local = kNginxSourceCut})});
  {
    const w5_ngx_log whole = make_log({.ts = sec(1), .peer = "10.9.9.9:8080", .upstream = kUpstream,
                                       .client = kClient, .upstream_local = kNginxSource});
    const w5_ngx_log cut = make_log({.ts = sec(1), .peer = "10.9.9.9:8080", .upstream = kUpstream,
                                     .client = kClientCut, .upstream_local = kNginxSourceCut});
    cases.push_back({"ngx_log_repeat: as ngx_log", make_log_repeat(whole, whole), make_log_repeat(cut, cut)});
  }
  cases.push_back({"ngx_error_page: the client cut (IPv6 to its /48), the peers kept",
                   make_error_page({.ts = sec(1), .peer = "10.9.9.9:8080", .client = kClient6,
                                    .states = {not_connected("10.9.9.9:8080")}}),
                   make_error_page({.ts = sec(1), .peer = "10.9.9.9:8080", .client = kClient6Cut,
                                    .states = {not_connected("10.9.9.9:8080")}})});
  cases.push_back({"client_response: the client cut, nginx's listener kept",
                   make_client_response({.ts = sec(1), .status = 502, .remote = kClient, .local = kListener}),
                   make_client_response({.ts = sec(1), .status = 502, .remote = kClientCut, .local = kListener})});
  w5_upstream_status status_before = make_upstream_status({.ts = sec(1), .remote = kUpstream});
  status_before.local = kNginxSource;
  w5_upstream_status status_after = status_before;
  status_after.local = kNginxSourceCut;
  cases.push_back({"upstream_status: nginx's source cut, the upstream kept", status_before, status_after});
  cases.push_back({"sock_evidence, server side (a client's RST on nginx's socket): the client cut",
                   evidence(kListener, kClient, W5_SERVER_SIDE), evidence(kListener, kClientCut, W5_SERVER_SIDE)});
  w5_signal signal_before = make_signal(
      {.ts = sec(1), .sender = 100, .sender_comm = "nginx", .sig = 3, .target = 101, .target_comm = "nginx",
       .sockets = {held(kHeldListen, kListener),                                        // listener, kernel flag set
                   held_side(kHeldListen, ipv4("192.0.2.1", 80), {}, 0),                // listen(fd, 0): no backlog
                   held_side(kTcpEstablished, kListener, kClient, W5_SERVER_SIDE),      // a client's connection
                   held_side(kTcpEstablished, kListener, kClient6, W5_SERVER_SIDE),
                   held_side(kTcpEstablished, kNginxSource, kUpstream, 0),              // towards an upstream
                   held(kTcpEstablished, unix_sock(), unix_peer(0xffff888105b01000), "/run/php.sock")}});
  signal_before.sockets[0].server_side = W5_SERVER_SIDE;
  w5_signal signal_after = signal_before;
  signal_after.sockets[2].remote = kClientCut;
  signal_after.sockets[3].remote = kClient6Cut;
  signal_after.sockets[4].local = kNginxSourceCut;
  cases.push_back({"signal: the connecting end of every held socket cut, listeners and upstreams kept", signal_before,
                   signal_after});
  // No address of anyone: left as they are.
  w5_listener_state listener{};
  listener.h = header(W5_EV_LISTENER_STATE, sizeof(listener), sec(1), 0, 0);
  listener.addr = kUpstream;  // an upstream's listener
  listener.queued = 5;
  cases.push_back({"listener_state: an upstream's listener, kept", listener, listener});
  w5_port_usage ports{};
  ports.h = header(W5_EV_PORT_USAGE, sizeof(ports), sec(1), kWorker, 0);
  ports.remote = kUpstream;  // an upstream nginx connects to
  ports.established = 4;
  cases.push_back({"port_usage: an upstream's address, kept", ports, ports});
  w5_socket_file socket_file{};
  socket_file.h = header(W5_EV_SOCKET_FILE, sizeof(socket_file), sec(1), kWorker, kWorker);
  set_str(socket_file.path, "/run/php/php8.2-fpm.sock");
  set_str(socket_file.user, "www-data");
  cases.push_back({"socket_file: a path and owners, no address", socket_file, socket_file});
  w5_backend_state backend_before{};
  backend_before.h = header(W5_EV_BACKEND_STATE, sizeof(backend_before), sec(1), kWorker, kWorker);
  backend_before.upstream = kUpstream;
  backend_before.upstream_local = kNginxSource;
  backend_before.wait_local = kNginxSource;  // the backend's own end toward its database
  backend_before.wait_remote = kUpstream;
  set_str(backend_before.comm, "gunicorn");
  set_str(backend_before.cgroup, "/system.slice/app.service");
  w5_backend_state backend_after = backend_before;
  backend_after.upstream_local = kNginxSourceCut;
  backend_after.wait_local = kNginxSourceCut;
  cases.push_back({"backend_state: nginx's source and the backend's connecting end cut, servers and names kept",
                   backend_before, backend_after});
  w5_backend_state accepted_before = backend_before;
  accepted_before.wait_local = kListener;  // blocked reading a connection it accepted: a client's
  accepted_before.wait_remote = kClient;
  accepted_before.wait_server_side = W5_SERVER_SIDE;
  w5_backend_state accepted_after = accepted_before;
  accepted_after.upstream_local = kNginxSourceCut;
  accepted_after.wait_remote = kClientCut;
  cases.push_back({"backend_state: a connection the backend accepted has its client cut", accepted_before,
                   accepted_after});
  w5_process_cgroup cgroup{};
  cgroup.h = header(W5_EV_PROCESS_CGROUP, sizeof(cgroup), sec(1), kWorker, kWorker);
  set_str(cgroup.cgroup, "/system.slice/nginx.service");
  cases.push_back({"process_cgroup: no address", cgroup, cgroup});
  w5_process_fork fork{};
  fork.h = header(W5_EV_PROCESS_FORK, sizeof(fork), sec(1), 100, 100);
  fork.child_tgid = 101;
  set_str(fork.comm, "nginx");
  cases.push_back({"process_fork: no address", fork, fork});
  cases.push_back({"process_death: no address", make_death(sec(1), 101, 3, "nginx"), make_death(sec(1), 101, 3, "nginx")});
  w5_process_exec exec{};
  exec.h = header(W5_EV_PROCESS_EXEC, sizeof(exec), sec(1), 100, 100);
  set_str(exec.comm, "nginx");
  cases.push_back({"process_exec: no address", exec, exec});
  cases.push_back({"oom_victim: no address", make_oom_victim(sec(1), 101), make_oom_victim(sec(1), 101)});
  cases.push_back({"request_line: no address field", make_request_line(sec(1), 0x10, 7, "GET / HTTP/1.1"),
                   make_request_line(sec(1), 0x10, 7, "GET / HTTP/1.1")});
  cases.push_back({"ngx_location: a name from nginx's configuration, no address",
                   make_location(sec(1), 0x10, 7, "/maintenance"), make_location(sec(1), 0x10, 7, "/maintenance")});
  w5_ngx_error_page_target target{};
  target.h = header(W5_EV_NGX_ERROR_PAGE_TARGET, sizeof(target), sec(1), kWorker, kWorker);
  target.status = 502;
  target.overwrite = 200;
  target.target = W5_ERROR_PAGE_NAMED;
  cases.push_back({"ngx_error_page_target: statuses from nginx's configuration, no address", target, target});
  cases.push_back({"request_ended: no address", make_request_ended(sec(1), 0x10, 7, 2),
                   make_request_ended(sec(1), 0x10, 7, 2)});
  const w5_upstream_reuse reuse = make_reuse({.ts = sec(1), .request = 0x10, .connection = 7, .upstream_sk = 0x20});
  cases.push_back({"upstream_reuse: counters and times, no address", reuse, reuse});
  return cases;
}

TEST(AnonymiseClients, EveryEventTypeCutsItsClientsAndKeepsItsServers) {
  std::set<size_t> types;
  for (AnonymiseCase c : anonymise_cases()) {
    types.insert(c.before.index());
    anonymise_clients(c.before);
    const std::span<const uint8_t> got = event_bytes(c.before), want = event_bytes(c.after);
    EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin(), want.end())) << c.what;
  }
  EXPECT_EQ(types.size(), std::variant_size_v<Event>) << "an event type has no case here";
}

TEST(AnonymiseClients, SockEvidenceOfAConnectingSocketKeepsItsServer) {
  // nginx's upstream socket: the upstream's RST keeps naming the upstream.
  Event upstream = evidence(kNginxSource, kUpstream, 0);
  anonymise_clients(upstream);
  EXPECT_EQ(format_endpoint(std::get<w5_sock_evidence>(upstream).remote), "10.9.9.9:8080");
  EXPECT_EQ(format_endpoint(std::get<w5_sock_evidence>(upstream).local), "10.9.8.0:40000");
  // The client's own socket (an RST nginx's write drew from it, while nginx
  // was on the CPU): the client is its local, connecting end.
  Event clients_own = evidence(kClient, kListener, 0);
  anonymise_clients(clients_own);
  EXPECT_EQ(format_endpoint(std::get<w5_sock_evidence>(clients_own).local), "203.0.113.0:51000");
  EXPECT_EQ(format_endpoint(std::get<w5_sock_evidence>(clients_own).remote), "192.0.2.1:443");
}

// The engine, fed anonymised events as a live session feeds it.
class AnonymisedHarness {
 public:
  template <typename T>
  void feed(const T& raw) {
    Event event = raw;
    anonymise_clients(event);
    Result<Event> decoded = decode_event(event_bytes(event));
    ASSERT_TRUE(decoded.ok()) << decoded.error();
    engine_.handle(decoded.value(), records_);
  }
  const std::vector<Record>& records() {
    engine_.finish(records_);
    return records_;
  }

 private:
  Engine engine_;
  std::vector<Record> records_;
};

TEST(AnonymiseClients, UpstreamEvidenceAndBackendDeathsStillJoin) {
  // nginx's connection to a backend whose process crashed while holding it:
  // the backend's end of it (accepted: server side) and nginx's ngx_log both
  // name nginx's source address, cut the same way, so they still meet.
  const w5_addr backend = ipv4("127.0.0.1", 9000);
  const w5_addr nginx_end = ipv4("127.0.0.1", 40000);
  AnonymisedHarness h;
  h.feed(make_signal({.ts = sec(300.010), .sender = 3001, .sender_comm = "gunicorn", .sig = 11, .code = 1,
                      .target = 3001, .target_parent = 3000, .target_comm = "gunicorn",
                      .sockets = {held_side(kTcpEstablished, backend, nginx_end, W5_SERVER_SIDE)}}));
  h.feed(make_death(sec(300.011), 3001, 11, "gunicorn"));
  h.feed(make_log({.ts = sec(300.012), .request = 0x10, .connection = 95,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = "127.0.0.1:9000", .upstream_sk = 0x77, .upstream = backend, .client = kClient,
                   .client_sk = 0x88, .upstream_local = nginx_end}));
  h.feed(make_error_page({.ts = sec(300.0121), .request = 0x10, .connection = 95, .client_sk = 0x88,
                          .status = 502, .peer = "127.0.0.1:9000", .client = kClient,
                          .states = {connected_no_header("127.0.0.1:9000", 502, 12)}}));
  const std::vector<Record>& records = h.records();
  ASSERT_EQ(records.size(), 1u) << dump(records);
  EXPECT_EQ(records[0].cause, Cause::backend_crashed) << dump(records[0]);
  EXPECT_EQ(lines_with(records[0], "holding the connection"), 1) << dump(records[0]);
  EXPECT_EQ(records[0].client, "203.0.113.0:51000");
  EXPECT_EQ(records[0].upstream, "127.0.0.1:9000");

  // A reset from an upstream keeps its kernel evidence.
  AnonymisedHarness h2;
  h2.feed(rst(sec(301.501), 0x99, kTcpEstablished, backend));
  h2.feed(make_log({.ts = sec(301.502), .request = 0x20, .connection = 96, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = "127.0.0.1:9000", .upstream_sk = 0x99,
                   .upstream = backend, .client = kClient, .client_sk = 0x89, .upstream_local = nginx_end}));
  h2.feed(make_error_page({.ts = sec(301.5021), .request = 0x20, .connection = 96, .client_sk = 0x89,
                          .status = 502, .peer = "127.0.0.1:9000", .client = kClient,
                          .states = {connected_no_header("127.0.0.1:9000", 502, 900)}}));

  const std::vector<Record>& reset = h2.records();
  ASSERT_EQ(reset.size(), 1u) << dump(reset);
  EXPECT_EQ(reset[0].cause, Cause::reset) << dump(reset[0]);
  EXPECT_EQ(lines_with(reset[0], "RST received from 127.0.0.1:9000"), 1) << dump(reset[0]);
  EXPECT_EQ(reset[0].client, "203.0.113.0:51000");
}

mode_t mode_of(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0 ? st.st_mode & 0777 : 0;
}

std::string contents(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(PrivateOutput, NewFilesAre0600WhateverTheUmaskAndExistingOnesKeepTheirMode) {
  char dir_template[] = "/tmp/why502-private-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const mode_t old_umask = umask(022);  // the usual one: it would let 0644 through

  const std::string created = dir + "/records.jsonl";
  std::ofstream file;
  open_private_output(file, created, std::ios::trunc);
  file << "one\n";
  file.close();
  EXPECT_EQ(mode_of(created), 0600u);
  open_private_output(file, created, std::ios::app);  // serve --log appends
  file << "two\n";
  file.close();
  EXPECT_EQ(contents(created), "one\ntwo\n");
  open_private_output(file, created, std::ios::trunc);  // trace -o starts over
  file.close();
  EXPECT_EQ(contents(created), "");

  // A file the operator made (say 0640 for a log shipper's group) is theirs.
  const std::string existing = dir + "/shipped.jsonl";
  std::ofstream(existing) << "kept\n";
  ASSERT_EQ(chmod(existing.c_str(), 0640), 0);
  open_private_output(file, existing, std::ios::app);
  file.close();
  EXPECT_EQ(mode_of(existing), 0640u);
  EXPECT_EQ(contents(existing), "kept\n");

  // Cannot be written: one line saying why.
  try {
    open_private_output(file, dir + "/no/such/dir/x", std::ios::trunc);
    ADD_FAILURE() << "no error";
  } catch (const FatalError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot write " + dir + "/no/such/dir/x: No such file or directory");
  }
  umask(old_umask);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace why502::test
