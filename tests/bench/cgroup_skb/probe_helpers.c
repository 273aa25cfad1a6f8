// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Loads each program of a BPF object on its own and prints what the verifier
 * said: "ok NAME" or "refused NAME: <the verifier's last lines>". Nothing is
 * attached. Usage: probe_helpers helpers_probe.bpf.o
 */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>

static char log_buf[1 << 20];

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level, (void)fmt, (void)args;
	return 0;
}

/* The last n lines of s, on one line. */
static void print_tail(const char *s, int n)
{
	const char *end = s + strlen(s);
	while (end > s && end[-1] == '\n')
		end--;
	const char *p = end;
	for (int lines = 0; p > s; p--)
		if (p[-1] == '\n' && ++lines == n)
			break;
	for (; p < end; p++)
		putchar(*p == '\n' ? '|' : *p);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OBJECT.bpf.o\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "cannot open %s\n", argv[1]);
		return 1;
	}
	int count = 0;
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) count++;
	bpf_object__close(obj);

	for (int i = 0; i < count; i++) {
		obj = bpf_object__open_file(argv[1], NULL);
		if (!obj)
			return 1;
		int j = 0;
		const char *name = NULL;
		bpf_object__for_each_program(p, obj) {
			bool mine = j++ == i;
			bpf_program__set_autoload(p, mine);
			if (mine) {
				name = bpf_program__name(p);
				log_buf[0] = 0;
				bpf_program__set_log_buf(p, log_buf, sizeof(log_buf));
				bpf_program__set_log_level(p, 1);
			}
		}
		int err = bpf_object__load(obj);
		if (err == 0) {
			printf("ok %s\n", name);
		} else {
			printf("refused %s (%s): ", name, strerror(-err));
			print_tail(log_buf, 3);
			putchar('\n');
		}
		bpf_object__close(obj);
	}
	return 0;
}
