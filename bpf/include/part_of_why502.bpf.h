/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Included first by every part in bpf/parts/. A part defines maps and
 * programs, so it is compiled exactly once, inside bpf/why502.bpf.c, which
 * includes the parts in the order their maps are used: compiled on its own or
 * by another object, a part would define those maps a second time.
 */
#ifndef W5_COMPILING_WHY502_OBJECT
#error "bpf/parts/*.bpf.c are parts of bpf/why502.bpf.c: build that object, never a part on its own"
#endif

#include "kernel_reads.bpf.h"
