// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A measurement prototype, not part of why502: the healthy-path work of
 * on_sock_send_length / on_sock_recv_length (bpf/parts/http_status.bpf.c),
 * done from cgroup_skb hooks on the cgroup v2 directory nginx runs in, so that
 * only the packets of nginx's sockets run a program:
 * - egress: a segment whose payload starts with a request line (HTTP/1, a
 *   FastCGI BEGIN_REQUEST, an HTTP/2 preface or request HEADERS on a
 *   connected socket) arms its socket's in-flight slot; one that starts with
 *   a status line is nginx's response to a client, checked for a 5xx;
 * - ingress: the first segment with payload on an armed socket is the
 *   upstream's answer: the slot is disarmed, the header latency goes into the
 *   upstream's histogram, and the status line (FastCGI Status:, HTTP/2
 *   :status) is read for a 5xx.
 * The slots, histograms and parsers are the real ones (the same maps, sizes
 * and bpf/include/byte_parsers.h). A socket is not named by its address: the
 * verifier refuses arithmetic on a socket pointer here (the slot hash). It is
 * named by its two ends, read from the skb's socket with plain loads
 * (socket_key), or with key_by_cookie by its cookie (a helper call per run,
 * never reused). Every helper call counts on this VM (retpolines and AMD's
 * "safe RET" on every return): the healthy path makes as few as it can.
 * The 5xx paths count into `counters` instead of emitting events.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "why502_wire.h"
#include "byte_parsers.h"
#include "proto.h"

#define PEEK_LEN 16
#define IPPROTO_TCP 6
#define IPPROTO_IPV6_HDR_LEN 40
#define TCP_HDR_MIN 20
#define IN_FLIGHT_STALE_NS (600ULL * 1000000000ULL)
#define PASS 1 /* cgroup_skb: let the packet through (always) */

/* Count every step (armed, disarmed, statuses read): for the coverage check,
 * off in timed runs, where only the 5xx paths count (as the real programs
 * emit events only there). */
const volatile bool count_all = false;

/* For profiling, where the programs return early (0: they do not):
 * 1 at once, 2 after finding the payload (or none), 3 after reading its first
 * bytes (egress) or naming the socket (ingress), 4 after the status line
 * check (egress) or the slot lookup (ingress). The verifier drops the stages
 * not taken. */
const volatile __u32 stage = 0;

/* Name sockets by cookie (bpf_get_socket_cookie) instead of their two ends. */
const volatile bool key_by_cookie = false;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, P_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* As bpf/parts/requests_in_flight.bpf.c, keyed by socket_key(). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, W5_AWAITING_SLOTS / W5_IN_FLIGHT_WAYS);
	__type(key, __u32);
	__type(value, struct w5_in_flight_set);
} in_flight_slots SEC(".maps");

/* As bpf/parts/upstream_latency.bpf.c. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, W5_MAX_LATENCY_KEYS);
	__type(key, struct w5_latency_key);
	__type(value, __u32);
} latency_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, W5_MAX_LATENCY_KEYS * 2);
	__type(key, __u32);
	__type(value, struct w5_latency_histogram);
} latency_histograms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct w5_latency_key);
} latency_key_scratch SEC(".maps");

__u32 next_latency_id = 0;

/* As bpf/parts/shared_maps.bpf.c and http_status.bpf.c: client sockets whose
 * request had a failed attempt, and nginx processes that just read an
 * upstream 5xx (keyed by tgid: an ingress hook runs in whatever context
 * delivered the segment, so the reading thread is unknown; the slot keeps the
 * tgid of the sender). Empty on healthy traffic; checked as the real
 * programs check them. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, W5_MAX_AWAITING);
	__type(key, __u64);
	__type(value, __u32);
} clients_with_failures SEC(".maps");
__u64 clients_with_failures_added = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, W5_MAX_NGINX_PROCS);
	__type(key, __u32);
	__type(value, __u64);
} upstream_5xx_pending SEC(".maps");
__u64 pending_5xx_threads = 0;

static const __u64 latency_bounds_us[W5_LATENCY_BUCKETS - 1] = W5_LATENCY_BOUNDS_US;

/* n & mask, kept as such: clang drops a mask it can prove redundant, and the
 * verifier then sees a signed range where bpf_skb_load_bytes wants [1, mask]. */
static __always_inline __u32 masked(__u32 n, __u32 mask)
{
	asm volatile("%0 &= %1" : "+r"(n) : "i"(mask));
	return n;
}

static __always_inline void count(__u32 what)
{
	__u64 *n = bpf_map_lookup_elem(&counters, &what);
	if (n)
		*n += 1;
}

static __always_inline void count_step(__u32 what)
{
	if (count_all)
		count(what);
}

/* With count_all: whether the payload at off could be read with direct
 * loads (it starts before data_end) instead of bpf_skb_load_bytes. */
static __always_inline void count_linear(struct __sk_buff *skb, __u32 off)
{
	if (count_all && off < 256 && (void *)(long)skb->data + off < (void *)(long)skb->data_end)
		count(P_PAYLOAD_LINEAR);
}

/* Where the TCP payload starts (from the network header, where skb->data
 * points in both directions), 0 when there is none: a pure ACK, a SYN, a
 * FIN, or no TCP. The headers are linear: plain loads, no helper call. */
static __always_inline __u32 tcp_payload_offset(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *ip = data;
	if ((void *)(ip + 1) > end)
		return 0;
	__u32 hl;
	if ((ip[0] >> 4) == 4) {
		struct iphdr *h = data;
		if ((void *)(h + 1) > end || h->protocol != IPPROTO_TCP)
			return 0;
		hl = (__u32)h->ihl * 4;
	} else if ((ip[0] >> 4) == 6) {
		struct ipv6hdr *h = data;
		/* A TCP segment right after the fixed header (no extension
		 * headers: what a TCP socket of nginx's sends and gets). */
		if ((void *)(h + 1) > end || h->nexthdr != IPPROTO_TCP)
			return 0;
		hl = IPPROTO_IPV6_HDR_LEN;
	} else {
		return 0;
	}
	if (hl < 20 || hl > 60)
		return 0;
	struct tcphdr *th = data + hl;
	if ((void *)th + TCP_HDR_MIN > end)
		return 0;
	hl += (__u32)th->doff * 4;
	return skb->len > hl ? hl : 0;
}

/* The first PEEK_LEN bytes of the payload at off (fewer when it is shorter;
 * the rest stays zero). */
static __always_inline int load_peek(struct __sk_buff *skb, __u32 off, char *b)
{
	__u32 avail = skb->len - off;
	if (avail >= PEEK_LEN)
		return bpf_skb_load_bytes(skb, off, b, PEEK_LEN);
	avail = masked(avail, PEEK_LEN - 1);
	if (!avail)
		return -1;
	return bpf_skb_load_bytes(skb, off, b, avail);
}

/* A TCP socket's name while it is connected, from plain loads of the skb's
 * socket: the remote address, both ports (IPv6: the remote address folded).
 * A closed connection's tuple reused by a new one names the same slot: its
 * first request re-arms it, as the real programs' identity check does. */
static __always_inline __u64 socket_key(struct __sk_buff *skb)
{
	if (key_by_cookie)
		return bpf_get_socket_cookie(skb);
	__u32 remote = skb->family == 10 ? skb->remote_ip6[0] ^ skb->remote_ip6[1] ^ skb->remote_ip6[2] ^
						   skb->remote_ip6[3]
					 : skb->remote_ip4;
	return ((__u64)remote << 32) | (skb->remote_port & 0xffff0000) | (skb->local_port & 0xffff);
}

static __always_inline struct w5_in_flight_set *set_of(__u64 key)
{
	__u32 index = W5_IN_FLIGHT_SET_OF(key, W5_AWAITING_SLOTS / W5_IN_FLIGHT_WAYS);
	return bpf_map_lookup_elem(&in_flight_slots, &index);
}

static __always_inline struct w5_in_flight *bound_slot(struct w5_in_flight_set *set, __u64 key)
{
#pragma unroll
	for (int i = 0; i < W5_IN_FLIGHT_WAYS; i++)
		if (set->way[i].sk == key)
			return &set->way[i];
	return NULL;
}

static __always_inline struct w5_in_flight *in_flight_of(__u64 key)
{
	struct w5_in_flight_set *set = set_of(key);
	if (!set)
		return NULL;
	struct w5_in_flight *slot = bound_slot(set, key);
	return slot && slot->sent_ns ? slot : NULL;
}

static __always_inline bool in_flight_now(const struct w5_in_flight *slot, __u64 now)
{
	return slot->sk && slot->sent_ns && now - slot->sent_ns < IN_FLIGHT_STALE_NS;
}

static __always_inline struct w5_in_flight *slot_to_take(struct w5_in_flight_set *set, __u64 now)
{
	struct w5_in_flight *oldest = &set->way[0];
#pragma unroll
	for (int i = 0; i < W5_IN_FLIGHT_WAYS; i++) {
		if (!in_flight_now(&set->way[i], now))
			return &set->way[i];
		if (set->way[i].sent_ns < oldest->sent_ns)
			oldest = &set->way[i];
	}
	return oldest;
}

static __always_inline void arm_in_flight(__u64 key, __u32 proto, __u32 tgid, __u64 now)
{
	struct w5_in_flight_set *set = set_of(key);
	if (!set)
		return;
	struct w5_in_flight *slot = bound_slot(set, key);
	if (!slot) {
		slot = slot_to_take(set, now);
		if (in_flight_now(slot, now))
			count(P_SLOT_TAKEN);
		slot->sk = key;
		slot->identity = key;
		slot->latency_id = 0;
	}
	slot->proto = proto;
	slot->tgid = tgid;
	slot->sent_ns = now;
	count_step(P_ARMED);
}

/* The id (+ 1) of the upstream at the socket's other end (its address from
 * the skb's socket); 0 when there is no room. Once per connection. */
static __noinline __u32 latency_id_of(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct w5_latency_key *key = bpf_map_lookup_elem(&latency_key_scratch, &zero);
	if (!key)
		return 0;
	__builtin_memset(key, 0, sizeof(*key));
	__u32 family = skb->family;
	key->upstream.family = family;
	if (family == 2) {
		__u32 a = skb->remote_ip4;
		__builtin_memcpy(key->upstream.addr, &a, 4);
	} else if (family == 10) {
		__u32 a[4] = {skb->remote_ip6[0], skb->remote_ip6[1], skb->remote_ip6[2], skb->remote_ip6[3]};
		__builtin_memcpy(key->upstream.addr, a, 16);
	}
	key->upstream.port = bpf_ntohl(skb->remote_port); /* a u32 in network order */
	__u32 *known = bpf_map_lookup_elem(&latency_ids, key);
	if (known)
		return *known + 1;
	__u32 id = __sync_fetch_and_add(&next_latency_id, 1);
	if (id >= W5_MAX_LATENCY_KEYS) {
		count(P_LATENCY_DROPPED);
		return 0;
	}
	if (bpf_map_update_elem(&latency_ids, key, &id, BPF_NOEXIST)) {
		known = bpf_map_lookup_elem(&latency_ids, key);
		return known ? *known + 1 : 0;
	}
	return id + 1;
}

static __always_inline void observe_latency(struct w5_in_flight *slot, struct __sk_buff *skb, __u64 ns)
{
	if (!slot->latency_id)
		slot->latency_id = latency_id_of(skb);
	if (!slot->latency_id)
		return;
	__u32 index = (slot->latency_id - 1) * 2 + W5_LATENCY_HEADER;
	struct w5_latency_histogram *h = bpf_map_lookup_elem(&latency_histograms, &index);
	if (!h)
		return;
	__u64 us = ns / 1000;
	__u32 bucket = 0;
	for (; bucket < W5_LATENCY_BUCKETS - 1; bucket++) {
		if (us <= latency_bounds_us[bucket])
			break;
	}
	if (bucket < W5_LATENCY_BUCKETS)
		h->buckets[bucket] += 1;
	h->sum_ns += ns;
}

/* A TCP socket that connect()ed (an upstream's), not one accepted from a
 * listener: as connected_tcp() in bpf/include/kernel_reads.bpf.h. */
static __always_inline bool connected_tcp(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return false;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	return tp && tp->inet_conn.icsk_inet.sk.sk_max_ack_backlog == 0;
}

/* "Status: NNN" of a FastCGI STDOUT record at off. */
static __always_inline __u32 fastcgi_status(struct __sk_buff *skb, __u32 off, int len)
{
	char b[W5_FCGI_SCAN_LEN] = {};
	if (len < 16)
		return 0;
	__u32 n = len < W5_FCGI_SCAN_LEN ? (__u32)len : W5_FCGI_SCAN_LEN;
	if (n < 16 || n > W5_FCGI_SCAN_LEN || bpf_skb_load_bytes(skb, off, b, n))
		return 0;
	return w5_fastcgi_status(b, len);
}

#define W5_H2_MAX_FRAMES 6

/* As h2_answer() in http_status.bpf.c, over the segment's payload. */
static __always_inline bool h2_answer(struct __sk_buff *skb, __u32 off, int len, __u32 *status)
{
	__u32 offset = 0;
	for (int i = 0; i < W5_H2_MAX_FRAMES; i++) {
		__u8 h[W5_H2_FRAME_HEADER];
		if (offset + W5_H2_FRAME_HEADER > (__u32)len || offset > 0xffff ||
		    bpf_skb_load_bytes(skb, off + offset, h, sizeof(h)))
			return false;
		__u32 length = ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
		__u8 type = h[3];
		if (type == W5_H2_DATA || type == W5_H2_RST_STREAM || type == W5_H2_GOAWAY)
			return true;
		if (type != W5_H2_HEADERS) {
			offset += W5_H2_FRAME_HEADER + (length & 0xffffff);
			continue;
		}
		__u32 block = offset + W5_H2_FRAME_HEADER;
		__u8 pad = 0;
		if ((h[4] & W5_H2_PADDED) && bpf_skb_load_bytes(skb, off + block, &pad, 1) == 0)
			block += 1;
		if (h[4] & W5_H2_PRIORITY)
			block += 5;
		__u8 b[W5_HPACK_PEEK] = {};
		int in_block = (int)length - (int)(block - offset - W5_H2_FRAME_HEADER) - pad;
		int in_read = len - (int)block;
		int readable = in_block < in_read ? in_block : in_read;
		if (readable >= W5_HPACK_PEEK && bpf_skb_load_bytes(skb, off + block, b, sizeof(b)) == 0)
			*status = w5_hpack_status(b, readable);
		else if (readable > 0 && readable < W5_HPACK_PEEK) {
			__u32 n = masked(readable, W5_HPACK_PEEK - 1);
			if (n && bpf_skb_load_bytes(skb, off + block, b, n) == 0)
				*status = w5_hpack_status(b, readable);
		}
		return true;
	}
	return false;
}

SEC("cgroup_skb/egress")
int proto_egress(struct __sk_buff *skb)
{
	if (stage == 1)
		return PASS;
	__u32 off = tcp_payload_offset(skb);
	if (!off || stage == 2)
		return PASS;
	char b[PEEK_LEN] = {};
	if (load_peek(skb, off, b) || stage == 3)
		return PASS;
	count_step(P_EGRESS_PAYLOAD);
	count_linear(skb, off);
	/* The socket's name and nginx's tgid only when they are needed: to arm a
	 * slot, or while a failure waits in the maps (never on healthy traffic). */
	__u64 key = 0;
	bool after_failure = false;
	if (clients_with_failures_added) {
		key = socket_key(skb);
		if (bpf_map_lookup_elem(&clients_with_failures, &key)) {
			after_failure = true;
			if (bpf_map_delete_elem(&clients_with_failures, &key) == 0)
				__sync_fetch_and_sub(&clients_with_failures_added, 1);
		}
	}
	bool pending_5xx = false;
	if (pending_5xx_threads && !connected_tcp(skb)) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		if (bpf_map_lookup_elem(&upstream_5xx_pending, &tgid)) {
			pending_5xx = true;
			if (bpf_map_delete_elem(&upstream_5xx_pending, &tgid) == 0)
				__sync_fetch_and_sub(&pending_5xx_threads, 1);
		}
	}
	__u32 status = w5_http_status_line(b);
	if (status) {
		count_step(P_CLIENT_STATUS);
		if ((status >= 500 && status <= 504) || after_failure)
			count(P_CLIENT_5XX);
		return PASS;
	}
	if (stage == 4)
		return PASS;
	__u32 proto = w5_request_protocol(b);
	if (!proto && (w5_h2_preface(b) || (w5_h2_request_headers(b) && connected_tcp(skb))))
		proto = W5_PROTO_HTTP2;
	if (proto) {
		if (!key)
			key = socket_key(skb);
		/* TCP stamps a segment with its send time (CLOCK_MONOTONIC, the
		 * clock of bpf_ktime_get_ns): one clock read fewer. */
		__u64 now = skb->tstamp;
		if (!now)
			now = bpf_ktime_get_ns();
		arm_in_flight(key, proto, bpf_get_current_pid_tgid() >> 32, now);
		return PASS;
	}
	if (pending_5xx || after_failure)
		count(P_CLIENT_AFTER_5XX);
	return PASS;
}

SEC("cgroup_skb/ingress")
int proto_ingress(struct __sk_buff *skb)
{
	if (stage == 1)
		return PASS;
	__u32 off = tcp_payload_offset(skb);
	if (!off || stage == 2)
		return PASS;
	count_step(P_INGRESS_PAYLOAD);
	count_linear(skb, off);
	__u64 key = socket_key(skb);
	if (stage == 3)
		return PASS;
	struct w5_in_flight *slot = in_flight_of(key);
	if (!slot || stage == 4)
		return PASS;
	int len = skb->len - off;
	__u32 protocol = slot->proto;
	__u32 status = 0;
	if (protocol == W5_PROTO_HTTP2 && !h2_answer(skb, off, len, &status))
		return PASS;
	__u64 sent_ns = slot->sent_ns;
	slot->sent_ns = 0;
	__u64 now = bpf_ktime_get_ns();
	if (now > sent_ns)
		observe_latency(slot, skb, now - sent_ns);
	count_step(P_DISARMED);

	if (protocol == W5_PROTO_HTTP2) {
		/* status read by h2_answer */
	} else if (protocol == W5_PROTO_HTTP) {
		char b[PEEK_LEN] = {};
		if (len >= 12 && load_peek(skb, off, b) == 0)
			status = w5_http_status_line(b);
	} else {
		status = fastcgi_status(skb, off, len);
	}
	if (status)
		count_step(P_UPSTREAM_STATUS);
	if (status < 500 || status > 504)
		return PASS;

	count(P_UPSTREAM_5XX);
	__u32 tgid = slot->tgid;
	__u64 read_at = now;
	if (bpf_map_update_elem(&upstream_5xx_pending, &tgid, &read_at, BPF_NOEXIST) == 0)
		__sync_fetch_and_add(&pending_5xx_threads, 1);
	else
		bpf_map_update_elem(&upstream_5xx_pending, &tgid, &read_at, BPF_ANY);
	return PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
