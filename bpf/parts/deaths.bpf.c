// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Backend deaths, for the causes error.log cannot see. A fatal signal is
 * recorded when it is sent — who sent it, to whom, and the stream sockets the
 * target held at that moment (it cannot have closed any yet), so a failed
 * upstream connection can be tied to the process at its other end; the OOM
 * killer's victims and the exits that follow are recorded too. All of it is
 * rare; nothing here fires on a healthy request.
 */
#include "part_of_why502.bpf.h"

#define MAX_FDS_SCANNED 256
#define SOCK_STREAM 1
#define SI_USER 0
#define SI_KERNEL 0x80

/* Scratch space for the signal event: too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct w5_signal);
} signal_scratch SEC(".maps");

/* Processes that were sent a fatal signal (tgid → signal): one that then
 * exits, even through its own handler (gunicorn workers do on SIGABRT), is
 * reported as dying of it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} signaled SEC(".maps");

static __always_inline bool fatal_signal(int sig)
{
	/* SIGINT 2, SIGQUIT 3, SIGILL 4, SIGABRT 6, SIGBUS 7, SIGFPE 8, SIGKILL 9,
	 * SIGSEGV 11, SIGTERM 15 */
	return sig == 2 || sig == 3 || sig == 4 || sig == 6 || sig == 7 || sig == 8 || sig == 9 ||
	       sig == 11 || sig == 15;
}

static __always_inline void record_socket(struct sock *sk, struct w5_held_socket *out)
{
	out->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	out->state = sock_state(sk);
	out->server_side = server_side(sk);
	read_sock_addrs(sk, &out->local, &out->remote);
	if (out->family == AF_UNIX) {
		struct unix_address *addr = BPF_CORE_READ((struct unix_sock *)sk, addr);
		if (addr)
			bpf_probe_read_kernel_str(out->path, sizeof(out->path), &addr->name[0].sun_path);
		/* Every connection a unix listener accepted carries its path: only
		 * the peer says which client (which nginx socket) is at the other end. */
		__u64 peer = (__u64)BPF_CORE_READ((struct unix_sock *)sk, peer);
		__builtin_memcpy(out->remote.addr, &peer, sizeof(peer));
	}
}

struct fd_scan {
	struct file **fds;
	__u32 max_fds;
	struct w5_signal *event;
};

/* One descriptor of the scan: a stream socket is recorded. */
static int scan_one_fd(__u32 fd, struct fd_scan *scan)
{
	if (fd >= scan->max_fds)
		return 1; /* stop */
	struct file *file = NULL;
	if (bpf_probe_read_kernel(&file, sizeof(file), &scan->fds[fd]) || !file)
		return 0;
	struct socket *sock = (struct socket *)BPF_CORE_READ(file, private_data);
	if (!sock)
		return 0;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk || (struct socket *)BPF_CORE_READ(sk, sk_socket) != sock || BPF_CORE_READ(sk, sk_type) != SOCK_STREAM)
		return 0;
	struct w5_signal *e = scan->event;
	__u32 n = e->n_sockets;
	e->n_sockets = n + 1;
	if (n < W5_HELD_SOCKETS)
		record_socket(sk, &e->sockets[n & (W5_HELD_SOCKETS - 1)]);
	return 0;
}

/* The stream sockets in a task's descriptor table (the first MAX_FDS_SCANNED
 * fds). bpf_loop, not a bounded loop: the verifier checks the body once
 * instead of 256 times, which took ~120 ms of every start. */
static __always_inline void snapshot_sockets(struct task_struct *task, struct w5_signal *e)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return;
	struct fd_scan scan = {
		.fds = BPF_CORE_READ(fdt, fd),
		.max_fds = BPF_CORE_READ(fdt, max_fds),
		.event = e,
	};
	bpf_loop(MAX_FDS_SCANNED, scan_one_fd, &scan, 0);
}

SEC("raw_tracepoint/signal_generate")
int on_signal_generate(struct bpf_raw_tracepoint_args *ctx)
{
	int sig = (int)ctx->args[0];
	if (!fatal_signal(sig))
		return 0;
	struct kernel_siginfo *info = (struct kernel_siginfo *)ctx->args[1];
	struct task_struct *target = (struct task_struct *)ctx->args[2];
	__u32 target_tgid = BPF_CORE_READ(target, tgid);
	__u32 signal = sig;
	store_or_count(&signaled, &target_tgid, &signal, BPF_ANY, W5_LOST_MAP_FULL);

	__u32 zero = 0;
	struct w5_signal *e = bpf_map_lookup_elem(&signal_scratch, &zero);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	__u64 id = bpf_get_current_pid_tgid();
	e->h.type = W5_EV_SIGNAL;
	e->h.size = sizeof(*e);
	e->h.ts_ns = bpf_ktime_get_ns();
	e->h.tgid = id >> 32;
	e->h.tid = (__u32)id;
	e->sig = sig;
	/* SEND_SIG_NOINFO (0) and SEND_SIG_PRIV (1) are markers, not pointers. */
	if ((__u64)info == 0)
		e->code = SI_USER;
	else if ((__u64)info == 1)
		e->code = SI_KERNEL;
	else
		e->code = BPF_CORE_READ(info, si_code);
	e->target_tgid = target_tgid;
	e->target_parent_tgid = BPF_CORE_READ(target, real_parent, tgid);
	e->result = (int)ctx->args[4];
	BPF_CORE_READ_STR_INTO(&e->target_comm, target, comm);
	bpf_get_current_comm(e->sender_comm, sizeof(e->sender_comm));
	snapshot_sockets(target, e);
	if (bpf_ringbuf_output(&events, e, sizeof(*e), wakeup_flags(sizeof(*e))))
		count_lost(W5_LOST_RINGBUF_FULL);
	return 0;
}

SEC("raw_tracepoint/sched_process_exit")
int on_sched_process_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	__u32 pid = BPF_CORE_READ(task, pid);
	__u32 tgid = BPF_CORE_READ(task, tgid);
	if (pid == tgid)
		remove_nginx_tgid(tgid);

	/* Only a whole process, killed by a signal or exiting after one. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	int exit_code = BPF_CORE_READ(task, exit_code);
	int sig = exit_code & 0x7f;
	__u32 *received = bpf_map_lookup_elem(&signaled, &tgid);
	if (!sig && received)
		sig = *received;
	if (received)
		bpf_map_delete_elem(&signaled, &tgid);
	if (!sig)
		return 0;

	struct w5_process_death *e = reserve_event(sizeof(*e), W5_EV_PROCESS_DEATH);
	if (!e)
		return 0;
	e->h.tgid = tgid;
	e->h.tid = pid;
	e->signal = sig;
	e->exit_code = exit_code;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	submit_event(e);
	return 0;
}

/* A raw tracepoint, not a classic one: it needs no tracefs to attach (libbpf
 * reads a classic tracepoint's id there, and tracefs is not mounted on every
 * boot). Its first argument changed with the event's fields: kernels whose
 * mark_victim records total_vm pass the victim's task, older ones its pid. */
SEC("raw_tracepoint/mark_victim")
int on_oom_mark_victim(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 pid;
	if (bpf_core_field_exists(struct trace_event_raw_mark_victim, total_vm))
		pid = BPF_CORE_READ((struct task_struct *)ctx->args[0], pid);
	else
		pid = (__u32)ctx->args[0];
	struct w5_oom_victim *e = reserve_event(sizeof(*e), W5_EV_OOM_VICTIM);
	if (!e)
		return 0;
	e->pid = pid;
	submit_event(e);
	return 0;
}
