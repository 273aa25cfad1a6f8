// Builders for the wire events the BPF side emits, so each unit test reads as
// the story of one request: what nginx logged, the error page it built, what
// the kernel saw on the client and upstream sockets.
//
// Field order and values follow bpf/parts/nginx_uprobes.bpf.c, bpf/parts/http_status.bpf.c
// and bpf/parts/tcp_evidence.bpf.c.
#pragma once

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "attribution/engine.hpp"
#include "events/event.hpp"
#include "why502_wire.h"

namespace why502::test {

// nginx's unset ngx_msec_t: (ngx_msec_t) -1.
inline constexpr uint64_t kUnset = ~0ull;

// NGX_LOG_* levels as ngx_log_error_core receives them.
inline constexpr uint32_t kLogAlert = 2;
inline constexpr uint32_t kLogCrit = 3;
inline constexpr uint32_t kLogErr = 4;
inline constexpr uint32_t kLogWarn = 5;

// TCP states as the kernel reports them.
inline constexpr uint32_t kTcpEstablished = 1;
inline constexpr uint32_t kTcpSynSent = 2;
inline constexpr uint32_t kTcpClose = 7;

inline constexpr const char* kConnecting = "connecting to upstream";
inline constexpr const char* kReadingHeader = "reading response header from upstream";

// Rounded, so sec(5.0002) is exactly 5'000'200'000 ns.
constexpr uint64_t sec(double s) { return static_cast<uint64_t>(s * 1e9 + 0.5); }
constexpr uint64_t msec(double ms) { return static_cast<uint64_t>(ms * 1e6 + 0.5); }

template <size_t N>
void set_str(char (&dst)[N], std::string_view s) {
  std::memset(dst, 0, N);
  if (!s.empty()) std::memcpy(dst, s.data(), std::min(s.size(), N - 1));
}

inline w5_addr ipv4(const char* ip, uint16_t port) {
  w5_addr a{};
  a.family = AF_INET;
  a.port = port;
  if (inet_pton(AF_INET, ip, a.addr) != 1) std::abort();  // a typo in a test
  return a;
}

inline w5_addr ipv6(const char* ip, uint16_t port) {
  w5_addr a{};
  a.family = AF_INET6;
  a.port = port;
  if (inet_pton(AF_INET6, ip, a.addr) != 1) std::abort();  // a typo in a test
  return a;
}

// A unix socket as read_sock_addrs() fills it: family only.
inline w5_addr unix_sock() {
  w5_addr a{};
  a.family = AF_UNIX;
  return a;
}

// A held unix connection's other end as the signal program records it: the
// peer's kernel socket (see w5_held_socket.remote).
inline w5_addr unix_peer(uint64_t peer_sk) {
  w5_addr a = unix_sock();
  std::memcpy(a.addr, &peer_sk, sizeof(peer_sk));
  return a;
}

inline w5_header header(uint32_t type, uint32_t size, uint64_t ts, uint32_t tgid, uint32_t tid) {
  w5_header h{};
  h.type = type;
  h.size = size;
  h.ts_ns = ts;
  h.tgid = tgid;
  h.tid = tid == 0 ? tgid : tid;  // nginx workers are single-threaded
  return h;
}

inline constexpr uint32_t kWorker = 4242;

// One variadic argument of ngx_log_error_core as the uprobe copies it: the
// word, and what could be read at it as a C string and as an ngx_str_t.
struct Arg {
  uint64_t word = 0;
  std::optional<std::string> cstr;
  std::optional<std::string> ngx_str;
};
inline Arg num(uint64_t word) { return Arg{word, {}, {}}; }
inline Arg c_string(std::string text) { return Arg{0x7ffd0000a000, std::move(text), {}}; }
inline Arg ngx_string(std::string text) { return Arg{0x55d0c0b0c000, {}, std::move(text)}; }

// ngx_log_error_core(level, log, err, fmt, ...) inside an HTTP request.
struct Log {
  uint64_t ts = 0;
  uint32_t pid = kWorker;
  uint64_t request = 0;     // ngx_http_request_t*
  uint64_t connection = 0;  // client connection number
  uint32_t level = kLogErr;
  std::string fmt;
  int err = 0;
  std::string action;
  std::string peer;          // u->peer.name, "" when the request has no upstream
  uint64_t upstream_sk = 0;  // kernel sock of u->peer.connection
  w5_addr upstream{};        // that socket's remote end
  w5_addr client{};
  uint64_t client_sk = 0;  // the client's kernel sock; set only when the request has an upstream
  w5_addr upstream_local{};  // nginx's end of the upstream socket
  uint32_t requests = 0;     // c->requests; 0 unknown
  // The format's arguments; none: an event of wire version 1.
  std::vector<Arg> args = {};
};

// The request line sent (with --capture-request) before its error page.
inline w5_request_line make_request_line(uint64_t ts, uint64_t request, uint64_t connection, std::string_view text,
                                         uint32_t len = UINT32_MAX) {
  w5_request_line e{};
  e.h = header(W5_EV_REQUEST_LINE, sizeof(e), ts, kWorker, 0);
  e.request = request;
  e.connection = connection;
  e.len = len == UINT32_MAX ? static_cast<uint32_t>(text.size()) : len;
  set_str(e.line, text);
  return e;
}

// The location's name sent before an error page without an upstream.
inline w5_ngx_location make_location(uint64_t ts, uint64_t request, uint64_t connection, std::string_view name,
                                     uint32_t len = UINT32_MAX) {
  w5_ngx_location e{};
  e.h = header(W5_EV_NGX_LOCATION, sizeof(e), ts, kWorker, kWorker);
  e.request = request;
  e.connection = connection;
  e.len = len == UINT32_MAX ? static_cast<uint32_t>(name.size()) : len;
  set_str(e.name, name);
  return e;
}

inline w5_ngx_error_page_target make_error_page_target(uint64_t ts, uint64_t request, uint64_t connection,
                                                       uint32_t status, int32_t overwrite, uint32_t target) {
  w5_ngx_error_page_target e{};
  e.h = header(W5_EV_NGX_ERROR_PAGE_TARGET, sizeof(e), ts, kWorker, kWorker);
  e.request = request;
  e.connection = connection;
  e.status = status;
  e.overwrite = overwrite;
  e.target = target;
  return e;
}

inline w5_ngx_log make_log(const Log& l) {
  w5_ngx_log e{};
  e.h = header(W5_EV_NGX_LOG, sizeof(e), l.ts, l.pid, 0);
  e.request = l.request;
  e.connection = l.connection;
  e.upstream_sk = l.upstream_sk;
  e.client_sk = l.client_sk;
  e.level = l.level;
  e.err = l.err;
  e.client = l.client;
  e.upstream = l.upstream;
  e.upstream_local = l.upstream_local;
  set_str(e.peer, l.peer);
  set_str(e.fmt, l.fmt);
  if (l.fmt.size() >= W5_FMT_LEN - 1) set_str(e.fmt_rest, std::string_view(l.fmt).substr(W5_FMT_LEN - 1));
  set_str(e.action, l.action);
  e.requests = l.requests;
  if (!l.args.empty()) e.n_args = W5_LOG_ARGS;
  for (size_t i = 0; i < l.args.size() && i < W5_LOG_ARGS; ++i) {
    const Arg& a = l.args[i];
    w5_log_arg& out = e.args[i];
    out.word = a.word;
    if (a.cstr) {
      out.readable |= W5_ARG_CSTR;
      set_str(out.cstr, *a.cstr);
    }
    if (a.ngx_str) {
      out.readable |= W5_ARG_NGX_STR;
      out.str_len = a.ngx_str->size();
      set_str(out.ngx_str, *a.ngx_str);
    }
  }
  return e;
}

// What the kernel sends for a failure that repeats the thread's last whole
// log event (template): only what differs per request, from `whole`, the
// event it stands for.
inline w5_ngx_log_repeat make_log_repeat(const w5_ngx_log& template_event, const w5_ngx_log& whole) {
  w5_ngx_log_repeat e{};
  e.h = header(W5_EV_NGX_LOG_REPEAT, sizeof(e), whole.h.ts_ns, whole.h.tgid, whole.h.tid);
  e.template_ts = template_event.h.ts_ns;
  e.request = whole.request;
  e.connection = whole.connection;
  e.upstream_sk = whole.upstream_sk;
  e.client_sk = whole.client_sk;
  e.requests = whole.requests;
  e.client = whole.client;
  e.upstream = whole.upstream;
  e.upstream_local = whole.upstream_local;
  return e;
}

// One entry of r->upstream_states.
struct State {
  uint32_t status = 0;
  uint64_t response_ms = kUnset;
  uint64_t connect_ms = kUnset;
  uint64_t header_ms = kUnset;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  std::string peer;
};

// What nginx records for an attempt that never connected (refused, timed out
// connecting, no live upstreams).
inline State not_connected(std::string peer, uint32_t status = 502, uint64_t response_ms = 0) {
  return State{status, response_ms, kUnset, kUnset, 0, 0, std::move(peer)};
}

// The zeroed entry nginx puts between the attempts of a request's upstream
// runs, when error_page (or X-Accel-Redirect) sends it to another location.
inline State redirect_separator() { return State{0, 0, 0, 0, 0, 0, ""}; }

// An attempt that connected and sent the request but got no usable header.
inline State connected_no_header(std::string peer, uint32_t status, uint64_t response_ms,
                                 uint64_t bytes_received = 0) {
  return State{status, response_ms, 1, kUnset, bytes_received, 180, std::move(peer)};
}

// ngx_http_special_response_handler(r, status).
struct ErrorPage {
  uint64_t ts = 0;
  uint32_t pid = kWorker;
  uint64_t request = 0;
  uint64_t connection = 0;
  uint64_t client_sk = 0;
  uint32_t status = 502;
  bool has_upstream = true;
  std::string peer;  // u->peer.name: last peer tried or the group name
  w5_addr client{};
  std::vector<State> states;
  int n_states = -1;  // -1: states.size()
  uint32_t requests = 0;  // c->requests; 0 unknown
};

inline w5_ngx_error_page make_error_page(const ErrorPage& p) {
  w5_ngx_error_page e{};
  e.h = header(W5_EV_NGX_ERROR_PAGE, sizeof(e), p.ts, p.pid, 0);
  e.request = p.request;
  e.connection = p.connection;
  e.client_sk = p.client_sk;
  e.status = p.status;
  e.n_states = p.n_states >= 0 ? static_cast<uint32_t>(p.n_states) : static_cast<uint32_t>(p.states.size());
  e.has_upstream = p.has_upstream ? 1 : 0;
  e.requests = p.requests;
  e.client = p.client;
  if (p.has_upstream) set_str(e.peer, p.peer);
  // Like the BPF side: with more states than fit, the last W5_MAX_STATES.
  const size_t first = p.states.size() > W5_MAX_STATES ? p.states.size() - W5_MAX_STATES : 0;
  for (size_t i = 0; first + i < p.states.size(); ++i) {
    const State& s = p.states[first + i];
    w5_upstream_state& w = e.states[i];
    w.status = s.status;
    w.response_ms = s.response_ms;
    w.connect_ms = s.connect_ms;
    w.header_ms = s.header_ms;
    w.bytes_received = s.bytes_received;
    w.bytes_sent = s.bytes_sent;
    set_str(w.peer, s.peer);
  }
  return e;
}

// why502 read in the worker's memory that a pending request is over.
inline w5_request_ended make_request_ended(uint64_t ts, uint64_t request, uint64_t connection, uint32_t requests,
                                           uint32_t pid = kWorker) {
  w5_request_ended e{};
  e.h = header(W5_EV_REQUEST_ENDED, sizeof(e), ts, pid, 0);
  e.request = request;
  e.connection = connection;
  e.requests = requests;
  return e;
}

// The history of a pooled upstream connection, sent before the log line of
// a failure on it. Times in jiffies at hz; hz 0: none known.
struct Reuse {
  uint64_t ts = 0;
  uint64_t request = 0;
  uint64_t connection = 0;
  uint64_t upstream_sk = 0;
  uint32_t upstream_requests = 2;  // this one included
  uint32_t tcp_state = 8;          // TCP_CLOSE_WAIT: a FIN came
  uint32_t hz = 1000;
  uint32_t srtt_us = 50;
  uint32_t data_in = 0;  // the previous response's last data
  uint32_t sent = 0;     // nginx's send of this request
  uint32_t ack_in = 0;   // the last ACK (a FIN's)
  uint32_t now = 0;      // when nginx logged
};

inline w5_upstream_reuse make_reuse(const Reuse& u) {
  w5_upstream_reuse e{};
  e.h = header(W5_EV_UPSTREAM_REUSE, sizeof(e), u.ts, kWorker, 0);
  e.request = u.request;
  e.connection = u.connection;
  e.upstream_sk = u.upstream_sk;
  e.upstream_requests = u.upstream_requests;
  e.tcp_state = u.tcp_state;
  e.hz = u.hz;
  e.srtt_us = u.srtt_us;
  e.data_in_jiffies = u.data_in;
  e.sent_jiffies = u.sent;
  e.ack_in_jiffies = u.ack_in;
  e.now_jiffies = u.now;
  return e;
}

// A 5xx status line (or, status 0, unreadable bytes) sent on a client socket.
struct ClientResponse {
  uint64_t ts = 0;
  uint32_t pid = kWorker;
  uint32_t tid = 0;
  uint64_t sk = 0;
  uint32_t status = 0;
  w5_addr remote{};  // the client
  w5_addr local{};
};

inline w5_client_response make_client_response(const ClientResponse& c) {
  w5_client_response e{};
  e.h = header(W5_EV_CLIENT_RESPONSE, sizeof(e), c.ts, c.pid, c.tid);
  e.sk = c.sk;
  e.status = c.status;
  e.local = c.local;
  e.remote = c.remote;
  return e;
}

// An upstream's own 5xx, read on the upstream socket.
struct UpstreamStatus {
  uint64_t ts = 0;
  uint32_t pid = kWorker;
  uint32_t tid = 0;
  uint64_t sk = 0;
  uint32_t status = 502;
  uint32_t proto = W5_PROTO_HTTP;
  w5_addr remote{};
  std::string unix_path;
};

inline w5_upstream_status make_upstream_status(const UpstreamStatus& u) {
  w5_upstream_status e{};
  e.h = header(W5_EV_UPSTREAM_STATUS, sizeof(e), u.ts, u.pid, u.tid);
  e.sk = u.sk;
  e.status = u.status;
  e.proto = u.proto;
  e.remote = u.remote;
  if (u.remote.family == AF_UNIX) e.local.family = AF_UNIX;
  set_str(e.unix_path, u.unix_path);
  return e;
}

// Kernel evidence about a socket; softirq context, so no meaningful pid.
struct Kernel {
  uint32_t type = W5_EV_TCP_RESET;
  uint64_t ts = 0;
  uint64_t sk = 0;
  uint32_t state = kTcpSynSent;
  int err = 0;
  w5_addr remote{};
  uint32_t owner = 0;  // the nginx process using the socket, 0 when unknown
  uint32_t pid = 0;    // whoever was current (softirq: anyone)
};

inline w5_sock_evidence make_kernel(const Kernel& k) {
  w5_sock_evidence e{};
  e.h = header(k.type, sizeof(e), k.ts, k.pid, k.pid);
  e.sk = k.sk;
  e.err = k.err;
  e.state = k.state;
  e.owner_tgid = k.owner;
  e.remote = k.remote;
  if (k.remote.family != 0) e.local.family = k.remote.family;
  return e;
}

inline w5_sock_evidence rst(uint64_t ts, uint64_t sk, uint32_t state, w5_addr remote, uint32_t owner = kWorker) {
  return make_kernel({W5_EV_TCP_RESET, ts, sk, state, 0, remote, owner});
}
inline w5_sock_evidence sock_error(uint64_t ts, uint64_t sk, int err, uint32_t state, w5_addr remote,
                                   uint32_t owner = kWorker) {
  return make_kernel({W5_EV_SOCK_ERROR, ts, sk, state, err, remote, owner});
}
inline w5_sock_evidence syn_retransmit(uint64_t ts, uint64_t sk, w5_addr remote, uint32_t owner = kWorker) {
  return make_kernel({W5_EV_SYN_RETRANSMIT, ts, sk, kTcpSynSent, 0, remote, owner});
}

// A stream socket a process held when it was sent a fatal signal.
inline w5_held_socket held(uint16_t state, w5_addr local, w5_addr remote = {}, std::string_view path = {}) {
  w5_held_socket s{};
  s.family = local.family;
  s.state = state;
  s.local = local;
  s.remote = remote;
  set_str(s.path, path);
  return s;
}

inline constexpr uint16_t kHeldListen = 10;  // TCP_LISTEN (unix sockets use the same number)

// A fatal signal: who sent what to whom, and the sockets the target held.
struct Signal {
  uint64_t ts = 0;
  uint32_t sender = 0;
  std::string sender_comm;
  uint32_t sig = 9;
  int code = 0;  // si_code: > 0 from the kernel
  uint32_t target = 0;
  uint32_t target_parent = 0;
  std::string target_comm;
  std::vector<w5_held_socket> sockets;
};

inline w5_signal make_signal(const Signal& g) {
  w5_signal e{};
  e.h = header(W5_EV_SIGNAL, sizeof(e), g.ts, g.sender, g.sender);
  e.sig = g.sig;
  e.code = g.code;
  e.target_tgid = g.target;
  e.target_parent_tgid = g.target_parent;
  e.n_sockets = static_cast<uint32_t>(g.sockets.size());
  set_str(e.target_comm, g.target_comm);
  set_str(e.sender_comm, g.sender_comm);
  for (size_t i = 0; i < g.sockets.size() && i < W5_HELD_SOCKETS; ++i) e.sockets[i] = g.sockets[i];
  return e;
}

inline w5_process_death make_death(uint64_t ts, uint32_t pid, uint32_t sig, std::string_view comm) {
  w5_process_death e{};
  e.h = header(W5_EV_PROCESS_DEATH, sizeof(e), ts, pid, pid);
  e.signal = sig;
  e.exit_code = sig;
  set_str(e.comm, comm);
  return e;
}

inline w5_oom_victim make_oom_victim(uint64_t ts, uint32_t pid) {
  w5_oom_victim e{};
  e.h = header(W5_EV_OOM_VICTIM, sizeof(e), ts, 0, 0);
  e.pid = pid;
  return e;
}

template <typename T>
std::vector<uint8_t> to_bytes(const T& event) {
  std::vector<uint8_t> bytes(sizeof(T));
  std::memcpy(bytes.data(), &event, sizeof(T));
  return bytes;
}

// Feeds events to an engine the way trace_command does: raw ring-buffer bytes
// through decode_event, then Engine::handle.
class EngineHarness {
 public:
  explicit EngineHarness(EngineOptions options = {}) : engine_(options) {}

  template <typename T>
  void feed(const T& event) {
    const std::vector<uint8_t> bytes = to_bytes(event);
    Result<Event> decoded = decode_event(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.error();
    engine_.handle(decoded.value(), records_);
  }

  // Everything the engine has concluded, held records included (as at the
  // end of a session).
  const std::vector<Record>& records() {
    engine_.finish(records_);
    return records_;
  }
  // What the engine has emitted so far; held records stay held.
  const std::vector<Record>& emitted() const { return records_; }
  Engine& engine() { return engine_; }

 private:
  Engine engine_;
  std::vector<Record> records_;
};

// Number of evidence lines containing every one of parts.
inline int lines_with_all(const Record& r, std::initializer_list<std::string_view> parts) {
  return static_cast<int>(std::count_if(r.evidence.begin(), r.evidence.end(), [&](const std::string& line) {
    return std::all_of(parts.begin(), parts.end(),
                       [&](std::string_view part) { return line.find(part) != std::string::npos; });
  }));
}

// Number of evidence lines containing part.
inline int lines_with(const Record& r, std::string_view part) {
  return static_cast<int>(std::count_if(r.evidence.begin(), r.evidence.end(), [&](const std::string& line) {
    return line.find(part) != std::string::npos;
  }));
}

inline int kernel_lines(const Record& r) {
  return static_cast<int>(std::count_if(r.evidence.begin(), r.evidence.end(),
                                        [](const std::string& line) { return line.rfind("kernel:", 0) == 0; }));
}

// For failure messages.
inline std::string dump(const Record& r) {
  std::string s = "status=" + std::to_string(r.status) + " cause=" + std::string(cause_name(r.cause)) +
                  " client=" + r.client + " upstream=" + r.upstream + " source=" + std::string(record_source_name(r.source)) +
                  " nginx_error=" + r.nginx_error + "\n";
  for (const auto& line : r.evidence) s += "  evidence: " + line + "\n";
  for (const auto& a : r.attempts)
    s += "  attempt: " + a.upstream + " " + std::string(cause_name(a.cause)) + " " + std::to_string(a.status) +
         " " + std::to_string(a.ms) + "\n";
  return s;
}

inline std::string dump(const std::vector<Record>& records) {
  std::string s = std::to_string(records.size()) + " record(s)\n";
  for (const auto& r : records) s += dump(r);
  return s;
}

}  // namespace why502::test
