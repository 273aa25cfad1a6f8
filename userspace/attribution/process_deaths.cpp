#include "attribution/process_deaths.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "events/address.hpp"

namespace why502 {
namespace {

constexpr size_t kMaxSignals = 512;
constexpr uint16_t kListen = 10;  // TCP_LISTEN; unix sockets use the same number
constexpr int kSigKill = 9;

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

bool same_addr(const w5_addr& a, const w5_addr& b) {
  return a.family == b.family && a.port == b.port && std::memcmp(a.addr, b.addr, sizeof(a.addr)) == 0;
}

bool is_wildcard(const w5_addr& a) {
  static const uint8_t zeros[16] = {};
  return std::memcmp(a.addr, zeros, a.family == 2 ? 4 : 16) == 0;
}

bool listens_on(const w5_held_socket& s, const w5_addr& addr) {
  return s.state == kListen && s.local.family == addr.family && s.local.port == addr.port &&
         (is_wildcard(s.local) || same_addr(s.local, addr));
}

enum class Hold { none, listener, connection };

// See w5_held_socket.remote: a unix socket's peer, by its kernel address.
uint64_t unix_peer_sk(const w5_held_socket& s) {
  uint64_t peer = 0;
  std::memcpy(&peer, s.remote.addr, sizeof(peer));
  return peer;
}

Hold holds(const FatalSignal& s, const UpstreamConnection& conn) {
  constexpr std::string_view kUnixPrefix = "unix:";
  const bool unix_peer = conn.peer.starts_with(kUnixPrefix);
  Hold best = Hold::none;
  for (const w5_held_socket& sock : s.sockets) {
    if (unix_peer) {
      if (sock.family != 1 || conn.peer.substr(kUnixPrefix.size()) != wire_view(sock.path)) continue;
      if (sock.state == kListen) {
        best = std::max(best, Hold::listener);
        continue;
      }
      // Every connection the listener accepted has its path: the peer socket
      // says whose. Another client's connection (php-fpm's previous child,
      // killed for the previous request) is not this one. Without either
      // socket (older recordings) the path is all there is.
      const uint64_t peer = unix_peer_sk(sock);
      if (peer == 0 || conn.sk == 0 || peer == conn.sk) return Hold::connection;
      continue;
    }
    if (conn.remote.family == 0) continue;
    if (sock.state != kListen && same_addr(sock.local, conn.remote) && same_addr(sock.remote, conn.local))
      return Hold::connection;
    if (listens_on(sock, conn.remote)) best = std::max(best, Hold::listener);
  }
  return best;
}

bool sent_by_itself(const FatalSignal& s) { return s.sender_pid == s.target_pid; }

// SIGKILL/SIGABRT/SIGTERM/SIGINT/SIGQUIT from the parent: how gunicorn, php-fpm
// and uwsgi masters stop a worker that took too long.
bool supervisor_stop(const FatalSignal& s) {
  const bool stop_signal = s.sig == 9 || s.sig == 6 || s.sig == 15 || s.sig == 2 || s.sig == 3;
  return stop_signal && !s.oom && s.code <= 0 && s.sender_pid != 0 && s.sender_pid == s.target_parent_pid;
}

}  // namespace

void ProcessDeaths::add_signal(const w5_signal& e) {
  FatalSignal s;
  s.ts_ns = e.h.ts_ns;
  s.sig = static_cast<int>(e.sig);
  s.code = e.code;
  s.target_pid = e.target_tgid;
  s.target_parent_pid = e.target_parent_tgid;
  s.target_comm = wire_string(e.target_comm);
  s.sender_pid = e.h.tgid;
  s.sender_comm = wire_string(e.sender_comm);
  const size_t n = std::min<size_t>(e.n_sockets, W5_HELD_SOCKETS);
  s.sockets.assign(e.sockets, e.sockets + n);
  signals_.push_back(std::move(s));
  if (signals_.size() > kMaxSignals) signals_.pop_front();
}

void ProcessDeaths::add_oom_victim(const w5_oom_victim& e) {
  // The OOM killer sends its SIGKILL just before it marks the victim.
  for (auto s = signals_.rbegin(); s != signals_.rend(); ++s) {
    if (s->target_pid == e.pid && s->sig == kSigKill) {
      s->oom = true;
      return;
    }
  }
}

void ProcessDeaths::add_death(const w5_process_death& e) {
  for (auto s = signals_.rbegin(); s != signals_.rend(); ++s)
    if (s->target_pid == e.h.tgid) s->died = true;
}

const FatalSignal* ProcessDeaths::holder_of(const UpstreamConnection& conn, uint64_t since_ns, uint64_t until_ns,
                                            bool listener_is_enough) const {
  // Several signals may reach one process (SIGTERM, then SIGKILL; a handler
  // re-raising its signal): the first one from someone else is the cause.
  // Of different processes holding "the" connection, the latest signalled
  // is the one: a socket's address is reused once it is freed, so an earlier
  // process may have held another connection at the same address (php-fpm's
  // previous child, killed for the previous request).
  const FatalSignal* connection = nullptr;
  const FatalSignal* listener = nullptr;
  for (auto s = signals_.rbegin(); s != signals_.rend(); ++s) {
    if (s->ts_ns > until_ns) continue;
    if (s->ts_ns < since_ns) break;
    const Hold h = holds(*s, conn);
    if (h == Hold::connection &&
        (!connection ||
         (s->target_pid == connection->target_pid && (!sent_by_itself(*s) || sent_by_itself(*connection)))))
      connection = &*s;
    if (h == Hold::listener && (!listener || !sent_by_itself(*s) || sent_by_itself(*listener))) listener = &*s;
  }
  if (connection) return connection;
  return listener_is_enough ? listener : nullptr;
}

std::string ProcessDeaths::describe(const FatalSignal& s) {
  std::string who = "pid " + std::to_string(s.target_pid) + " (" + s.target_comm + ")";
  if (s.oom) return who + " was killed by the OOM killer";
  if (s.code > 0) {
    // SI_KERNEL and the fault codes: only the fault signals are the process's own doing.
    if (s.sig == 4 || s.sig == 7 || s.sig == 8 || s.sig == 11)
      return who + " got " + signal_name(s.sig) + " from the kernel (a fault in the process)";
    return who + " got " + signal_name(s.sig) +
           " from the kernel, not from a process (the OOM killer kills this way; no OOM kill of it was seen)";
  }
  if (sent_by_itself(s)) return who + " raised " + signal_name(s.sig) + " itself (an abort of its own)";
  return who + " got " + signal_name(s.sig) + " from pid " + std::to_string(s.sender_pid) + " (" + s.sender_comm +
         ")" + (s.sender_pid == s.target_parent_pid ? ", its parent" : "");
}

DeathVerdict ProcessDeaths::verdict(const FatalSignal& s, double waited_ms) {
  DeathVerdict v;
  if (supervisor_stop(s)) {
    v.cause = Cause::slow_backend;
    // waited_ms is what nginx recorded, any value: printed, never converted to an integer.
    char waited[64] = "";
    if (waited_ms >= 0) std::snprintf(waited, sizeof(waited), " after nginx had waited %.0f ms", std::floor(waited_ms));
    v.evidence.push_back("the backend worker was stopped by its supervisor for taking too long: " + describe(s) +
                         std::string(waited));
  } else {
    v.cause = Cause::backend_crashed;
    v.evidence.push_back("the backend process holding the connection died: " + describe(s));
  }
  return v;
}

}  // namespace why502
