// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kernel evidence about upstream sockets, from tracepoints that fire only when
 * something fails: a reset received, a socket error, a retransmitted SYN.
 * They run in softirq context as often as not, so they cannot filter on the
 * current process; they keep a socket when nginx is current, when it has a
 * request in flight (requests_in_flight.bpf.c), when it is still connecting, or when
 * it was already watched for an earlier failure — and say which nginx process
 * owns it when that is known. TCP state numbers are part of
 * the kernel ABI (ss and sock_diag expose them), so they are used as they are.
 */
#include "part_of_why502.bpf.h"

/* Live sockets with a failure already reported (→ owner tgid, 0 if unknown),
 * so their later errors are kept: a SYN retransmitted, then the connect's
 * timeout. A socket the failure closed leaves (a reset always does, and so
 * does the error of a connect or a write that timed out): it has no later
 * errors, and a new socket at its address must not inherit its owner. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} watched_sockets SEC(".maps");

#define OWNER_NONE 0xffffffffu /* not worth reporting */

/* Whether sk was made in a cgroup nginx runs in (see nginx_cgroups). */
static __always_inline bool in_nginx_cgroup(const struct sock *sk)
{
	if (!bpf_core_field_exists(sk->sk_cgrp_data.cgroup))
		return false;
	__u64 id = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	return id && bpf_map_lookup_elem(&nginx_cgroups, &id);
}

/* A socket whose connect() failed, seen after the kernel closed it: since
 * Linux 6.10 (and in the stable kernels that took the change) an ICMP error
 * closes a connecting socket before it reports the error
 * (tcp_done_with_error); on a real network that ICMP arrives in softirq,
 * with no nginx process current, and where no cgroup hierarchy is mounted
 * the socket's cgroup names no one. No segment ever came in on it, so it
 * never was a connection; it still has its peer, which a socket reset by
 * its own process (tcp_disconnect(), a close with SO_LINGER 0, which zeroes
 * the count too) has not. */
static __always_inline bool failed_to_connect(const struct sock *sk, int state)
{
	return state == TCP_CLOSE && connected_tcp(sk) && BPF_CORE_READ(sk, __sk_common.skc_dport) != 0 &&
	       BPF_CORE_READ((const struct tcp_sock *)sk, segs_in) == 0;
}

/* The nginx process behind a socket (0: unknown but worth reporting);
 * *watched says watched_sockets holds it already. */
static __always_inline __u32 socket_owner(const struct sock *sk, int state, bool *watched)
{
	__u64 key = (__u64)sk;
	*watched = false;
	struct w5_in_flight *waiting = in_flight_of(sk);
	if (waiting)
		return waiting->tgid;
	__u32 *owner = bpf_map_lookup_elem(&watched_sockets, &key);
	if (owner) {
		*watched = true;
		return *owner;
	}
	__u32 tgid = current_tgid();
	if (is_nginx_tgid(tgid))
		return tgid;
	if (state == TCP_SYN_SENT || failed_to_connect(sk, state))
		return 0;
	/* A connection nginx opened, with no request in flight on it (a pooled
	 * one, or --lean, which keeps no slots): known by its cgroup. */
	return connected_tcp(sk) && in_nginx_cgroup(sk) ? 0 : OWNER_NONE;
}

/* Returns the event's time, or 0 when the ring had no room. closes: the
 * failure leaves sk closed. */
static __always_inline __u64 emit_sock_evidence(__u32 type, const struct sock *sk, int state,
						__s32 err, __u32 owner, bool watched, bool closes)
{
	__u64 key = (__u64)sk;
	/* An LRU update is among the dearest steps here: not for a socket
	 * already watched with this owner, nor for one that is done. */
	if (closes) {
		if (watched)
			bpf_map_delete_elem(&watched_sockets, &key);
	} else if (!watched) {
		store_or_count(&watched_sockets, &key, &owner, BPF_ANY, W5_LOST_MAP_FULL);
	}

	struct w5_sock_evidence *e = reserve_event(sizeof(*e), type);
	if (!e)
		return 0;
	__u64 ts = e->h.ts_ns;
	e->sk = key;
	e->err = err;
	e->state = state;
	e->owner_tgid = owner;
	e->server_side = server_side(sk);
	read_sock_addrs(sk, &e->local, &e->remote);
	submit_event(e);
	return ts;
}

/* The error tcp_reset() sets on a socket reset in this state, and reports
 * right after the tracepoint (0: none, the socket is closed already). */
static __always_inline __s32 reset_errno(int state)
{
	switch (state) {
	case TCP_SYN_SENT:
		return 111; /* ECONNREFUSED */
	case TCP_CLOSE_WAIT:
		return 32;  /* EPIPE */
	case TCP_CLOSE:
		return 0;
	default:
		return 104; /* ECONNRESET */
	}
}

/* A reset whose event carried the error its socket's report will say (per
 * CPU: tcp_reset() reports it in the same context, at once): that report
 * sends nothing more. */
struct reset_told {
	__u64 sk;
	__u64 ts_ns;
	__s32 err;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct reset_told);
} reset_told SEC(".maps");

#define W5_RESET_REPORT_NS 10000000 /* a report this long after is another one */

SEC("raw_tracepoint/tcp_receive_reset")
int on_tcp_receive_reset(struct bpf_raw_tracepoint_args *ctx)
{
	const struct sock *sk = (const struct sock *)ctx->args[0];
	int state = sock_state(sk);
	bool watched;
	__u32 owner = socket_owner(sk, state, &watched);
	if (owner == OWNER_NONE)
		return 0;
	__s32 err = reset_errno(state);
	/* (tcp_reset() closes the socket, whatever its state.) */
	__u64 ts = emit_sock_evidence(W5_EV_TCP_RESET, sk, state, err, owner, watched, true);
	__u32 zero = 0;
	struct reset_told *told = bpf_map_lookup_elem(&reset_told, &zero);
	if (told && ts && err) {
		told->sk = (__u64)sk;
		told->ts_ns = ts;
		told->err = err;
	}
	return 0;
}

/* The error a report says. An ICMP error (what a firewall's REJECT sends:
 * port unreachable, host prohibited) that reaches a connecting socket while
 * its owner holds the socket's lock is kept as the soft error, which the
 * owner reads through SO_ERROR; the report then finds sk_err 0. */
static __always_inline __s32 reported_error(const struct sock *sk, int state)
{
	__s32 err = BPF_CORE_READ(sk, sk_err);
	if (!err && state == TCP_SYN_SENT)
		err = BPF_CORE_READ(sk, sk_err_soft);
	return err;
}

SEC("raw_tracepoint/inet_sk_error_report")
int on_inet_sk_error_report(struct bpf_raw_tracepoint_args *ctx)
{
	const struct sock *sk = (const struct sock *)ctx->args[0];
	__u32 zero = 0;
	struct reset_told *told = bpf_map_lookup_elem(&reset_told, &zero);
	if (told && told->sk == (__u64)sk) {
		told->sk = 0;
		if (BPF_CORE_READ(sk, sk_err) == told->err && bpf_ktime_get_ns() - told->ts_ns < W5_RESET_REPORT_NS)
			return 0;
	}
	int state = sock_state(sk);
	bool watched;
	__u32 owner = socket_owner(sk, state, &watched);
	if (owner != OWNER_NONE)
		emit_sock_evidence(W5_EV_SOCK_ERROR, sk, state, reported_error(sk, state), owner, watched,
				   state == TCP_CLOSE);
	return 0;
}

SEC("raw_tracepoint/tcp_retransmit_skb")
int on_tcp_retransmit_skb(struct bpf_raw_tracepoint_args *ctx)
{
	const struct sock *sk = (const struct sock *)ctx->args[0];
	int state = sock_state(sk);
	if (state == TCP_SYN_SENT) {
		bool watched;
		__u32 owner = socket_owner(sk, state, &watched);
		emit_sock_evidence(W5_EV_SYN_RETRANSMIT, sk, state, 0, owner, watched, false);
	}
	return 0;
}
