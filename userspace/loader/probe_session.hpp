// Owns everything why502 holds in the kernel: the BPF object, its links and
// the ring buffer. open → configure → load → attach, each step checked;
// destruction detaches everything (nothing is pinned).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "loader/nginx_layout.hpp"
#include "output/kernel_tables.hpp"

struct why502_bpf;
struct ring_buffer;
struct bpf_link;

namespace why502 {

struct ProbeOptions {
  bool only_listed_processes = false;  // --pid: ignore nginx processes not handed to trace_process
  bool measure_connect = false;        // connect-time histograms (costs a tracepoint per TCP state change)
  bool capture_request_line = false;   // --capture-request
  bool lean = false;                   // --lean: no program on every socket send and receive
  int verbosity = 0;
};

struct LostCounts {
  uint64_t ringbuf_full = 0;
  uint64_t map_full = 0;
  uint64_t slot_taken = 0;  // requests in flight whose slot another socket took
  uint64_t total() const { return ringbuf_full + map_full + slot_taken; }
};

class ProbeSession {
 public:
  using EventHandler = std::function<void(std::span<const uint8_t>)>;

  // Loads the programs and attaches the kernel-side ones; throws FatalError.
  ProbeSession(const ProbeOptions& options, EventHandler handler);
  ~ProbeSession();
  ProbeSession(const ProbeSession&) = delete;
  ProbeSession& operator=(const ProbeSession&) = delete;

  // Attaches the nginx uprobes to one binary; "" on success, else why not.
  std::string attach_nginx_binary(const std::string& path, const NginxLayout& layout);
  void trace_process(pid_t pid);
  // Delivers pending events to the handler; returns how many, or -errno.
  int poll(int timeout_ms);
  LostCounts lost() const;
  // Latency histograms and map fill levels; walks every hash map, in batches
  // where the kernel allows. Thread-safe against the event loop.
  KernelTables read_tables() const;
  size_t kernel_probes() const { return kernel_probes_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  struct LinkDeleter {
    void operator()(bpf_link* link) const;
  };
  uint64_t counter(uint32_t key) const;
  static int on_ring_event(void* ctx, void* data, size_t size);

  EventHandler handler_;
  why502_bpf* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
  std::vector<std::string> warnings_;
  size_t kernel_probes_ = 0;
  uint32_t layouts_used_ = 0;
};

}  // namespace why502
