// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attaches the prototype (proto.bpf.c) to a cgroup v2 directory as
 * cgroup_skb/ingress and cgroup_skb/egress, says "ready" on stderr, and on
 * SIGINT or SIGTERM prints its counters as one JSON line on stdout and exits.
 * The programs are attached by links this process owns: they go when it does
 * (no bpffs pin, nothing to clean up after a crash).
 *
 * Usage: loader CGROUP_DIR [--count-all] [--stage N] [--cookie]
 *        loader --attach-all OBJECT.bpf.o   (every program where its section says; no output)
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "why502_wire.h"
#include "proto.h"
#include "proto.skel.h"

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* The sum over CPUs of a per-CPU array's u64 value at key. */
static unsigned long long per_cpu_sum(int map_fd, __u32 key, int cpus)
{
	unsigned long long values[cpus];
	unsigned long long sum = 0;
	if (bpf_map_lookup_elem(map_fd, &key, values))
		return 0;
	for (int i = 0; i < cpus; i++)
		sum += values[i];
	return sum;
}

/* Samples in every header-latency histogram (all upstreams, all CPUs), and
 * their sum in ns. */
static unsigned long long latency_samples(int map_fd, int cpus, unsigned int upstreams,
					  unsigned long long *sum_ns)
{
	struct w5_latency_histogram values[cpus];
	unsigned long long samples = 0;
	*sum_ns = 0;
	for (__u32 id = 0; id < upstreams && id < W5_MAX_LATENCY_KEYS; id++) {
		__u32 key = id * 2 + W5_LATENCY_HEADER;
		if (bpf_map_lookup_elem(map_fd, &key, values))
			continue;
		for (int c = 0; c < cpus; c++) {
			for (int b = 0; b < W5_LATENCY_BUCKETS; b++)
				samples += values[c].buckets[b];
			*sum_ns += values[c].sum_ns;
		}
	}
	return samples;
}

/* The upstreams with histograms, as "address:port" JSON strings. */
static void print_upstreams(int map_fd)
{
	struct w5_latency_key key, next;
	bool first = true;
	printf("[");
	for (void *prev = NULL; bpf_map_get_next_key(map_fd, prev, &next) == 0; prev = &key) {
		char text[INET6_ADDRSTRLEN] = "?";
		if (next.upstream.family == AF_INET || next.upstream.family == AF_INET6)
			inet_ntop(next.upstream.family, next.upstream.addr, text, sizeof(text));
		printf("%s\"%s:%u\"", first ? "" : ", ", text, next.upstream.port);
		first = false;
		key = next;
	}
	printf("]");
}

/* Loads obj and attaches each program where its section says, until a signal. */
static int attach_all(const char *path, sigset_t *stop)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "loader: cannot load %s\n", path);
		bpf_object__close(obj);
		return 1;
	}
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) {
		if (!bpf_program__attach(p)) {
			fprintf(stderr, "loader: attach %s: %s\n", bpf_program__name(p), strerror(errno));
			return 1; /* the links made so far go with the process */
		}
	}
	fprintf(stderr, "ready\n");
	int sig;
	sigwait(stop, &sig);
	printf("{}\n");
	bpf_object__close(obj);
	return 0;
}

int main(int argc, char **argv)
{
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	libbpf_set_print(print_libbpf);
	if (argc == 3 && !strcmp(argv[1], "--attach-all"))
		return attach_all(argv[2], &stop);
	bool count_all = false, by_cookie = false;
	unsigned stage = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--count-all"))
			count_all = true;
		else if (!strcmp(argv[i], "--cookie"))
			by_cookie = true;
		else if (!strcmp(argv[i], "--stage") && i + 1 < argc)
			stage = (unsigned)atoi(argv[++i]);
		else
			argc = 0;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: %s CGROUP_DIR [--count-all] [--stage N] [--cookie]\n", argv[0]);
		return 2;
	}

	int cgroup = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (cgroup < 0) {
		fprintf(stderr, "loader: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct proto_bpf *skel = proto_bpf__open();
	if (!skel) {
		fprintf(stderr, "loader: cannot open the object\n");
		return 1;
	}
	skel->rodata->count_all = count_all;
	skel->rodata->stage = stage;
	skel->rodata->key_by_cookie = by_cookie;
	int err = proto_bpf__load(skel);
	if (err) {
		fprintf(stderr, "loader: load: %s\n", strerror(-err));
		goto out;
	}
	skel->links.proto_ingress = bpf_program__attach_cgroup(skel->progs.proto_ingress, cgroup);
	if (!skel->links.proto_ingress) {
		err = -errno;
		fprintf(stderr, "loader: attach ingress: %s\n", strerror(errno));
		goto out;
	}
	skel->links.proto_egress = bpf_program__attach_cgroup(skel->progs.proto_egress, cgroup);
	if (!skel->links.proto_egress) {
		err = -errno;
		fprintf(stderr, "loader: attach egress: %s\n", strerror(errno));
		goto out;
	}
	fprintf(stderr, "ready\n");

	int sig;
	sigwait(&stop, &sig);

	int cpus = libbpf_num_possible_cpus();
	int counters = bpf_map__fd(skel->maps.counters);
	static const char *names[] = {
#define P_NAME(name, text) text,
		P_COUNTERS(P_NAME)
#undef P_NAME
	};
	printf("{");
	for (__u32 i = 0; i < P_COUNTER_MAX; i++)
		printf("\"%s\": %llu, ", names[i], per_cpu_sum(counters, i, cpus));
	unsigned long long sum_ns;
	unsigned long long samples = latency_samples(bpf_map__fd(skel->maps.latency_histograms), cpus,
						     skel->bss->next_latency_id, &sum_ns);
	printf("\"latency_samples\": %llu, \"latency_mean_us\": %.1f, \"upstreams\": ", samples,
	       samples ? sum_ns / 1000.0 / samples : 0.0);
	print_upstreams(bpf_map__fd(skel->maps.latency_ids));
	printf("}\n");
	fflush(stdout);
out:
	proto_bpf__destroy(skel);
	close(cgroup);
	return err ? 1 : 0;
}
