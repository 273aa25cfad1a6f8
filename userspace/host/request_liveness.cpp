#include "host/request_liveness.hpp"

#include <signal.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <string>
#include <utility>

namespace why502 {

std::vector<std::optional<uint64_t>> read_process_words(pid_t pid, std::span<const uint64_t> addresses, bool* gone,
                                                        int* refused) {
  std::vector<std::optional<uint64_t>> out(addresses.size());
  std::vector<uint64_t> words(addresses.size());
  std::vector<iovec> local, remote;
  size_t next = 0;
  while (next < addresses.size()) {
    const size_t n = std::min<size_t>(addresses.size() - next, IOV_MAX);
    local.resize(n);
    remote.resize(n);
    for (size_t i = 0; i < n; ++i) {
      local[i] = {&words[next + i], sizeof(uint64_t)};
      remote[i] = {reinterpret_cast<void*>(addresses[next + i]), sizeof(uint64_t)};
    }
    const ssize_t got = process_vm_readv(pid, local.data(), n, remote.data(), n, 0);
    if (got < 0 && errno == ESRCH) {
      *gone = true;
      return out;
    }
    if (got < 0 && errno != EFAULT) {
      *refused = errno;
      return out;
    }
    // The kernel stops at the first address it cannot read: those before it
    // were read; that one is not readable; go on after it.
    const size_t read = got < 0 ? 0 : static_cast<size_t>(got) / sizeof(uint64_t);
    for (size_t i = 0; i < read; ++i) out[next + i] = words[next + i];
    next += read + (read < n ? 1 : 0);
  }
  return out;
}

namespace {

w5_request_ended ended_event(const PendingRequestRef& p, uint64_t now_ns) {
  w5_request_ended e{};
  e.h.type = W5_EV_REQUEST_ENDED;
  e.h.size = sizeof(e);
  e.h.ts_ns = now_ns;
  e.h.tgid = p.tgid;
  e.request = p.request;
  e.connection = p.connection;
  e.requests = p.requests;
  return e;
}

// What one round reads for each request still undecided: the word at
// base + offset, base being what an earlier round read.
struct Round {
  std::vector<uint64_t> addresses;
  std::vector<size_t> owner;  // which request each address is for
};

}  // namespace

std::vector<w5_request_ended> RequestLiveness::ended(std::span<const PendingRequestRef> pending, uint64_t now_ns) {
  std::vector<w5_request_ended> out;
  std::map<uint32_t, std::vector<PendingRequestRef>> by_worker;
  for (const PendingRequestRef& p : pending) by_worker[p.tgid].push_back(p);
  for (const auto& [tgid, requests] : by_worker) {
    const std::optional<w5_nginx_layout> layout = layout_of_(static_cast<pid_t>(tgid));
    if (layout) {
      check_worker(static_cast<pid_t>(tgid), *layout, requests, now_ns, out);
    } else if (kill(static_cast<pid_t>(tgid), 0) != 0 && errno == ESRCH) {
      // Gone (after a reload, say), and its binary with it: no request is left.
      for (const PendingRequestRef& p : requests) out.push_back(ended_event(p, now_ns));
    }
    // Otherwise a binary not attached (any more): nothing to read by.
  }
  return out;
}

void RequestLiveness::check_worker(pid_t tgid, const w5_nginx_layout& l, std::span<const PendingRequestRef> pending,
                                   uint64_t now_ns, std::vector<w5_request_ended>& out) {
  const size_t n = pending.size();
  std::vector<bool> over(n, false);
  bool gone = false;
  int refused = 0;
  // Reads `offsets` from each undecided request's base; a word that cannot be
  // read means the request is over (a live one's structs are all mapped).
  auto read_round = [&](const std::vector<uint64_t>& bases, std::initializer_list<uint32_t> offsets) {
    std::vector<std::vector<uint64_t>> words(n, std::vector<uint64_t>(offsets.size()));
    Round round;
    for (size_t i = 0; i < n; ++i) {
      if (over[i]) continue;
      if (bases[i] == 0) {
        over[i] = true;
        continue;
      }
      for (uint32_t offset : offsets) {
        round.addresses.push_back(bases[i] + offset);
        round.owner.push_back(i);
      }
    }
    const auto read = read_process_words(tgid, round.addresses, &gone, &refused);
    std::vector<size_t> filled(n, 0);
    for (size_t k = 0; k < read.size(); ++k) {
      const size_t i = round.owner[k];
      if (!read[k]) over[i] = true;
      else words[i][filled[i]] = *read[k];
      ++filled[i];
    }
    return words;
  };

  std::vector<uint64_t> requests(n);
  for (size_t i = 0; i < n; ++i) requests[i] = pending[i].request;
  const auto r = read_round(requests, {l.r_connection});
  std::vector<uint64_t> connections(n);
  for (size_t i = 0; i < n; ++i) connections[i] = r[i][0];
  const bool has_requests = l.c_number != 0 && l.c_requests != 0;
  const auto c = has_requests ? read_round(connections, {l.c_fd, l.c_log, l.c_number, l.c_requests})
                              : read_round(connections, {l.c_fd, l.c_log});
  std::vector<uint64_t> logs(n);
  for (size_t i = 0; i < n; ++i) logs[i] = c[i][1];
  const auto log = read_round(logs, {l.log_connection, l.log_data});
  std::vector<uint64_t> contexts(n);
  for (size_t i = 0; i < n; ++i) contexts[i] = log[i][1];
  // ngx_http_log_ctx_t: connection at 0, as the BPF side takes it.
  const auto ctx = read_round(contexts, {0, l.ctx_request, l.ctx_current_request});
  if (refused != 0) {
    if (!warned_) {
      warned_ = true;
      warning_ = "cannot read nginx worker " + std::to_string(tgid) + "'s memory (" + std::strerror(refused) +
                 "): requests nginx recovered from stay pending until they expire (run as root, or keep "
                 "CAP_SYS_PTRACE)";
    }
    return;
  }

  for (size_t i = 0; i < n; ++i) {
    const PendingRequestRef& p = pending[i];
    if (!gone && !over[i]) {
      const int32_t fd = static_cast<int32_t>(c[i][0] & 0xffffffffu);
      const uint64_t number = log[i][0];
      // c->requests only when c->number reads back as the connection's
      // number: otherwise the offsets do not fit and it proves nothing.
      const bool requests_known = has_requests && p.requests != 0 && c[i][2] == number;
      const uint64_t ctx_connection = ctx[i][0], ctx_request = ctx[i][1], ctx_current = ctx[i][2];
      over[i] = fd == -1 || number != p.connection ||
                (requests_known && static_cast<uint32_t>(c[i][3]) != p.requests) ||
                ctx_connection != connections[i] || ctx_request == 0 ||
                (ctx_request != p.request && ctx_current != p.request);
    }
    if (gone || over[i]) out.push_back(ended_event(p, now_ns));
  }
}

std::string RequestLiveness::take_warning() { return std::exchange(warning_, std::string()); }

}  // namespace why502
