// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Keeps nginx_tgid_bits current without polling: a process forked by a traced
 * nginx (a new worker after a reload or a crash) is traced from its first
 * instruction; a traced process that exits is forgotten (in deaths.bpf.c,
 * which owns the exit tracepoint).
 */
#include "part_of_why502.bpf.h"

SEC("raw_tracepoint/sched_process_fork")
int on_sched_process_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 child_pid = BPF_CORE_READ(child, pid);
	__u32 child_tgid = BPF_CORE_READ(child, tgid);
	__u32 parent_tgid = BPF_CORE_READ(parent, tgid);
	if (child_pid != child_tgid || !is_nginx_tgid(parent_tgid))
		return 0;
	add_nginx_tgid(child_tgid);
	note_nginx_cgroup(); /* (the parent's, which the child starts in) */

	struct w5_process_fork *e = reserve_event(sizeof(*e), W5_EV_PROCESS_FORK);
	if (!e)
		return 0;
	e->parent_tgid = parent_tgid;
	e->child_tgid = child_tgid;
	BPF_CORE_READ_STR_INTO(&e->comm, child, comm);
	submit_event(e);
	return 0;
}

/* The binaries named by --nginx-binary (filled by userspace): a process that
 * executes one is nginx whatever its command, so a fork (Angie, OpenResty…)
 * is traced from its exec as nginx is. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, W5_MAX_ADOPTED_BINARIES);
	__type(key, struct w5_binary_id);
	__type(value, __u8);
} adopted_binaries SEC(".maps");

/* Entries userspace put in adopted_binaries: while zero (no --nginx-binary),
 * an exec of the host costs no map lookup. */
__u32 adopted_binaries_count = 0;

static __always_inline bool runs_adopted_binary(const struct linux_binprm *bprm)
{
	struct w5_binary_id id = {
		.dev = BPF_CORE_READ(bprm, file, f_inode, i_sb, s_dev),
		.ino = BPF_CORE_READ(bprm, file, f_inode, i_ino),
	};
	return bpf_map_lookup_elem(&adopted_binaries, &id) != NULL;
}

/* A process named nginx (or running an adopted binary) starts, or a traced
 * one executes a new binary (the new master of a binary upgrade): it is
 * traced from now on, and userspace is told at once so it attaches the
 * uprobes to that binary without waiting for its next /proc scan. */
SEC("raw_tracepoint/sched_process_exec")
int on_sched_process_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	const struct linux_binprm *bprm = (const struct linux_binprm *)ctx->args[2];
	__u32 tgid = BPF_CORE_READ(task, tgid);
	bool traced = is_nginx_tgid(tgid);
	char comm[W5_COMM_LEN] = {};
	BPF_CORE_READ_STR_INTO(&comm, task, comm);
	bool named_nginx = comm[0] == 'n' && comm[1] == 'g' && comm[2] == 'i' && comm[3] == 'n' &&
			   comm[4] == 'x' && comm[5] == 0;
	if (!traced && (only_listed_processes || (!named_nginx && !(adopted_binaries_count && runs_adopted_binary(bprm)))))
		return 0;
	add_nginx_tgid(tgid);
	note_nginx_cgroup();
	struct w5_process_exec *e = reserve_event(sizeof(*e), W5_EV_PROCESS_EXEC);
	if (!e)
		return 0;
	e->was_traced = traced;
	__builtin_memcpy(e->comm, comm, sizeof(comm));
	submit_event_now(e);
	return 0;
}
