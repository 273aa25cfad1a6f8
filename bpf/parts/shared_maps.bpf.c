// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Part of bpf/why502.bpf.c: the maps every other part uses (the ring buffer,
 * the lost-event counters, nginx's process set, the clients with failures)
 * and the helpers over them. */
#include "part_of_why502.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, W5_RINGBUF_BYTES);
} events SEC(".maps");

/* Per-CPU counters of everything that could not be delivered (enum w5_counter). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, W5_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* The nginx processes being traced: one bit per tgid, filled by userspace and
 * by fork. Every socket send and receive of the host asks this first, so it is
 * an array the verifier inlines (no hash, no lock); pid_max is at most 2^22. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, W5_TGID_BITMAP_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} nginx_tgid_bits SEC(".maps");

/* Client sockets (→ tgid) whose request had an upstream attempt fail: the next
 * response on them tells whether nginx recovered (a retried failure). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, W5_MAX_AWAITING);
	__type(key, __u64);
	__type(value, __u32);
} clients_with_failures SEC(".maps");

/* Entries put in clients_with_failures less those taken out (LRU evictions
 * only leave it high): while it is zero, a healthy response skips the map. */
__u64 clients_with_failures_added = 0;

/* --pid: only the listed processes (and what they fork) are nginx. */
const volatile bool only_listed_processes = false;

static __always_inline void count_lost(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&lost, &reason);
	if (n)
		*n += 1;
}

/* bpf_map_update_elem, counting under reason (enum w5_counter) an entry the
 * map had no room for: a full hash map (-E2BIG), or an LRU map with no free
 * node at that moment (-ENOMEM); what the entry was for is then lost.
 * -EEXIST under BPF_NOEXIST is an answer, not a loss. */
static __always_inline long store_or_count(void *map, const void *key, const void *value, __u64 flags,
					   __u32 reason)
{
	long err = bpf_map_update_elem(map, key, value, flags);
	if (err && err != -W5_EEXIST)
		count_lost(reason);
	return err;
}

static __always_inline __u64 *tgid_word(__u32 tgid)
{
	__u32 word = tgid >> 6;
	return bpf_map_lookup_elem(&nginx_tgid_bits, &word);
}

static __always_inline bool is_nginx_tgid(__u32 tgid)
{
	__u64 *word = tgid_word(tgid);
	return word && ((*word >> (tgid & 63)) & 1);
}

static __always_inline void add_nginx_tgid(__u32 tgid)
{
	__u64 *word = tgid_word(tgid);
	if (word)
		__sync_fetch_and_or(word, 1ULL << (tgid & 63));
}

/* The cgroups (v2 ids) nginx's processes run in. A socket nginx connect()ed
 * carries its cgroup, so a reset that arrives while another process runs
 * (the backend's own close, over loopback) is still known for nginx's side
 * of an upstream connection (tcp_evidence.bpf.c). Filled where a process
 * becomes nginx (fork, exec, the uprobes), and by userspace for those already
 * running. */
struct {
	/* LRU: on a host where containers come and go for months, the cgroups of
	 * nginxes long gone make room for new ones. */
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, W5_MAX_NGINX_CGROUPS);
	__type(key, __u64);
	__type(value, __u8);
} nginx_cgroups SEC(".maps");

/* The current process becomes nginx, or forks one: its cgroup is nginx's. */
static __always_inline void note_nginx_cgroup(void)
{
	__u64 id = bpf_get_current_cgroup_id();
	__u8 yes = 1;
	if (id)
		store_or_count(&nginx_cgroups, &id, &yes, BPF_NOEXIST, W5_LOST_MAP_FULL);
}

static __always_inline void remove_nginx_tgid(__u32 tgid)
{
	__u64 *word = tgid_word(tgid);
	if (word && ((*word >> (tgid & 63)) & 1))
		__sync_fetch_and_and(word, ~(1ULL << (tgid & 63)));
}

/* Reserve an event in the ring buffer, zeroed; counts the loss when it is full.
 * Ring memory is reused and not cleared by the kernel: without the memset the
 * tails of strings read up to their NUL, padding and fields a program leaves
 * unset would carry bytes of older events into userspace and recordings. size
 * is a sizeof() at every caller, so once inlined this is a fixed run of 8-byte
 * stores, on error paths only: up to W5_INLINE_ZERO bytes, which covers every
 * event an error page or a repeat sends (the error page, 600 bytes, cost a
 * helper call for its last 88 at 512); past it one helper call copies zeroes. */
#define W5_INLINE_ZERO 640
/* Never written: the zeroes reserve_event clears large events with (and the
 * log uprobe clears arguments it could not copy whole). */
char w5_zeroes[sizeof(struct w5_ngx_log)];

/* Waking the consumer is the dearest part of an event on this VM: an irq_work,
 * a self-IPI and a context switch of why502 for every event of a 502 storm.
 * So events are submitted without a wakeup, and userspace reads the ring
 * every W5_FLUSH_MS anyway; the consumer is woken only when W5_WAKEUP_BYTES
 * wait (this event takes the waiting bytes past it), or when the ring is
 * half full (a crossing raced by another CPU was missed). A quarter of the
 * ring: a storm of 25 000 502s a second fills 1.5 MiB in W5_FLUSH_MS, so at
 * 1/32 (the first choice) one wakeup in 50 requests still cost the worker
 * about 1% of its time. */
#define W5_WAKEUP_BYTES (W5_RINGBUF_BYTES / 4)

static __always_inline __u64 wakeup_flags(__u32 size)
{
	__u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	if (waiting >= W5_RINGBUF_BYTES / 2 || (waiting >= W5_WAKEUP_BYTES && waiting < W5_WAKEUP_BYTES + size + 8))
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void submit_event(void *e)
{
	bpf_ringbuf_submit(e, wakeup_flags(((struct w5_header *)e)->size));
}

/* For the rare event userspace must act on at once, whatever else waits:
 * an nginx exec, whose binary's uprobes are attached on it (a binary
 * upgrade's new workers serve from their first milliseconds). */
static __always_inline void submit_event_now(void *e)
{
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

static __always_inline void *reserve_event(__u32 size, __u32 type)
{
	struct w5_header *h = bpf_ringbuf_reserve(&events, size, 0);
	if (!h) {
		count_lost(W5_LOST_RINGBUF_FULL);
		return NULL;
	}
	/* clang expands a memset inline only up to a size (a call is refused):
	 * past it, w5_ngx_log's tail (its format arguments) is copied from
	 * zeroes in one helper call. */
	__builtin_memset(h, 0, size < W5_INLINE_ZERO ? size : W5_INLINE_ZERO);
	if (size > W5_INLINE_ZERO)
		bpf_probe_read_kernel((char *)h + W5_INLINE_ZERO, size - W5_INLINE_ZERO, w5_zeroes);
	__u64 id = bpf_get_current_pid_tgid();
	h->type = type;
	h->size = size;
	h->ts_ns = bpf_ktime_get_ns();
	h->tgid = id >> 32;
	h->tid = (__u32)id;
	return h;
}
