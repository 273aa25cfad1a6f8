#!/usr/bin/env bash
# Regenerates vmlinux/vmlinux.h from the running kernel's BTF. The checked-in
# copy is only for compiling: CO-RE relocates every field access at load time.
set -euo pipefail
cd "$(dirname "$0")"
bpftool btf dump file /sys/kernel/btf/vmlinux format c > vmlinux.h.tmp
mv vmlinux.h.tmp vmlinux.h
