#include "loader/probe_session.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <utility>

#include "common/fatal_error.hpp"
#include "host/cgroup_id.hpp"
#include "host/elf_symbols.hpp"
#include "host/kernel_config.hpp"
#include "host/kernel_programs.hpp"
#include "why502.skel.h"

namespace why502 {
namespace {

int g_verbosity = 0;

int print_libbpf(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && g_verbosity < 2) return 0;
  if (level == LIBBPF_INFO && g_verbosity < 1) return 0;
  if (level == LIBBPF_WARN && g_verbosity < 1) return 0;
  std::fputs("libbpf: ", stderr);
  return std::vfprintf(stderr, format, args);
}

}  // namespace

void ProbeSession::LinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }
void ProbeSession::SkeletonDeleter::operator()(why502_bpf* skel) const { why502_bpf__destroy(skel); }
void ProbeSession::RingDeleter::operator()(ring_buffer* ring) const { ring_buffer__free(ring); }

ProbeSession::ProbeSession(const ProbeOptions& options, EventHandler handler) : handler_(std::move(handler)) {
  g_verbosity = options.verbosity;
  libbpf_set_print(print_libbpf);

  skel_.reset(why502_bpf__open());
  if (!skel_) throw FatalError(std::string("cannot open the BPF object: ") + std::strerror(errno));
  skel_->rodata->only_listed_processes = options.only_listed_processes;
  skel_->rodata->measure_connect = options.measure_connect;
  skel_->rodata->capture_request_line = options.capture_request_line;
  skel_->rodata->client_responses_traced = !options.lean;
  skel_->rodata->kernel_hz = kernel_hz();
  if (!options.measure_connect) bpf_program__set_autoload(skel_->progs.on_inet_sock_set_state, false);
  if (options.lean) {
    // Every send and receive of every process runs these two: --lean trades
    // what they see for a healthy path that runs no BPF at all.
    bpf_program__set_autoload(skel_->progs.on_sock_send_length, false);
    bpf_program__set_autoload(skel_->progs.on_sock_recv_length, false);
    // Only the send program arms request slots; keep one empty set.
    bpf_map__set_max_entries(skel_->maps.in_flight_slots, 1);
  }
  if (int err = why502_bpf__load(skel_.get()); err != 0)
    throw FatalError(std::string("the kernel refused why502's BPF programs (") + std::strerror(-err) +
                     "); run with -vv for the verifier log");

  // Read only once a second, for the requests waiting long: a failed map
  // only costs that (the CPU share falls back to a sample at the timeout).
  if (!options.lean)
    slots_.map(bpf_map__fd(skel_->maps.in_flight_slots), bpf_map__max_entries(skel_->maps.in_flight_slots));
  health_.map(bpf_map__fd(skel_->maps.layout_health), W5_MAX_LAYOUTS);

  attach_kernel_programs();
  if (kernel_probes_ == 0) throw FatalError("no kernel tracepoint could be attached (run why502 doctor)");

  ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.events), &ProbeSession::on_ring_event, this, nullptr));
  if (!ring_) throw FatalError(std::string("cannot open the ring buffer: ") + std::strerror(errno));
}

ProbeSession::~ProbeSession() = default;

void ProbeSession::attach_kernel_programs() {
  // Every program of the object that is not a uprobe is a tracepoint program
  // attached here; the uprobes wait for an nginx binary (attach_nginx_binary).
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel_->obj) {
    const std::string hook = bpf_program__section_name(prog);
    if (hook.rfind("uprobe", 0) == 0) continue;
    KernelProgram p;
    p.name = bpf_program__name(prog);
    p.hook = hook;
    p.wanted = bpf_program__autoload(prog);
    if (p.wanted) {
      if (bpf_link* link = bpf_program__attach(prog)) {
        links_.emplace_back(link);
        p.attached = true;
        ++kernel_probes_;
      } else {
        p.problem = std::strerror(errno);
        if (std::string_view lost = lost_without(p.name); !lost.empty()) p.problem += std::string(": ") += lost;
        warnings_.push_back("could not attach " + p.name + " (" + hook + "): " + p.problem);
      }
    }
    kernel_programs_.push_back(std::move(p));
  }
}

// A function of why502's own, exported (CMakeLists.txt) so that a stripped
// binary still names it: doctor attaches a uprobe here to test the kernel's
// uprobe support without an nginx.
extern "C" __attribute__((noinline, used, visibility("default"))) void why502_uprobe_self_test() {
  asm volatile("" ::: "memory");
}

Result<void> ProbeSession::check_uprobes() {
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = false, .func_name = "why502_uprobe_self_test");
  bpf_link* link =
      bpf_program__attach_uprobe_opts(skel_->progs.ngx_special_response_entry, -1, "/proc/self/exe", 0, &opts);
  if (!link) return Error{std::string("a uprobe on why502 itself did not attach: ") + std::strerror(errno)};
  bpf_link__destroy(link);
  return {};
}

int ProbeSession::on_ring_event(void* ctx, void* data, size_t size) {
  auto* self = static_cast<ProbeSession*>(ctx);
  self->handler_(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
  return 0;
}

Result<uint32_t> ProbeSession::attach_nginx_binary(const std::string& path, const NginxLayout& layout) {
  uint32_t index = 0;
  while (index < W5_MAX_LAYOUTS && (!nginx_links_[index].empty() || closer_.closing(index))) ++index;
  if (index == W5_MAX_LAYOUTS) {
    // Only slots whose links are still being closed are left: wait for one.
    index = 0;
    while (index < W5_MAX_LAYOUTS && !nginx_links_[index].empty()) ++index;
    if (index == W5_MAX_LAYOUTS)
      return Error{"too many distinct nginx binaries running at once (at most " + std::to_string(W5_MAX_LAYOUTS) +
                   ")"};
    closer_.wait_until_closed(index);
  }
  // The slot's counts start over with its new binary.
  const w5_layout_health fresh{};
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.layouts), &index, &layout.offsets, BPF_ANY) != 0 ||
      bpf_map_update_elem(bpf_map__fd(skel_->maps.layout_health), &index, &fresh, BPF_ANY) != 0)
    return Error{std::string("cannot store the struct layout: ") + std::strerror(errno)};

  struct Target {
    bpf_program* prog;
    const char* function;
  } targets[] = {
      {skel_->progs.ngx_log_error_core_entry, "ngx_log_error_core"},
      {skel_->progs.ngx_special_response_entry, "ngx_http_special_response_handler"},
  };
  std::vector<NginxUprobe> attached;
  if (broker_) {
    // The helper takes the binary as a descriptor and the function as its
    // offset in the file (libbpf finds it by name when it attaches itself).
    const OwnedFd binary(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (binary.get() < 0) return Error{"cannot open " + path + ": " + std::strerror(errno)};
    const Result<ElfFunctions> functions = read_elf_functions(path);
    if (!functions) return Error{functions.error()};
    for (const Target& t : targets) {
      const auto offset = functions->file_offsets.find(t.function);
      if (offset == functions->file_offsets.end()) return Error{path + " has no symbol " + t.function};
      Result<OwnedFd> link = broker_->attach(binary.get(), offset->second, bpf_program__fd(t.prog), index);
      if (!link)
        return Error{std::string("cannot attach a uprobe to ") + t.function + " in " + path + ": " + link.error()};
      attached.push_back(NginxUprobe{nullptr, std::move(link).value()});
    }
  } else {
    for (const Target& t : targets) {
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = index, .retprobe = false, .func_name = t.function);
      bpf_link* link = bpf_program__attach_uprobe_opts(t.prog, -1, path.c_str(), 0, &opts);
      if (!link)
        return Error{std::string("cannot attach a uprobe to ") + t.function + " in " + path + ": " +
                     std::strerror(errno)};
      attached.push_back(NginxUprobe{std::unique_ptr<bpf_link, LinkDeleter>(link), OwnedFd()});
    }
  }
  nginx_links_[index] = std::move(attached);
  return index;
}

void ProbeSession::detach_nginx_binary(uint32_t slot) {
  if (slot < W5_MAX_LAYOUTS && !nginx_links_[slot].empty()) closer_.close(slot, std::exchange(nginx_links_[slot], {}));
}

w5_layout_health ProbeSession::layout_health(uint32_t slot) const {
  w5_layout_health health{};
  if (slot < W5_MAX_LAYOUTS && health_.items)
    std::memcpy(&health, &health_.items[slot], sizeof(health));  // torn only across counters
  else if (slot < W5_MAX_LAYOUTS)
    bpf_map_lookup_elem(bpf_map__fd(skel_->maps.layout_health), &slot, &health);
  return health;
}

void ProbeSession::trace_process(pid_t pid) {
  // One bit per tgid; BPF sets bits of forked workers atomically, so the
  // read-modify-write here can at worst drop a bit that the next scan restores.
  const uint32_t word = static_cast<uint32_t>(pid) >> 6;
  const int fd = bpf_map__fd(skel_->maps.nginx_tgid_bits);
  uint64_t bits = 0;
  if (bpf_map_lookup_elem(fd, &word, &bits) != 0) return;
  bits |= uint64_t{1} << (static_cast<uint32_t>(pid) & 63);
  bpf_map_update_elem(fd, &word, &bits, BPF_ANY);
  // Its cgroup, for resets of its upstream connections that arrive while
  // another process runs (a fork's child or an exec's process the kernel
  // side adds itself).
  if (const auto cgroup = unified_cgroup_id(pid)) {
    const uint8_t yes = 1;
    bpf_map_update_elem(bpf_map__fd(skel_->maps.nginx_cgroups), &*cgroup, &yes, BPF_NOEXIST);
  }
}

Result<void> ProbeSession::adopt_processes_running(dev_t dev, ino_t ino) {
  // The kernel's own dev_t (MKDEV), which the exec tracepoint reads.
  const w5_binary_id id{.dev = (uint64_t{major(dev)} << 20) | minor(dev), .ino = ino};
  const uint8_t yes = 1;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.adopted_binaries), &id, &yes, BPF_NOEXIST) != 0)
    return errno == EEXIST ? Result<void>{} : Result<void>{Error{std::strerror(errno)}};
  __atomic_add_fetch(&skel_->bss->adopted_binaries_count, 1, __ATOMIC_RELAXED);
  return {};
}

bool ProbeSession::is_traced(pid_t pid) const {
  const uint32_t word = static_cast<uint32_t>(pid) >> 6;
  uint64_t bits = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.nginx_tgid_bits), &word, &bits) != 0) return false;
  return bits & (uint64_t{1} << (static_cast<uint32_t>(pid) & 63));
}

int ProbeSession::poll(int timeout_ms) {
  // The kernel wakes us only when much is waiting (see W5_FLUSH_MS), so a
  // quiet wait ends every W5_FLUSH_MS with a read of what came meanwhile.
  const int woken = ring_buffer__poll(ring_.get(), std::min(timeout_ms, W5_FLUSH_MS));
  if (woken != 0) return woken;
  return ring_buffer__consume(ring_.get());
}

uint64_t ProbeSession::counter(uint32_t key) const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return 0;
  std::vector<uint64_t> values(static_cast<size_t>(cpus));
  uint64_t total = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.lost), &key, values.data()) == 0)
    for (uint64_t v : values) total += v;
  return total;
}

LostCounts ProbeSession::lost() const {
  LostCounts counts;
  counts.ringbuf_full = counter(W5_LOST_RINGBUF_FULL);
  counts.map_full = counter(W5_LOST_MAP_FULL);
  counts.slot_taken = counter(W5_LOST_SLOT_TAKEN);
  return counts;
}

namespace {

bool is_hash_map(bpf_map_type type) {
  return type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_LRU_HASH || type == BPF_MAP_TYPE_PERCPU_HASH ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

// Calls visit(key, value) with each entry of a hash map: a snapshot that may
// miss entries added or removed meanwhile (fine for gauges). Read in batches
// (one syscall per kBatch entries); where the kernel refuses batch operations
// for the map, key by key (two syscalls per entry).
template <typename Visit>
void for_each_entry(int fd, size_t key_size, size_t value_size, Visit visit) {
  size_t batch = 256;
  std::vector<uint8_t> keys(key_size * batch), values(value_size * batch);
  uint64_t in_token = 0, out_token = 0;  // the kernel's position in the map (a bucket index)
  bool first = true;
  while (true) {
    uint32_t count = static_cast<uint32_t>(batch);
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_token, &out_token, keys.data(), values.data(),
                                         &count, &opts);
    const int error = err ? errno : 0;
    if (err && error == ENOSPC && count == 0 && batch < 65536) {
      // One bucket holds more entries than a batch: a bigger batch.
      batch *= 4;
      keys.resize(key_size * batch);
      values.resize(value_size * batch);
      continue;
    }
    if (err && error != ENOENT) {
      if (first) break;  // no batch operations here: key by key below
      return;
    }
    for (uint32_t i = 0; i < count; ++i) visit(keys.data() + i * key_size, values.data() + i * value_size);
    if (err) return;  // ENOENT: that was the last batch
    in_token = out_token;
    first = false;
  }
  std::vector<uint8_t> key(key_size), next(key_size), value(value_size);
  const void* previous = nullptr;  // NULL asks for the first key
  while (bpf_map_get_next_key(fd, previous, next.data()) == 0) {
    key.swap(next);
    previous = key.data();
    if (bpf_map_lookup_elem(fd, key.data(), value.data()) == 0) visit(key.data(), value.data());
  }
}

// What a lookup writes for one entry: per-CPU maps give one 8-byte-aligned
// value per possible CPU.
size_t value_bytes(const bpf_map* map) {
  const bpf_map_type type = bpf_map__type(map);
  const size_t size = bpf_map__value_size(map);
  if (type != BPF_MAP_TYPE_PERCPU_HASH && type != BPF_MAP_TYPE_LRU_PERCPU_HASH) return size;
  const int cpus = libbpf_num_possible_cpus();
  return ((size + 7) / 8 * 8) * static_cast<size_t>(cpus > 0 ? cpus : 1);
}

}  // namespace

template <typename T>
ProbeSession::MappedArray<T>::~MappedArray() {
  if (items) munmap(const_cast<T*>(items), bytes);
}

template <typename T>
void ProbeSession::MappedArray<T>::map(int fd, size_t entries) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t length = (entries * sizeof(T) + page - 1) / page * page;
  void* mapped = mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
  if (mapped == MAP_FAILED) return;
  items = static_cast<const T*>(mapped);
  count = entries;
  bytes = length;
}

std::optional<WaitingUpstreamRequest> waiting_request_in(const w5_in_flight& slot, uint64_t sent_before_ns,
                                                         uint64_t now_ns) {
  // The kernel forgets a request after 600 s (IN_FLIGHT_STALE_NS): so do we.
  constexpr uint64_t kStaleNs = 600'000'000'000ull;
  if (slot.sk == 0 || slot.sent_ns == 0 || slot.sent_ns > sent_before_ns || now_ns - slot.sent_ns >= kStaleNs)
    return std::nullopt;
  const auto family = static_cast<uint16_t>(slot.identity >> 32);
  if (family != AF_INET && family != AF_INET6) return std::nullopt;
  WaitingUpstreamRequest r;
  r.tgid = slot.tgid;
  r.sk = slot.sk;
  r.sent_ns = slot.sent_ns;
  r.family = family;
  r.upstream_port = ntohs(static_cast<uint16_t>(slot.identity & 0xffff));
  r.local_port = static_cast<uint16_t>(slot.identity >> 16);
  if (r.upstream_port == 0 || r.local_port == 0) return std::nullopt;
  return r;
}

std::vector<WaitingUpstreamRequest> ProbeSession::waiting_upstream_requests(
    uint64_t now_ns, uint64_t min_age_ns, size_t max,
    const std::function<bool(const WaitingUpstreamRequest&)>& wanted) const {
  std::vector<WaitingUpstreamRequest> found;
  if (!slots_.items || now_ns < min_age_ns) return found;
  for (size_t i = 0; i < slots_.count && found.size() < max; ++i) {
    for (const w5_in_flight& way : slots_.items[i].way) {
      // One copy of the slot, so that its fields agree as far as they can.
      w5_in_flight slot;
      std::memcpy(&slot, &way, sizeof(slot));
      auto request = waiting_request_in(slot, now_ns - min_age_ns, now_ns);
      if (request && found.size() < max && wanted(*request)) found.push_back(*request);
    }
  }
  return found;
}

uint64_t ProbeSession::in_flight_sent_ns(uint64_t sk) const {
  if (!slots_.items || sk == 0) return 0;
  const w5_in_flight_set& set = slots_.items[W5_IN_FLIGHT_SET_OF(sk, slots_.count)];
  for (const w5_in_flight& way : set.way) {
    w5_in_flight slot;
    std::memcpy(&slot, &way, sizeof(slot));
    if (slot.sk == sk) return slot.sent_ns;
  }
  return 0;
}

KernelTables ProbeSession::read_tables() const {
  KernelTables tables;
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skel_->obj) {
    if (!is_hash_map(bpf_map__type(map))) continue;
    uint64_t entries = 0;
    for_each_entry(bpf_map__fd(map), bpf_map__key_size(map), value_bytes(map), [&](const void*, const void*) {
      ++entries;
    });
    tables.maps.push_back({bpf_map__name(map), entries, bpf_map__max_entries(map)});
  }

  const int cpus = libbpf_num_possible_cpus();
  const int ids = bpf_map__fd(skel_->maps.latency_ids);
  const int histograms = bpf_map__fd(skel_->maps.latency_histograms);
  if (cpus > 0) {
    std::vector<w5_latency_histogram> per_cpu(static_cast<size_t>(cpus));
    for_each_entry(ids, sizeof(w5_latency_key), sizeof(uint32_t), [&](const void* raw_key, const void* raw_id) {
      w5_latency_key key;
      std::memcpy(&key, raw_key, sizeof(key));
      uint32_t id = 0;
      std::memcpy(&id, raw_id, sizeof(id));
      for (uint32_t kind : {uint32_t{W5_LATENCY_CONNECT}, uint32_t{W5_LATENCY_HEADER}}) {
        const uint32_t index = id * 2 + kind;
        if (bpf_map_lookup_elem(histograms, &index, per_cpu.data()) != 0) continue;
        UpstreamLatency l;
        l.upstream = latency_upstream(key);
        l.kind = kind;
        for (const w5_latency_histogram& h : per_cpu) {
          for (size_t i = 0; i < l.buckets.size(); ++i) l.buckets[i] += h.buckets[i];
          l.sum_ns += h.sum_ns;
        }
        uint64_t samples = 0;
        for (uint64_t n : l.buckets) samples += n;
        if (samples) tables.latencies.push_back(std::move(l));
      }
    });
  }
  tables.latency_dropped = counter(W5_LATENCY_DROPPED);
  return tables;
}

}  // namespace why502
