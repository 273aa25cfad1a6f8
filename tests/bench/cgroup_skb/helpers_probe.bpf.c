// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * One cgroup_skb program per helper or access that the prototype might use:
 * `loader probe helpers_probe.bpf.o` loads each on its own and prints what the
 * verifier said. Nothing here is attached.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} sk_store SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sink SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

static __always_inline void keep(__u64 v)
{
	__u32 zero = 0;
	__u64 *p = bpf_map_lookup_elem(&sink, &zero);
	if (p)
		*p += v;
}

SEC("cgroup_skb/egress")
int skb_load_bytes(struct __sk_buff *skb)
{
	char b[16];
	if (bpf_skb_load_bytes(skb, 40, b, sizeof(b)) == 0)
		keep(b[0]);
	return 1;
}

SEC("cgroup_skb/egress")
int skb_load_bytes_relative(struct __sk_buff *skb)
{
	char b[16];
	if (bpf_skb_load_bytes_relative(skb, 40, b, sizeof(b), BPF_HDR_START_NET) == 0)
		keep(b[0]);
	return 1;
}

SEC("cgroup_skb/egress")
int direct_packet_read(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	if (data + 40 > end)
		return 1;
	keep(*(__u8 *)(data + 32));
	return 1;
}

SEC("cgroup_skb/egress")
int sk_fullsock(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (sk)
		keep(sk->state);
	return 1;
}

SEC("cgroup_skb/egress")
int tcp_sock(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	struct bpf_tcp_sock *tp = bpf_tcp_sock(sk);
	if (tp)
		keep(tp->rcv_nxt);
	return 1;
}

SEC("cgroup_skb/egress")
int skc_to_tcp_sock(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	if (tp)
		keep(tp->inet_conn.icsk_inet.sk.sk_max_ack_backlog);
	return 1;
}

SEC("cgroup_skb/egress")
int get_socket_cookie(struct __sk_buff *skb)
{
	keep(bpf_get_socket_cookie(skb));
	return 1;
}

SEC("cgroup_skb/egress")
int get_socket_uid(struct __sk_buff *skb)
{
	keep(bpf_get_socket_uid(skb));
	return 1;
}

SEC("cgroup_skb/egress")
int skb_cgroup_id(struct __sk_buff *skb)
{
	keep(bpf_skb_cgroup_id(skb));
	return 1;
}

SEC("cgroup_skb/egress")
int sk_storage_get(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	__u64 *v = bpf_sk_storage_get(&sk_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (v)
		*v += 1;
	return 1;
}

SEC("cgroup_skb/egress")
int get_listener_sock(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_get_listener_sock(sk);
	if (sk)
		keep(sk->src_port);
	return 1;
}

SEC("cgroup_skb/egress")
int ktime_get_ns(struct __sk_buff *skb)
{
	keep(bpf_ktime_get_ns());
	return 1;
}

SEC("cgroup_skb/egress")
int get_current_pid_tgid(struct __sk_buff *skb)
{
	keep(bpf_get_current_pid_tgid());
	return 1;
}

SEC("cgroup_skb/egress")
int get_current_cgroup_id(struct __sk_buff *skb)
{
	keep(bpf_get_current_cgroup_id());
	return 1;
}

SEC("cgroup_skb/egress")
int get_current_task_btf(struct __sk_buff *skb)
{
	struct task_struct *t = bpf_get_current_task_btf();
	keep(t->tgid);
	return 1;
}

SEC("cgroup_skb/egress")
int probe_read_kernel(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	__u64 v = 0;
	if (sk)
		bpf_probe_read_kernel(&v, sizeof(v), (void *)sk);
	keep(v);
	return 1;
}

SEC("cgroup_skb/egress")
int probe_read_user(struct __sk_buff *skb)
{
	__u64 v = 0;
	bpf_probe_read_user(&v, sizeof(v), (void *)0x1000);
	keep(v);
	return 1;
}

SEC("cgroup_skb/egress")
int ringbuf_output(struct __sk_buff *skb)
{
	__u64 v = skb->len;
	bpf_ringbuf_output(&ring, &v, sizeof(v), BPF_RB_NO_WAKEUP);
	return 1;
}

/* The socket pointer as a number (the real programs key slots by it). */
SEC("cgroup_skb/egress")
int sk_pointer_as_key(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	__u64 key = (__u64)sk;
	keep(key * 0x9E3779B97F4A7C15ULL);
	return 1;
}

/* The socket pointer stored as it is (a map value), no arithmetic. */
SEC("cgroup_skb/egress")
int sk_pointer_stored(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	__u32 zero = 0;
	__u64 *p = bpf_map_lookup_elem(&sink, &zero);
	if (p)
		*p = (__u64)sk;
	return 1;
}

/* sock_ops: whether a socket connected or was accepted, once per connection. */
SEC("sockops")
int sockops_established(struct bpf_sock_ops *ops)
{
	if (ops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && ops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	struct bpf_sock *sk = ops->sk;
	if (!sk)
		return 1;
	__u64 *v = bpf_sk_storage_get(&sk_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (v)
		*v = ops->op;
	return 1;
}

/* sock_ops: the first bytes of a segment (only its headers are linear). */
SEC("sockops")
int sockops_payload(struct bpf_sock_ops *ops)
{
	void *data = (void *)(long)ops->skb_data, *end = (void *)(long)ops->skb_data_end;
	if (data + 60 > end)
		return 1;
	keep(*(__u8 *)(data + 52));
	return 1;
}

SEC("sockops")
int sockops_load_hdr_opt(struct bpf_sock_ops *ops)
{
	char b[8];
	if (ops->op == BPF_SOCK_OPS_PARSE_HDR_OPT_CB && bpf_load_hdr_opt(ops, b, sizeof(b), 0) > 0)
		keep(b[0]);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
