// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * why502's kernel side, one object: each domain lives in its own header so the
 * maps they share are defined once (see bpf/include/common.bpf.h).
 */
#include "include/common.bpf.h"
#include "deaths.bpf.h"
#include "http_status.bpf.h"
#include "nginx_uprobes.bpf.h"
#include "processes.bpf.h"
#include "tcp_evidence.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
