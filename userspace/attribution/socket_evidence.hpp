// Kernel evidence about sockets (resets, errors, SYN retransmits), kept briefly
// so an nginx error logged later can be joined to what the kernel saw.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "why502_wire.h"

namespace why502 {

struct SocketFacts {
  uint64_t first_ts_ns = 0;
  uint64_t last_ts_ns = 0;
  bool reset_in_syn_sent = false;
  bool reset_established = false;
  int syn_retransmits = 0;
  int error = 0;  // last errno the kernel reported on the socket
  uint32_t owner_tgid = 0;  // the nginx process using it, 0 when unknown
  bool used = false;        // already explained a response (kernel-only view)
  w5_addr remote{};
};

// What answered a connect() with an error and no RST: an ICMP message, which
// is what a firewall's REJECT rule sends (a RST comes with its own event).
enum class IcmpAnswer {
  none,
  port_unreachable,     // ECONNREFUSED: iptables' REJECT by default
  prohibited,           // EACCES: ICMPv6 administratively prohibited (firewalld's reject)
  unreachable_at_once,  // EHOSTUNREACH / ENETUNREACH to the first SYN: a reject rule or route
};
IcmpAnswer icmp_answer(const SocketFacts& facts);

class SocketEvidence {
 public:
  explicit SocketEvidence(size_t max_sockets = 65536, uint64_t max_age_ns = 600'000'000'000ull)
      : max_sockets_(max_sockets), max_age_ns_(max_age_ns) {}

  void add(const w5_sock_evidence& e);
  // Facts about sk seen at or before ts_ns (nullptr when none).
  const SocketFacts* find(uint64_t sk, uint64_t ts_ns) const;
  // Kernel-only view: the most recent failed socket of this nginx process (or
  // of no known process, if very recent) seen within window_ns before ts_ns,
  // not yet used to explain another response. Marks it used.
  const SocketFacts* take_recent_failure(uint32_t owner_tgid, uint64_t ts_ns, uint64_t window_ns);
  // Appends human-readable lines to lines (a record's evidence, built in
  // place), most decisive first. peer names the remote end (its address when
  // empty).
  static void describe(const SocketFacts& facts, std::string_view peer, std::vector<std::string>& lines);
  size_t size() const { return by_socket_.size(); }

 private:
  void expire(uint64_t now_ns);

  size_t max_sockets_;
  uint64_t max_age_ns_;
  std::unordered_map<uint64_t, SocketFacts> by_socket_;
  std::deque<std::pair<uint64_t, uint64_t>> arrival_;  // (ts, sk), oldest first
};

}  // namespace why502
