/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What every part of the why502 object reads with: the kernel's types, libbpf's
 * helpers, the wire structs, and pure reads of a socket. No maps and no
 * programs, so it is a header: any part may include it. */
#ifndef WHY502_KERNEL_READS_BPF_H
#define WHY502_KERNEL_READS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "why502_wire.h"

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10

#define W5_EEXIST 17 /* errno.h's EEXIST, which BPF code cannot include */

static __always_inline __u32 current_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

/* Both ends of a socket, as the kernel sees them: its struct sock_common
 * copied in one read (a read per field cost five to seven helper calls);
 * CO-RE relocates the field offsets within the copy as within the kernel's. */
static __always_inline void read_sock_addrs(const struct sock *sk, struct w5_addr *local,
					    struct w5_addr *remote)
{
	struct sock_common c;
	if (bpf_probe_read_kernel(&c, sizeof(c), &sk->__sk_common))
		return;
	__u16 family = c.skc_family;
	local->family = family;
	remote->family = family;
	if (family == AF_INET) {
		__builtin_memcpy(local->addr, &c.skc_rcv_saddr, 4);
		__builtin_memcpy(remote->addr, &c.skc_daddr, 4);
	} else if (family == AF_INET6) {
		__builtin_memcpy(local->addr, &c.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(remote->addr, &c.skc_v6_daddr, 16);
	}
	if (family == AF_INET || family == AF_INET6) {
		local->port = c.skc_num;
		remote->port = bpf_ntohs(c.skc_dport);
	}
}

/* The path a connected unix stream socket's peer listens on. */
static __always_inline void read_unix_peer_path(const struct sock *sk, char *out, __u32 out_len)
{
	struct unix_sock *peer = (struct unix_sock *)BPF_CORE_READ((struct unix_sock *)sk, peer);
	struct unix_address *addr = peer ? BPF_CORE_READ(peer, addr) : NULL;
	if (addr)
		bpf_probe_read_kernel_str(out, out_len, &addr->name[0].sun_path);
}

static __always_inline int sock_state(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_state);
}

/* W5_SERVER_SIDE for a TCP socket that listens or was accepted: an accepted
 * socket is a copy of its listener and keeps the listen() backlog, a socket
 * that connect()ed never has one. --anonymise-clients cuts the other end of a
 * server-side socket (a client) and keeps that of a connecting one (a server). */
static __always_inline __u32 server_side(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	return BPF_CORE_READ(sk, sk_max_ack_backlog) > 0 ? W5_SERVER_SIDE : 0;
}

/* A TCP socket this process connect()ed (an upstream's, for nginx), not one
 * accepted from a listener (a client's). (A UDP socket has no backlog either:
 * nginx answers every HTTP/3 client from its listening one.) */
static __always_inline bool connected_tcp(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	return (family == AF_INET || family == AF_INET6) && BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP &&
	       BPF_CORE_READ(sk, sk_max_ack_backlog) == 0;
}

/* A struct sockaddr_in or _in6, as copied from user memory. */
#define W5_SOCKADDR_LEN 28
static __always_inline void sockaddr_to_addr(const __u8 *sa, struct w5_addr *out)
{
	__u16 family = sa[0] | (sa[1] << 8);
	out->family = family;
	if (family == AF_INET) {
		out->port = (sa[2] << 8) | sa[3];
		__builtin_memcpy(out->addr, &sa[4], 4);
	} else if (family == AF_INET6) {
		out->port = (sa[2] << 8) | sa[3];
		__builtin_memcpy(out->addr, &sa[8], 16);
	}
}

#endif /* WHY502_KERNEL_READS_BPF_H */
