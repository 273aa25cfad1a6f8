// Writes the seed corpora of the fuzz targets into DIR/<target>/ (usually
// fuzz/corpus): well-formed inputs, one per situation why502 explains, from
// which the fuzzers mutate. The ELF seeds are real binaries and are not made
// here (see docs/FUZZING.md). Usage: write_seed_corpus DIR
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "recording/format.hpp"
#include "recording/writer.hpp"
#include "why502_version.hpp"
#include "why502_wire.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

constexpr uint32_t kWorker = 4242;
constexpr uint64_t kUnsetMs = ~0ull;
constexpr uint64_t kSecond = 1'000'000'000ull;
constexpr uint64_t kStart = 5000 * kSecond;  // five thousand seconds after boot

template <typename T>
Bytes bytes_of(const T& value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  return Bytes(p, p + sizeof(T));
}

template <size_t N>
void set_text(char (&field)[N], std::string_view text) {
  std::memset(field, 0, N);
  std::memcpy(field, text.data(), std::min(text.size(), N - 1));
}

w5_addr ipv4(const char* ip, uint16_t port) {
  w5_addr a{};
  a.family = AF_INET;
  a.port = port;
  inet_pton(AF_INET, ip, a.addr);
  return a;
}

template <typename T>
T event(uint32_t type, uint64_t ts, uint32_t tgid = kWorker) {
  T e{};
  e.h.type = type;
  e.h.size = sizeof(T);
  e.h.ts_ns = ts;
  e.h.tgid = tgid;
  e.h.tid = tgid;
  return e;
}

const w5_addr kClient = ipv4("127.0.0.1", 51234);
const w5_addr kUpstream = ipv4("127.0.0.1", 9000);
constexpr uint64_t kClientSk = 0xffff888100001000;
constexpr uint64_t kUpstreamSk = 0xffff888100002000;

w5_ngx_log nginx_log(uint64_t ts, std::string_view fmt, int err, std::string_view action) {
  auto e = event<w5_ngx_log>(W5_EV_NGX_LOG, ts);
  e.request = 0x5555000010;
  e.connection = 7;
  e.upstream_sk = kUpstreamSk;
  e.client_sk = kClientSk;
  e.level = 4;  // NGX_LOG_ERR
  e.err = err;
  e.client = kClient;
  e.upstream = kUpstream;
  e.upstream_local = ipv4("127.0.0.1", 40000);
  set_text(e.peer, "127.0.0.1:9000");
  set_text(e.fmt, fmt);
  set_text(e.action, action);
  return e;
}

w5_ngx_error_page error_page(uint64_t ts, uint32_t status, uint64_t connect_ms, uint64_t bytes_received) {
  auto e = event<w5_ngx_error_page>(W5_EV_NGX_ERROR_PAGE, ts);
  e.request = 0x5555000010;
  e.connection = 7;
  e.client_sk = kClientSk;
  e.status = status;
  e.n_states = 1;
  e.has_upstream = 1;
  e.client = kClient;
  set_text(e.peer, "127.0.0.1:9000");
  e.states[0].status = status;
  e.states[0].response_ms = 0;
  e.states[0].connect_ms = connect_ms;
  e.states[0].header_ms = kUnsetMs;
  e.states[0].bytes_received = bytes_received;
  e.states[0].bytes_sent = 180;
  set_text(e.states[0].peer, "127.0.0.1:9000");
  return e;
}

w5_client_response client_response(uint64_t ts, uint32_t status) {
  auto e = event<w5_client_response>(W5_EV_CLIENT_RESPONSE, ts);
  e.sk = kClientSk;
  e.status = status;
  e.local = ipv4("127.0.0.1", 80);
  e.remote = kClient;
  return e;
}

w5_sock_evidence sock_evidence(uint32_t type, uint64_t ts, uint32_t tcp_state, int err) {
  auto e = event<w5_sock_evidence>(type, ts, 0);
  e.sk = kUpstreamSk;
  e.err = err;
  e.state = tcp_state;
  e.owner_tgid = kWorker;
  e.local = ipv4("127.0.0.1", 40000);
  e.remote = kUpstream;
  return e;
}

// One request's story per scenario, as the ring buffer would deliver it.
struct Scenario {
  std::string name;
  std::vector<Bytes> events;
  bool kernel_only = false;
};

// A wire-version-2 log line with its format's arguments, as limit_req logs it.
w5_ngx_log limiting_log(uint64_t ts) {
  auto e = nginx_log(ts, "limiting requests%s, excess: %ui.%03ui by zone \"%V\"", 0, "");
  e.upstream_sk = 0;
  e.n_args = W5_LOG_ARGS;
  e.args[0].readable = W5_ARG_CSTR;
  e.args[0].word = 0x5555000100;
  e.args[1].word = 1;
  e.args[2].word = 0;
  e.args[3].readable = W5_ARG_NGX_STR;
  e.args[3].word = 0x5555000200;
  e.args[3].str_len = 3;
  set_text(e.args[3].ngx_str, "one");
  return e;
}

std::vector<Scenario> scenarios() {
  std::vector<Scenario> all;
  const uint64_t t = kStart;
  all.push_back({"limited", {bytes_of(limiting_log(t + 100)), bytes_of(error_page(t + 200, 503, kUnsetMs, 0))}});
  all.push_back({"refused",
                 {bytes_of(sock_evidence(W5_EV_TCP_RESET, t, 2, 0)),
                  bytes_of(sock_evidence(W5_EV_SOCK_ERROR, t + 10, 7, ECONNREFUSED)),
                  bytes_of(nginx_log(t + 100, "connect() failed", ECONNREFUSED, "connecting to upstream")),
                  bytes_of(error_page(t + 200, 502, kUnsetMs, 0)), bytes_of(client_response(t + 300, 502))}});
  all.push_back({"reset",
                 {bytes_of(sock_evidence(W5_EV_TCP_RESET, t, 1, 0)),
                  bytes_of(nginx_log(t + 100, "recv() failed", ECONNRESET, "reading response header from upstream")),
                  bytes_of(error_page(t + 200, 502, 1, 0)), bytes_of(client_response(t + 300, 502))}});

  auto listener = event<w5_listener_state>(W5_EV_LISTENER_STATE, t + 60 * kSecond, 0);
  listener.addr = kUpstream;
  listener.queued = 129;
  listener.backlog = 128;
  listener.owner_pid = 777;
  listener.owners = 1;
  listener.fds_open = 1024;
  listener.fd_limit = 1024;
  listener.listen_overflows = 12;
  set_text(listener.owner_comm, "gunicorn");
  all.push_back({"backlog_full",
                 {bytes_of(sock_evidence(W5_EV_SYN_RETRANSMIT, t + kSecond, 2, 0)), bytes_of(listener),
                  bytes_of(nginx_log(t + 60 * kSecond, "upstream timed out", ETIMEDOUT, "connecting to upstream")),
                  bytes_of(error_page(t + 60 * kSecond + 100, 504, kUnsetMs, 0)),
                  bytes_of(client_response(t + 60 * kSecond + 200, 504))}});

  // A slow backend on this host, blocked on its database; nginx's cgroup first.
  auto cgroup = event<w5_process_cgroup>(W5_EV_PROCESS_CGROUP, t);
  set_text(cgroup.cgroup, "/system.slice/nginx.service");
  auto backend = event<w5_backend_state>(W5_EV_BACKEND_STATE, t + 60 * kSecond);
  backend.upstream_sk = kUpstreamSk;
  backend.upstream = kUpstream;
  backend.upstream_local = ipv4("127.0.0.1", 40000);
  backend.found = W5_BACKEND_HOLDER;
  backend.pid = 777;
  backend.tid = 777;
  backend.threads = 1;
  set_text(backend.comm, "gunicorn");
  set_text(backend.thread_comm, "gunicorn");
  backend.state = 'S';
  backend.syscall_nr = 45;
  set_text(backend.syscall_name, "recvfrom");
  backend.wait_kind = W5_WAIT_SOCKET;
  backend.wait_local = ipv4("127.0.0.1", 50000);
  backend.wait_remote = ipv4("127.0.0.1", 5432);
  backend.wait_listener_pid = 880;
  set_text(backend.wait_listener_comm, "postgres");
  backend.sample_ns = 150'000'000;
  backend.quota_us = -1;
  set_text(backend.cgroup, "/system.slice/app.service");
  all.push_back({"slow_backend",
                 {bytes_of(cgroup), bytes_of(backend),
                  bytes_of(nginx_log(t + 60 * kSecond, "upstream timed out", ETIMEDOUT,
                                     "reading response header from upstream")),
                  bytes_of(error_page(t + 60 * kSecond + 100, 504, 1, 0)),
                  bytes_of(client_response(t + 60 * kSecond + 200, 504))}});

  auto upstream_5xx = event<w5_upstream_status>(W5_EV_UPSTREAM_STATUS, t);
  upstream_5xx.sk = kUpstreamSk;
  upstream_5xx.status = 502;
  upstream_5xx.proto = W5_PROTO_HTTP;
  upstream_5xx.remote = kUpstream;
  all.push_back({"upstream_status", {bytes_of(upstream_5xx), bytes_of(client_response(t + 100, 502))}});

  auto signal = event<w5_signal>(W5_EV_SIGNAL, t, 1);
  signal.sig = 9;
  signal.target_tgid = 777;
  signal.target_parent_tgid = 1;
  signal.n_sockets = 1;
  set_text(signal.target_comm, "gunicorn");
  set_text(signal.sender_comm, "systemd");
  signal.sockets[0].family = AF_INET;
  signal.sockets[0].state = 1;  // established: this very connection
  signal.sockets[0].local = kUpstream;
  signal.sockets[0].remote = ipv4("127.0.0.1", 40000);
  auto oom = event<w5_oom_victim>(W5_EV_OOM_VICTIM, t + 1, 0);
  oom.pid = 777;
  auto death = event<w5_process_death>(W5_EV_PROCESS_DEATH, t + 2, 777);
  death.signal = 9;
  death.exit_code = 9;
  set_text(death.comm, "gunicorn");
  all.push_back({"backend_crashed",
                 {bytes_of(signal), bytes_of(oom), bytes_of(death),
                  bytes_of(nginx_log(t + 100, "upstream prematurely closed connection", 0,
                                     "reading response header from upstream")),
                  bytes_of(error_page(t + 200, 502, 1, 0)), bytes_of(client_response(t + 300, 502))}});

  all.push_back({"retried",
                 {bytes_of(nginx_log(t, "connect() failed", ECONNREFUSED, "connecting to upstream")),
                  bytes_of(client_response(t + 100, 200))}});

  // --lean: no client echo; why502 read in the worker's memory that the request ended.
  auto ended = event<w5_request_ended>(W5_EV_REQUEST_ENDED, t + kSecond, kWorker);
  ended.h.tid = 0;
  ended.request = 0x5555000010;
  ended.connection = 7;
  ended.requests = 1;
  auto lean_failure = nginx_log(t, "connect() failed", ECONNREFUSED, "connecting to upstream");
  lean_failure.requests = 1;
  all.push_back({"recovered_under_lean", {bytes_of(lean_failure), bytes_of(ended)}});

  auto fork = event<w5_process_fork>(W5_EV_PROCESS_FORK, t, 1000);
  fork.parent_tgid = 1000;
  fork.child_tgid = kWorker;
  set_text(fork.comm, "nginx");
  all.push_back({"truncated",
                 {bytes_of(fork), bytes_of(nginx_log(t + 100, "upstream prematurely closed connection", 0,
                                                     "reading upstream"))}});

  // A pooled connection the backend closed as nginx's POST went out.
  auto reuse = event<w5_upstream_reuse>(W5_EV_UPSTREAM_REUSE, t + 100);
  reuse.request = 0x5555000010;
  reuse.connection = 7;
  reuse.upstream_sk = kUpstreamSk;
  reuse.upstream_requests = 3;
  reuse.tcp_state = 8;  // CLOSE_WAIT: a FIN came
  reuse.hz = 250;
  reuse.srtt_us = 40;
  reuse.data_in_jiffies = 1000;
  reuse.sent_jiffies = 1500;
  reuse.ack_in_jiffies = 1500;
  reuse.now_jiffies = 1501;
  all.push_back({"keepalive_race",
                 {bytes_of(reuse),
                  bytes_of(nginx_log(t + 100, "upstream prematurely closed connection", 0,
                                     "reading response header from upstream")),
                  bytes_of(error_page(t + 200, 502, 1, 0)), bytes_of(client_response(t + 300, 502))}});
  // A configured `return 502;`: its location's name, then the error page without an upstream.
  auto location = event<w5_ngx_location>(W5_EV_NGX_LOCATION, t);
  location.request = 0x5555000010;
  location.connection = 7;
  location.len = 12;
  set_text(location.name, "/maintenance");
  auto configured = error_page(t + 1, 502, 0, 0);
  configured.n_states = 0;
  configured.has_upstream = 0;
  configured.peer[0] = 0;
  all.push_back({"configured_return", {bytes_of(location), bytes_of(configured)}});

  // A storm of one refusal: whole once, then as a repeat of it (another
  // request and client), each with its reset (carrying its error) and page.
  {
    const w5_ngx_log first = nginx_log(t + 1, "connect() failed", 111, "connecting to upstream");
    auto repeat = event<w5_ngx_log_repeat>(W5_EV_NGX_LOG_REPEAT, t + 500);
    repeat.template_ts = first.h.ts_ns;
    repeat.request = 0x5555000020;
    repeat.connection = 8;
    repeat.upstream_sk = kUpstreamSk + 0x100;
    repeat.client_sk = kClientSk + 0x100;
    repeat.client = ipv4("127.0.0.1", 51235);
    repeat.upstream = kUpstream;
    repeat.upstream_local = ipv4("127.0.0.1", 40001);
    auto reset = sock_evidence(W5_EV_TCP_RESET, t, 2, 111);
    auto second_page = error_page(t + 600, 502, 0, 0);
    second_page.request = repeat.request;
    second_page.connection = repeat.connection;
    second_page.client_sk = repeat.client_sk;
    second_page.client = repeat.client;
    all.push_back({"refused_storm",
                   {bytes_of(reset), bytes_of(first), bytes_of(error_page(t + 2, 502, 0, 0)),
                    bytes_of(repeat), bytes_of(second_page)}});
  }

  all.push_back({"kernel_only",
                 {bytes_of(sock_evidence(W5_EV_TCP_RESET, t, 2, 0)), bytes_of(client_response(t + 100, 502))},
                 true});
  return all;
}

void write_file(const fs::path& path, const Bytes& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "write_seed_corpus: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

void write_file(const fs::path& path, std::string_view text) {
  write_file(path, Bytes(text.begin(), text.end()));
}

// event_decoder: an options byte, then each event behind its 16-bit length.
void write_event_seeds(const fs::path& dir) {
  for (const Scenario& s : scenarios()) {
    Bytes input{static_cast<uint8_t>(s.kernel_only ? 1 : 0)};
    for (const Bytes& e : s.events) {
      input.push_back(static_cast<uint8_t>(e.size() & 0xff));
      input.push_back(static_cast<uint8_t>(e.size() >> 8));
      input.insert(input.end(), e.begin(), e.end());
    }
    write_file(dir / s.name, input);
  }
}

// The events in three blocks (the first event, the middle ones, the last),
// one byte of the middle block's payload flipped: the reader skips it.
void write_three_blocks_middle_corrupt(const fs::path& out, const fs::path& scratch, const std::vector<Bytes>& events,
                                       int64_t clock_offset_ns) {
  {
    why502::recording::Writer writer(scratch.string(), clock_offset_ns);
    for (size_t i = 0; i < events.size(); ++i) {
      writer.add_event(events[i]);
      if (i == 0 || i + 2 == events.size()) writer.flush(0, true);
    }
  }
  std::ifstream in(scratch, std::ios::binary);
  Bytes file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string text(file.begin(), file.end());
  const size_t second = text.find("BLK1", text.find("BLK1") + 1);
  if (second != std::string::npos && second + sizeof(why502::recording::BlockHeader) + 1 < file.size())
    file[second + sizeof(why502::recording::BlockHeader) + 1] ^= 0x20;
  write_file(out, file);
}

// recording_reader: whole recordings as the writer makes them (one of them
// cut off inside its block, one in format 1, one with a corrupt middle
// block), and the framed form the fuzzer wraps itself: metadata, a NUL, then
// one block's entries.
void write_recording_seeds(const fs::path& dir) {
  constexpr int64_t kClockOffsetNs = 1'763'700'000'000'000'000;
  const std::string metadata =
      "{\"why502\":\"" WHY502_VERSION "\",\"clock_offset_ns\":" + std::to_string(kClockOffsetNs) + "}";
  const fs::path scratch = fs::temp_directory_path() / ("why502-seeds-" + std::to_string(getpid()));
  for (const Scenario& s : scenarios()) {
    {
      why502::recording::Writer writer(scratch.string(), kClockOffsetNs);
      for (const Bytes& e : s.events) writer.add_event(e);
      writer.add_record("{\"type\":\"gateway_error\",\"cause\":\"" + s.name + "\"}");
    }
    std::ifstream in(scratch, std::ios::binary);
    Bytes file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    write_file(dir / (s.name + ".w502"), file);
    if (s.name == "refused") {
      // Format 1, as why502 wrote before the header named the wire version.
      Bytes format1 = file;
      format1[8] = 1;
      format1.erase(format1.begin() + 12, format1.begin() + 16);
      write_file(dir / "format1.w502", format1);
      write_three_blocks_middle_corrupt(dir / "corrupt_middle_block.w502", scratch, s.events, kClockOffsetNs);
      file.resize(file.size() - 10);
      write_file(dir / "cut_off.w502", file);
    }

    Bytes framed(metadata.begin(), metadata.end());
    framed.push_back(0);
    for (const Bytes& e : s.events) {
      why502::recording::EntryHeader entry{static_cast<uint8_t>(why502::recording::EntryKind::event), {}, 0};
      entry.bytes = static_cast<uint32_t>(e.size());
      const Bytes header = bytes_of(entry);
      framed.insert(framed.end(), header.begin(), header.end());
      framed.insert(framed.end(), e.begin(), e.end());
    }
    write_file(dir / (s.name + ".framed"), framed);
  }
  fs::remove(scratch);
}

// sock_diag: a dump of two listeners and its end, for each family.
void write_sock_diag_seeds(const fs::path& dir) {
  for (const int family : {AF_INET, AF_INET6}) {
    Bytes reply;
    for (const uint16_t port : {80, 9000}) {
      struct {
        nlmsghdr header;
        inet_diag_msg msg;
      } message{};
      message.header.nlmsg_len = sizeof(message);
      message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
      message.header.nlmsg_flags = NLM_F_MULTI;
      message.msg.idiag_family = static_cast<uint8_t>(family);
      message.msg.idiag_state = 10;  // TCP_LISTEN
      message.msg.id.idiag_sport = htons(port);
      if (family == AF_INET) message.msg.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
      message.msg.idiag_rqueue = 3;
      message.msg.idiag_wqueue = 128;
      message.msg.idiag_inode = 40000u + port;
      const Bytes b = bytes_of(message);
      reply.insert(reply.end(), b.begin(), b.end());
    }
    nlmsghdr done{};
    done.nlmsg_len = NLMSG_LENGTH(sizeof(int));
    done.nlmsg_type = NLMSG_DONE;
    const Bytes d = bytes_of(done);
    reply.insert(reply.end(), d.begin(), d.end());
    reply.insert(reply.end(), sizeof(int), 0);

    Bytes input{static_cast<uint8_t>(family == AF_INET6 ? 1 : 0)};
    input.insert(input.end(), reply.begin(), reply.end());
    write_file(dir / (family == AF_INET ? "ipv4_dump" : "ipv6_dump"), input);
  }
}

// proc_files: a selector byte (0 stat, 1 limits, 2 netstat, 3 status), then
// the file as Linux 6.1 writes it.
void write_proc_seeds(const fs::path& dir) {
  write_file(dir / "stat", std::string("\x00", 1) +
                               "23875 (nginx) S 23874 23874 23874 0 -1 4194624 310 0 0 0 0 0 0 0 20 0 1 0 "
                               "1234567 60000000 1200 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0\n");
  write_file(dir / "stat_comm_with_parens", std::string("\x00", 1) + "4242 (a) b (c)) R 1 4242 4242 0 -1\n");
  write_file(dir / "limits",
             "\x01"
             "Limit                     Soft Limit           Hard Limit           Units     \n"
             "Max cpu time              unlimited            unlimited            seconds   \n"
             "Max open files            1024                 524288               files     \n"
             "Max locked memory         8388608              8388608              bytes     \n");
  write_file(dir / "netstat",
             "\x02"
             "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPTimeouts\n"
             "TcpExt: 0 0 12 14 3\n"
             "IpExt: InNoRoutes InTruncatedPkts\n"
             "IpExt: 0 0\n");
  write_file(dir / "status",
             "\x03"
             "Name:\twhy502\nUmask:\t0022\nState:\tR (running)\nPid:\t4242\n"
             "CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n"
             "CapBnd:\t000001ffffffffff\n");
}

// nginx_log_classifier: errno (4 bytes), then format, action and peer.
void write_classifier_seeds(const fs::path& dir) {
  struct Seed {
    const char* name;
    int32_t err;
    std::string_view fmt, action, peer;
  };
  const Seed seeds[] = {
      {"refused", ECONNREFUSED, "connect() failed", "connecting to upstream", "127.0.0.1:9000"},
      {"unix_backlog", EAGAIN, "connect() to %V failed", "connecting to upstream", "unix:/run/php/fpm.sock"},
      {"timeout", ETIMEDOUT, "upstream timed out", "reading response header from upstream", "127.0.0.1:9000"},
      {"reset", ECONNRESET, "recv() failed", "reading response header from upstream", "[::1]:9000"},
      {"invalid", 0, "upstream sent invalid header", "reading response header from upstream", "127.0.0.1:9000"},
      {"no_live", 0, "no live upstreams", "connecting to upstream", "backend"},
      {"dns", 0, "%V could not be resolved", "", ""},
      {"tls", 0, "SSL_do_handshake() failed", "SSL handshaking to upstream", "127.0.0.1:443"},
      {"limited", 0, "limiting requests, excess: %ui.%03ui by zone", "", ""},
      {"no_local_port", EADDRNOTAVAIL, "connect() to %V failed", "connecting to upstream", "127.0.0.1:9000"},
      {"proxy_bind", EADDRNOTAVAIL, "bind(%V) failed", "connecting to upstream", "127.0.0.1:9000"},
      {"no_resolver", 0, "no resolver defined to resolve %V", "", ""},
  };
  for (const Seed& s : seeds) {
    Bytes input = bytes_of(s.err);
    for (std::string_view field : {s.fmt, s.action, s.peer}) {
      input.insert(input.end(), field.begin(), field.end());
      input.push_back(0);
    }
    input.pop_back();
    write_file(dir / s.name, input);
  }
}

// command_line: argv after the program name, NUL-separated.
void write_command_line_seeds(const fs::path& dir) {
  using namespace std::string_view_literals;
  const std::pair<const char*, std::string_view> seeds[] = {
      {"trace", "trace\0--format\0json\0--duration\0005\0--pid\0001234\0--nginx-binary\0/usr/sbin/nginx\0-vv"sv},
      {"trace_no_uprobes", "trace\0--no-uprobes\0-o\0/tmp/out.jsonl"sv},
      {"record", "record\0-o\0/tmp/r.w502\0--rotate\00064M\0--duration\00060"sv},
      // The largest size that fits in 64 bits: one digit more must be refused.
      {"record_largest_rotate", "record\0-o\0/tmp/r.w502\0--rotate\00017179869183G"sv},
      {"report", "report\0a.w502\0a.w502.1\0--format\0html\0--since\0002026-11-21T23:30:00Z\0--until\0"
                 "2026-11-21T23:31:00.5+01:00\0-o\0/tmp/r.html"sv},
      {"top", "top\0--window\00030\0--pid\0001"sv},
      {"serve", "serve\0--listen\0[::1]:9502\0--log\0-\0--max-upstreams\000100"sv},
      {"help", "--help"sv},
      {"version", "--version"sv},
  };
  for (const auto& [name, argv] : seeds) write_file(dir / name, argv);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: write_seed_corpus DIR (usually fuzz/corpus)\n");
    return 2;
  }
  const fs::path dir = argv[1];
  write_event_seeds(dir / "event_decoder");
  write_recording_seeds(dir / "recording_reader");
  write_sock_diag_seeds(dir / "sock_diag");
  write_proc_seeds(dir / "proc_files");
  write_classifier_seeds(dir / "nginx_log_classifier");
  write_command_line_seeds(dir / "command_line");
  return 0;
}
