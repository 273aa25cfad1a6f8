// Owns everything why502 holds in the kernel: the BPF object, its links and
// the ring buffer. open → configure → load → attach, each step checked;
// destruction detaches everything (nothing is pinned).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "host/nginx_layout.hpp"
#include "loader/uprobe_broker.hpp"
#include "loader/slot_closer.hpp"
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

// One kernel-side program of the BPF object and how its attach went.
struct KernelProgram {
  std::string name;  // on_oom_mark_victim
  std::string hook;  // its section: raw_tracepoint/mark_victim
  bool wanted = true;     // false when the options leave it out (--lean, no --connect-latency)
  bool attached = false;
  std::string problem;    // why it did not attach, and what is lost
};

// An upstream request nginx sent and has had no response to for a while
// (a TCP one: a unix socket's slot names no ports).
struct WaitingUpstreamRequest {
  uint32_t tgid = 0;     // the nginx worker
  uint64_t sk = 0;       // its upstream socket (w5_ngx_log.upstream_sk)
  uint64_t sent_ns = 0;  // CLOCK_MONOTONIC
  uint16_t family = 0;
  uint16_t upstream_port = 0;  // host order
  uint16_t local_port = 0;     // nginx's end, host order
};

// The TCP request of a slot, if it is one in flight since before
// sent_before_ns (and not abandoned long ago).
std::optional<WaitingUpstreamRequest> waiting_request_in(const w5_in_flight& slot, uint64_t sent_before_ns,
                                                         uint64_t now_ns);

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

  // Attaches a uprobe to a function of why502's own binary and detaches it
  // again: what nginx's uprobes need of the kernel, checked without an nginx.
  Result<void> check_uprobes();
  // Attaches the nginx uprobes to one binary, in one of W5_MAX_LAYOUTS layout
  // slots: which one, or why not.
  Result<uint32_t> attach_nginx_binary(const std::string& path, const NginxLayout& layout);
  // Detaches that binary's uprobes, and frees its slot for another binary
  // once they are closed (on a thread of their own: see SlotCloser).
  void detach_nginx_binary(uint32_t slot);
  // From now on nginx uprobes are placed by this helper (which keeps
  // CAP_SYS_ADMIN), so that this process can do without it.
  void use_uprobe_broker(std::unique_ptr<UprobeBroker> broker) { broker_ = std::move(broker); }
  UprobeBroker* uprobe_broker() { return broker_.get(); }
  // What the uprobes found of a slot's layout since it was attached: read
  // failures and the live checks (bpf/parts/nginx_uprobes.bpf.c); zeros if unread.
  w5_layout_health layout_health(uint32_t slot) const;
  void trace_process(pid_t pid);
  // Processes that execute this binary (by stat()'s device and inode) are
  // traced from their exec, whatever their command: a fork named by
  // --nginx-binary. The error says why not (the map is full).
  Result<void> adopt_processes_running(dev_t dev, ino_t ino);
  // Whether the kernel side traces this tgid (listed, or forked by one that is).
  bool is_traced(pid_t pid) const;
  // Delivers pending events to the handler; returns how many, or -errno.
  int poll(int timeout_ms);
  LostCounts lost() const;
  // Latency histograms and map fill levels; walks every hash map, in batches
  // where the kernel allows. Thread-safe against the event loop.
  KernelTables read_tables() const;
  // Up to max upstream requests that wanted() takes, still waiting for a
  // response sent at least min_age_ns ago, read from the slots as they are
  // (no syscall; a slot torn by a write under way reads as another request
  // or none). A request nginx gave up on stays armed until its socket is
  // reused: wanted() skips those already seen. Empty under --lean, where
  // nothing arms the slots.
  std::vector<WaitingUpstreamRequest> waiting_upstream_requests(
      uint64_t now_ns, uint64_t min_age_ns, size_t max,
      const std::function<bool(const WaitingUpstreamRequest&)>& wanted) const;
  // When the request in flight on upstream socket sk was sent; 0 when none
  // is (or under --lean). Tells one request on a keepalive connection from
  // the next.
  uint64_t in_flight_sent_ns(uint64_t sk) const;
  size_t kernel_probes() const { return kernel_probes_; }
  // Every tracepoint program of the object, in its order, attached or not.
  const std::vector<KernelProgram>& kernel_programs() const { return kernel_programs_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  struct LinkDeleter {
    void operator()(bpf_link* link) const;
  };
  struct SkeletonDeleter {
    void operator()(why502_bpf* skel) const;
  };
  struct RingDeleter {
    void operator()(ring_buffer* ring) const;
  };
  // An array map (BPF_F_MMAPABLE) mapped read-only, its entries read with no
  // system call; unmapped before the object goes. Empty when the kernel
  // refused the mapping.
  template <typename T>
  struct MappedArray {
    const T* items = nullptr;
    size_t count = 0;
    size_t bytes = 0;
    MappedArray() = default;
    MappedArray(const MappedArray&) = delete;
    MappedArray& operator=(const MappedArray&) = delete;
    ~MappedArray();
    void map(int fd, size_t entries);
  };
  void attach_kernel_programs();
  uint64_t counter(uint32_t key) const;
  static int on_ring_event(void* ctx, void* data, size_t size);

  EventHandler handler_;
  // Members are destroyed in reverse: the ring and the links go before the
  // object whose maps and programs they hold.
  std::unique_ptr<why502_bpf, SkeletonDeleter> skel_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  MappedArray<w5_in_flight_set> slots_;
  // layout_health, read for each client response the engine is given (a
  // layout that failed its check just now): a lookup system call each was
  // a fifth of trace's own CPU in a 502 storm.
  MappedArray<w5_layout_health> health_;
  std::vector<KernelProgram> kernel_programs_;
  std::vector<std::string> warnings_;
  size_t kernel_probes_ = 0;
  // One uprobe: placed by libbpf, or a link the broker made.
  struct NginxUprobe {
    std::unique_ptr<bpf_link, LinkDeleter> link;
    OwnedFd brokered;
  };
  // The uprobe links of each layout slot; an empty slot is free once the
  // closer is done with what it held before.
  std::array<std::vector<NginxUprobe>, W5_MAX_LAYOUTS> nginx_links_;
  std::unique_ptr<UprobeBroker> broker_;
  // Declared after the links and the skeleton, so destroyed before them:
  // it closes what it still holds while the object is there.
  SlotCloser<std::vector<NginxUprobe>, W5_MAX_LAYOUTS> closer_;
};

}  // namespace why502
