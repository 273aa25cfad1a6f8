// Reads, in an nginx worker's memory, whether requests with failed attempts
// are still going on. A failure nginx recovered from (its retry worked) has
// no event of its own when the responses to clients are not traced (--lean,
// or a TLS or HTTP/2 client), so without this it would stay in the engine's
// pending table for up to 15 minutes, and its memory with it.
//
// What is read is what nginx itself keeps for a live request (layout offsets
// of its binary): r->connection; that connection's descriptor (-1 once it is
// closed), its number (c->log->connection: a new one when the slot is reused)
// and c->requests (a new one for the next request of a keepalive connection,
// which often gets the same memory); and the log context's request, which
// ngx_http_free_request clears. Any of these not as they were logged means
// the request is over. A worker that is gone has no requests left. Reads go
// in batches (process_vm_readv), a few system calls per worker per round.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "attribution/engine.hpp"
#include "why502_wire.h"

namespace why502 {

class RequestLiveness {
 public:
  // The layout of the binary a worker runs, or none (not attached, gone).
  using LayoutOf = std::function<std::optional<w5_nginx_layout>(pid_t)>;
  explicit RequestLiveness(LayoutOf layout_of) : layout_of_(std::move(layout_of)) {}

  // The requests of `pending` that are over, as events stamped now_ns.
  std::vector<w5_request_ended> ended(std::span<const PendingRequestRef> pending, uint64_t now_ns);
  // Why the last reads were refused, once; empty otherwise.
  std::string take_warning();

 private:
  void check_worker(pid_t tgid, const w5_nginx_layout& layout, std::span<const PendingRequestRef> pending,
                    uint64_t now_ns, std::vector<w5_request_ended>& out);

  LayoutOf layout_of_;
  std::string warning_;
  bool warned_ = false;
};

// Reads one 8-byte word at each address of another process (in batches); an
// address that cannot be read gives nullopt. Sets *gone when the process is
// gone and *refused (errno) when the kernel refuses to read it at all.
std::vector<std::optional<uint64_t>> read_process_words(pid_t pid, std::span<const uint64_t> addresses, bool* gone,
                                                        int* refused);

}  // namespace why502
