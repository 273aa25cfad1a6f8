// Fatal signals sent to processes, with the stream sockets each target held
// at that moment, and what followed (an OOM kill, an exit) — so a failed
// upstream connection can be tied to the death of the process at its other end.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "attribution/cause.hpp"
#include "why502_wire.h"

namespace why502 {

struct FatalSignal {
  uint64_t ts_ns = 0;
  int sig = 0;
  int code = 0;  // si_code: > 0 sent by the kernel
  uint32_t target_pid = 0;
  uint32_t target_parent_pid = 0;
  std::string target_comm;
  uint32_t sender_pid = 0;
  std::string sender_comm;
  bool oom = false;   // the OOM killer's SIGKILL
  bool died = false;  // the target exited afterwards (known only if it came in time)
  std::vector<w5_held_socket> sockets;
};

// An upstream connection as nginx saw it when the attempt failed (a view of
// the attempt, made for one lookup).
struct UpstreamConnection {
  std::string_view peer;  // nginx's name: 127.0.0.1:9000, unix:/p
  w5_addr remote{};  // the backend's end (family 0 when unknown)
  w5_addr local{};   // nginx's end
  uint64_t sk = 0;   // nginx's kernel socket (0 when unknown): a unix connection's identity
};

struct DeathVerdict {
  Cause cause;                        // backend_crashed, or slow_backend for a supervisor's kill
  std::vector<std::string> evidence;  // most decisive first
};

class ProcessDeaths {
 public:
  void add_signal(const w5_signal& e);
  void add_oom_victim(const w5_oom_victim& e);
  void add_death(const w5_process_death& e);

  // The fatal signal, sent within [since, until], to the process at the other
  // end of conn: one holding that very connection, or (weaker) its listener.
  const FatalSignal* holder_of(const UpstreamConnection& conn, uint64_t since_ns, uint64_t until_ns,
                               bool listener_is_enough) const;
  // What that signal means for an attempt that failed after waiting waited_ms.
  static DeathVerdict verdict(const FatalSignal& signal, double waited_ms);
  static std::string describe(const FatalSignal& signal);

 private:
  std::deque<FatalSignal> signals_;  // newest last
};

}  // namespace why502
