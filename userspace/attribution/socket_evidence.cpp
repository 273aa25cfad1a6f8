#include "attribution/socket_evidence.hpp"

#include <cerrno>
#include <cstring>

#include "attribution/time_window.hpp"
#include "common/text.hpp"
#include "events/address.hpp"

namespace why502 {

namespace {
constexpr uint32_t kTcpSynSent = 2;
}  // namespace

IcmpAnswer icmp_answer(const SocketFacts& f) {
  if (f.reset_in_syn_sent || f.reset_established) return IcmpAnswer::none;
  if (f.error == ECONNREFUSED) return IcmpAnswer::port_unreachable;
  // (A security policy's EACCES fails connect() itself: the socket reports nothing.)
  if (f.error == EACCES) return IcmpAnswer::prohibited;
  // A host that is down (no ARP answer, or a router's after its own) makes
  // the kernel retransmit the SYN for seconds first.
  if ((f.error == EHOSTUNREACH || f.error == ENETUNREACH) && f.syn_retransmits == 0)
    return IcmpAnswer::unreachable_at_once;
  return IcmpAnswer::none;
}

void SocketEvidence::add(const w5_sock_evidence& e) {
  expire(e.h.ts_ns);
  auto [it, inserted] = by_socket_.try_emplace(e.sk);
  SocketFacts& f = it->second;
  // A kernel socket address is reused as soon as the socket is freed. A reset
  // ends a connection, so anything after it (but the error report that comes
  // with it) belongs to a new socket; so does anything about another peer.
  const bool other_peer = e.remote.family != 0 &&
                          (e.remote.family != f.remote.family || e.remote.port != f.remote.port ||
                           std::memcmp(e.remote.addr, f.remote.addr, sizeof(e.remote.addr)) != 0);
  const bool after_reset = (f.reset_in_syn_sent || f.reset_established) &&
                           !(e.h.type == W5_EV_SOCK_ERROR && age_ns(e.h.ts_ns, f.last_ts_ns) < 10'000'000ull);
  if (!inserted && (other_peer || after_reset)) f = SocketFacts{};
  if (f.first_ts_ns == 0) {
    f.first_ts_ns = e.h.ts_ns;
    arrival_.emplace_back(e.h.ts_ns, e.sk);
  }
  f.last_ts_ns = e.h.ts_ns;
  if (e.owner_tgid != 0) f.owner_tgid = e.owner_tgid;
  if (e.remote.family != 0) f.remote = e.remote;
  switch (e.h.type) {
    case W5_EV_TCP_RESET:
      if (e.state == kTcpSynSent)
        f.reset_in_syn_sent = true;
      else
        f.reset_established = true;
      // The error the reset reports: the kernel side sends no W5_EV_SOCK_ERROR for it.
      if (e.err != 0) f.error = e.err;
      break;
    case W5_EV_SOCK_ERROR:
      f.error = e.err;
      break;
    case W5_EV_SYN_RETRANSMIT:
      ++f.syn_retransmits;
      break;
    default:
      break;
  }
}

const SocketFacts* SocketEvidence::find(uint64_t sk, uint64_t ts_ns) const {
  if (sk == 0) return nullptr;
  auto it = by_socket_.find(sk);
  if (it == by_socket_.end() || it->second.first_ts_ns > ts_ns) return nullptr;
  if (age_ns(ts_ns, it->second.last_ts_ns) > max_age_ns_) return nullptr;
  return &it->second;
}

const SocketFacts* SocketEvidence::take_recent_failure(uint32_t owner_tgid, uint64_t ts_ns, uint64_t window_ns) {
  constexpr size_t kMaxScanned = 512;        // newest sockets only: this runs per unexplained response
  constexpr uint64_t kUnownedWindowNs = 50'000'000;  // a socket of unknown owner must be this recent
  size_t scanned = 0;
  for (auto it = arrival_.rbegin(); it != arrival_.rend() && scanned < kMaxScanned; ++it, ++scanned) {
    auto found = by_socket_.find(it->second);
    if (found == by_socket_.end() || found->second.first_ts_ns != it->first) continue;
    SocketFacts& f = found->second;
    if (f.used || f.last_ts_ns > ts_ns) continue;
    const uint64_t age = ts_ns - f.last_ts_ns;
    const bool mine = f.owner_tgid == owner_tgid && age <= window_ns;
    const bool unowned = f.owner_tgid == 0 && age <= kUnownedWindowNs;
    if (!mine && !unowned) continue;
    f.used = true;
    return &f;
  }
  return nullptr;
}

void SocketEvidence::describe(const SocketFacts& f, std::string_view peer, std::vector<std::string>& lines) {
  std::string remote;
  if (peer.empty()) {
    remote = format_endpoint(f.remote);
    peer = remote;
  }
  if (f.reset_in_syn_sent) lines.push_back(concat("kernel: RST in reply to SYN from ", peer, " (nothing listening)"));
  if (f.reset_established)
    lines.push_back(concat("kernel: RST received from ", peer, " on an established connection"));
  if (f.syn_retransmits > 0)
    lines.push_back(
        concat("kernel: SYN to ", peer, " retransmitted ", Decimal(f.syn_retransmits), " time(s), no SYN-ACK"));
  switch (icmp_answer(f)) {
    case IcmpAnswer::port_unreachable:
      lines.push_back(concat("kernel: ICMP port unreachable in reply to SYN to ", peer,
                             " (a firewall's REJECT; a host with nothing listening sends a RST)"));
      break;
    case IcmpAnswer::prohibited:
      lines.push_back(concat("kernel: ICMPv6 administratively prohibited in reply to SYN to ", peer,
                             " (a firewall's reject rule)"));
      break;
    case IcmpAnswer::unreachable_at_once:
      lines.push_back(concat("kernel: ICMP ", f.error == ENETUNREACH ? "network" : "host",
                             " unreachable in reply to the first SYN to ", peer,
                             ", at once (a reject rule: `REJECT --reject-with icmp-host-prohibited`, nft's `reject "
                             "with icmp admin-prohibited`; or a router's; a host that is down leaves the SYN "
                             "unanswered for seconds first)"));
      break;
    case IcmpAnswer::none:
      break;
  }
  if (f.error != 0)
    lines.push_back(concat("kernel: socket error ", Decimal(f.error), " (", errno_text(f.error), ")"));
}

void SocketEvidence::expire(uint64_t now_ns) {
  while (!arrival_.empty() &&
         (arrival_.size() >= max_sockets_ || age_ns(now_ns, arrival_.front().first) > max_age_ns_)) {
    auto [ts, sk] = arrival_.front();
    arrival_.pop_front();
    auto it = by_socket_.find(sk);
    if (it != by_socket_.end() && it->second.first_ts_ns == ts) by_socket_.erase(it);
  }
}

}  // namespace why502
