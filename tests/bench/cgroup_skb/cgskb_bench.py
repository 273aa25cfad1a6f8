#!/usr/bin/env python3
"""The full hook set against a cgroup_skb prototype of it, on scripts/bench.py's workloads.

A measurement prototype, not part of why502 (see README.md here). Loopback only.
The proxy nginx (one worker on CPU 0) is started inside a cgroup v2 directory
this script makes under /sys/fs/cgroup/unified; the backend nginx (CPU 1) and
wrk (CPU 1) stay outside it. Rounds alternate, in an order that rotates, the modes:

  off    untraced
  control       untraced again, compared with off like the others: the noise floor (--modes)
  full   build/why502 trace --pid <proxy master>: the real full hook set
  proto  the prototype (proto.bpf.c) attached to the proxy's cgroup
  protoN the prototype returning early at stage N (--modes; see `stage` in proto.bpf.c)
  proto-cookie  the prototype naming sockets by cookie (--modes)
  tpfloor       programs that return at once on the full set's two tracepoints (--modes)

Per run: wrk's throughput, BPF ns and runs per request per program (bpf_stats,
only the programs of the tracer this run started), the nginx worker's on-CPU ns
per request, the backend worker's, and both CPUs' busy time per request
(/proc/stat: the prototype's ingress runs happen in the softirq of the sender,
wrk or the backend, on CPU 1). --check instead runs the coverage checks: what
the prototype counted against what nginx's access log shows.

Usage: flock /tmp/why502-bench.lock tests/bench/cgroup_skb/cgskb_bench.py \
           [--rounds 10] [--seconds 3] [--workloads keepalive,newconn] [--json FILE]
       flock /tmp/why502-bench.lock tests/bench/cgroup_skb/cgskb_bench.py --check
       tests/bench/cgroup_skb/cgskb_bench.py --probe-helpers
Needs root, nginx, wrk, bpftool, clang, cc and libbpf-dev; builds into build/cgroup_skb/.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.dont_write_bytecode = True  # no __pycache__ left in scripts/
import bench  # noqa: E402  (scripts/bench.py: Nginx, wrk, schedstat, bpf_stats)

CGROUP_ROOT = "/sys/fs/cgroup/unified"
MODES = ("off", "full", "proto")
BUILD = os.path.join(ROOT, "build", "cgroup_skb")


def build():
    """Compiles proto.bpf.c, its skeleton, the loader and the helper probe into BUILD."""
    os.makedirs(BUILD, exist_ok=True)
    bpf_cflags = ["-g", "-O2", "-mcpu=v3", "-Wall", "-target", "bpf", "-D__TARGET_ARCH_x86",
                  "-I" + os.path.join(ROOT, "bpf", "include"), "-I" + os.path.join(ROOT, "vmlinux"), "-I" + HERE]
    steps = [
        ["clang"] + bpf_cflags + ["-c", os.path.join(HERE, "proto.bpf.c"), "-o", os.path.join(BUILD, "proto.bpf.o")],
        ["clang"] + bpf_cflags + ["-c", os.path.join(HERE, "helpers_probe.bpf.c"),
                                  "-o", os.path.join(BUILD, "helpers_probe.bpf.o")],
        ["clang"] + bpf_cflags + ["-c", os.path.join(HERE, "tracepoint_floor.bpf.c"),
                                  "-o", os.path.join(BUILD, "tracepoint_floor.bpf.o")],
        ["sh", "-c", "bpftool gen skeleton %s name proto_bpf > %s.tmp && mv %s.tmp %s" % (
            os.path.join(BUILD, "proto.bpf.o"), *[os.path.join(BUILD, "proto.skel.h")] * 3)],
        ["cc", "-O2", "-Wall", "-Wextra", "-I" + HERE, "-I" + BUILD, "-I" + os.path.join(ROOT, "bpf", "include"),
         "-o", os.path.join(BUILD, "loader"),
         os.path.join(HERE, "loader.c"), "-lbpf"],
        ["cc", "-O2", "-Wall", "-o", os.path.join(BUILD, "probe_helpers"), os.path.join(HERE, "probe_helpers.c"),
         "-lbpf"],
    ]
    for step in steps:
        subprocess.run(step, check=True)


class Cgroup:
    """A cgroup v2 directory of ours; close() empties it (killing, by pid, what
    is left of the processes we put in it) and removes it."""

    def __init__(self, name):
        if not os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.procs")):
            bench.fail("no cgroup v2 hierarchy at %s" % CGROUP_ROOT)
        self.path = os.path.join(CGROUP_ROOT, name)
        os.mkdir(self.path)

    def pids(self):
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def holds(self, pid):
        try:
            with open("/proc/%d/cgroup" % pid) as f:
                return any(line.startswith("0::") and line.strip()[3:] == self.path[len(CGROUP_ROOT):]
                           for line in f)
        except OSError:
            return False

    def close(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.05)
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)
        print("cgskb: could not remove %s" % self.path, file=sys.stderr)


def nginx_in(cgroup, workdir):
    """A wrapper that runs nginx inside cgroup: its listening sockets, and so the
    client sockets accepted from them, belong to that cgroup from the start."""
    path = os.path.join(workdir, "nginx-in-cgroup")
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho $$ > %s/cgroup.procs || exit 1\nexec nginx \"$@\"\n" % cgroup.path)
    os.chmod(path, 0o755)
    return path


class Prototype:
    """The loader attached to a cgroup until stop(), which returns its counters."""

    running = set()

    def __init__(self, cgroup, workdir, count_all=False, stage=0, by_cookie=False, attach_all=None):
        self.err_path = os.path.join(workdir, "loader.err")
        argv = ["taskset", "-c", "1", os.path.join(BUILD, "loader")]
        if attach_all:
            argv += ["--attach-all", os.path.join(BUILD, attach_all)]
        else:
            argv += [cgroup.path, "--stage", str(stage)]
        if count_all:
            argv.append("--count-all")
        if by_cookie:
            argv.append("--cookie")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(self.err_path, "w"), text=True)
        Prototype.running.add(self.proc)
        deadline = time.monotonic() + 30
        while True:
            with open(self.err_path) as f:
                text = f.read()
            if "ready" in text:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                bench.fail("the loader did not attach: " + text.strip())
            time.sleep(0.005)

    def pid(self):
        return self.proc.pid

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=30)
        Prototype.running.discard(self.proc)
        return json.loads(out)


def prog_ids_of(pid):
    """The ids of the BPF programs process pid holds (a program's or a link's
    fd says prog_id in its fdinfo): other tracers on the host are not counted."""
    ids = set()
    fd_dir = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fd_dir):
        try:
            with open(os.path.join(fd_dir, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def programs_of(pid):
    """id → (name, run_time_ns, run_cnt) of the BPF programs process pid holds."""
    ids = prog_ids_of(pid)
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return {p["id"]: (p.get("name", "?"), p.get("run_time_ns", 0), p.get("run_cnt", 0))
            for p in json.loads(out or "[]") if p["id"] in ids}


def start_proxies(workdir, cgroup, fastcgi_port=0, h2_port=0):
    backend_port, proxy_port, refused_port = bench.free_port(), bench.free_port(), bench.free_port()
    unix_path = os.path.join(workdir, "backend.sock")
    backend = bench.Nginx(workdir, "backend", 1,
                          "  access_log off;\n  server { listen 127.0.0.1:%d backlog=4096; listen unix:%s;\n"
                          "    keepalive_requests 100000;\n"
                          "    location / { return 200 \"ok\\n\"; }\n"
                          "    location /bad { return 502 \"bad\\n\"; } }\n" % (backend_port, unix_path))
    access_log = os.path.join(workdir, "proxy", "logs", "access.log")
    proxy = bench.Nginx(workdir, "proxy", 0,
                        "  access_log %s status buffer=64k flush=1s;\n"
                        "  upstream pool { server 127.0.0.1:%d; keepalive 64; }\n"
                        "  server { listen 127.0.0.1:%d backlog=4096; keepalive_requests 100000;\n"
                        "    location /keepalive { proxy_pass http://pool; proxy_http_version 1.1;\n"
                        "      proxy_set_header Connection \"\"; }\n"
                        "    location /bad { proxy_pass http://pool; proxy_http_version 1.1;\n"
                        "      proxy_set_header Connection \"\"; }\n"
                        "    location /newconn { proxy_pass http://127.0.0.1:%d; }\n"
                        "    location /storm { proxy_pass http://127.0.0.1:%d; }\n"
                        "    location /unix-bad { proxy_pass http://unix:%s:/bad; }\n"
                        "    location /fastcgi-bad { fastcgi_pass 127.0.0.1:%d; }\n"
                        "    location /grpc-bad { grpc_pass grpc://127.0.0.1:%d; }\n  }\n"
                        % (access_log, backend_port, proxy_port, backend_port, refused_port, unix_path,
                           fastcgi_port or refused_port, h2_port or refused_port),
                        binary=nginx_in(cgroup, workdir) if cgroup else "nginx")
    bench.wait_for_port(backend_port)
    bench.wait_for_port(proxy_port)
    return backend, proxy, proxy_port, access_log


def busy_ns():
    """CPU time both CPUs spent on anything but idle and iowait (/proc/stat), in ns."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user..steal, less idle and iowait
    return busy * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def one_run(mode, args, workdir, cgroup, proxy, backend, url):
    tracer = None
    if mode == "full":
        tracer = bench.Why502(args.why502, "trace", workdir, proxy.master_pid())
    elif mode == "tpfloor":
        tracer = Prototype(cgroup, workdir, attach_all="tracepoint_floor.bpf.o")
    elif mode == "proto-cookie":
        tracer = Prototype(cgroup, workdir, by_cookie=True)
    elif mode.startswith("proto"):
        tracer = Prototype(cgroup, workdir, stage=int(mode[5:] or 0))
    worker, backend_worker = proxy.worker_pid(), backend.worker_pid()
    before = programs_of(tracer.pid()) if tracer else {}
    cpu_worker, cpu_backend, cpu_host = bench.on_cpu_ns(worker), bench.on_cpu_ns(backend_worker), busy_ns()
    rps, requests, p99 = bench.run_wrk(url, args.seconds, args.connections)
    cpu_worker = bench.on_cpu_ns(worker) - cpu_worker
    cpu_backend = bench.on_cpu_ns(backend_worker) - cpu_backend
    cpu_host = busy_ns() - cpu_host
    after = programs_of(tracer.pid()) if tracer else {}
    n = max(requests, 1)
    per_prog = {}
    for pid_, (name, t, c) in after.items():
        _, t0, c0 = before.get(pid_, (name, 0, 0))
        entry = per_prog.setdefault(name, {"ns_per_req": 0.0, "runs_per_req": 0.0})
        entry["ns_per_req"] += (t - t0) / n
        entry["runs_per_req"] += (c - c0) / n
    row = {"mode": mode, "rps": rps, "requests": requests, "p99_ms": p99,
           "worker_ns_per_req": cpu_worker / n, "backend_ns_per_req": cpu_backend / n,
           "host_ns_per_req": cpu_host / n,
           "bpf": {k: v for k, v in per_prog.items() if v["runs_per_req"] > 0},
           "bpf_ns_per_req": sum(v["ns_per_req"] for v in per_prog.values())}
    if mode == "full":
        tracer.stop()
    elif tracer:
        row["counters"] = tracer.stop()
    return row


def summarise(rows_by_mode):
    s = {}
    off = rows_by_mode["off"]
    for mode, rows in rows_by_mode.items():
        pairs = list(zip(off, rows))
        names = sorted({n for r in rows for n in r["bpf"]})
        s[mode] = {
            "rps_median": bench.median([r["rps"] for r in rows]),
            "rps_spread": bench.spread([r["rps"] for r in rows]),
            "throughput_ratio": bench.median([b["rps"] / a["rps"] for a, b in pairs]),
            "p99_ratio": bench.median([b["p99_ms"] / a["p99_ms"] for a, b in pairs if a["p99_ms"] > 0]),
            "worker_ns_per_req": bench.median([r["worker_ns_per_req"] for r in rows]),
            "worker_added_ns_per_req": bench.median([b["worker_ns_per_req"] - a["worker_ns_per_req"]
                                                     for a, b in pairs]),
            "backend_ns_per_req": bench.median([r["backend_ns_per_req"] for r in rows]),
            "host_ns_per_req": bench.median([r["host_ns_per_req"] for r in rows]),
            "host_added_ns_per_req": bench.median([b["host_ns_per_req"] - a["host_ns_per_req"] for a, b in pairs]),
            "bpf_ns_per_req": bench.median([r["bpf_ns_per_req"] for r in rows]),
            "bpf_ns_by_program": {n: bench.median([r["bpf"].get(n, {}).get("ns_per_req", 0) for r in rows])
                                  for n in names},
            "bpf_runs_by_program": {n: bench.median([r["bpf"].get(n, {}).get("runs_per_req", 0) for r in rows])
                                    for n in names},
        }
    return s


def print_summary(workload, s):
    print("\n== %s (medians over rounds; ratios against the untraced run of the same round) ==" % workload)
    for mode, m in s.items():
        print("%-5s %7.0f req/s (%s)  throughput x%.3f  p99 x%.3f  worker %.0f ns/req (%+.0f)  backend %.0f ns/req"
              "  both CPUs %.0f ns/req (%+.0f)  BPF %.0f ns/req" % (
                  mode, m["rps_median"], m["rps_spread"], m["throughput_ratio"], m["p99_ratio"],
                  m["worker_ns_per_req"], m["worker_added_ns_per_req"], m["backend_ns_per_req"],
                  m["host_ns_per_req"], m["host_added_ns_per_req"], m["bpf_ns_per_req"]))
        for n, v in m["bpf_ns_by_program"].items():
            print("        %-22s %6.0f ns/req  %5.2f runs/req" % (n, v, m["bpf_runs_by_program"][n]))


def measure(args, workdir, cgroup):
    backend, proxy, proxy_port, _ = start_proxies(workdir, cgroup)
    try:
        if not (cgroup.holds(proxy.master_pid()) and cgroup.holds(proxy.worker_pid())):
            bench.fail("the proxy nginx is not in %s" % cgroup.path)
        if cgroup.holds(backend.worker_pid()):
            bench.fail("the backend nginx is in the proxy's cgroup")
        results = {}
        for w in args.workloads.split(","):
            url = "http://127.0.0.1:%d/%s" % (proxy_port, w)
            bench.run_wrk(url, 1, args.connections)  # warm up
            modes = tuple(args.modes.split(","))
            rows = {m: [] for m in modes}
            for r in range(args.rounds):
                order = modes[r % len(modes):] + modes[:r % len(modes)]
                if r % 2:
                    order = tuple(reversed(order))
                for mode in order:
                    row = one_run(mode, args, workdir, cgroup, proxy, backend, url)
                    rows[mode].append(row)
                    print("%-9s round %2d %-5s %8.0f req/s  worker %6.0f ns/req  BPF %5.0f ns/req  %s" % (
                        w, r, mode, row["rps"], row["worker_ns_per_req"], row["bpf_ns_per_req"],
                        " ".join("%s %.0f/%.2f" % (n, v["ns_per_req"], v["runs_per_req"])
                                 for n, v in sorted(row["bpf"].items()))), flush=True)
            summary = summarise(rows)
            print_summary(w, summary)
            results[w] = {"summary": summary, "rounds": rows}
        return results
    finally:
        proxy.stop()
        backend.stop()


def logged(access_log, status):
    time.sleep(1.3)  # nginx flushes its buffered access log every second
    return bench.count_status(access_log, status)


class StatusBackends:
    running = []  # killed on the way out


def start_status_backend(proto, workdir):
    """status_backend.py answering 502 over proto, on CPU 1; returns (process, port)."""
    port = bench.free_port()
    proc = subprocess.Popen(["taskset", "-c", "1", sys.executable, os.path.join(HERE, "status_backend.py"),
                             "--proto", proto, "--port", str(port)], stdout=subprocess.PIPE, text=True)
    StatusBackends.running.append(proc)
    if proc.stdout.readline().strip() != "ready":
        bench.fail("status_backend.py --proto %s did not start" % proto)
    return port


def check(args, workdir, cgroup):
    """What the prototype counted against nginx's access log, per scenario."""
    fastcgi_port, h2_port = start_status_backend("fastcgi", workdir), start_status_backend("h2", workdir)
    backend, proxy, proxy_port, access_log = start_proxies(workdir, cgroup, fastcgi_port, h2_port)
    moved = None
    ok = True
    try:
        # name, status logged, path, wrk connections, and what the prototype should count, in
        # terms of n (requests logged with that status) and closed (499s: wrk hung up at its
        # end, after nginx had read the upstream's answer). None: not compared.
        everything = lambda n, c: {"armed": n + c, "disarmed": n + c, "upstream_status": n + c,
                                   "latency_samples": n + c, "client_status": n}
        scenarios = (
            ("keepalive", "200", "/keepalive", args.connections, lambda n, c: dict(everything(n, c), upstream_5xx=0, client_5xx=0)),
            ("newconn", "200", "/newconn", args.connections, lambda n, c: dict(everything(n, c), upstream_5xx=0, client_5xx=0)),
            ("upstream's own 502", "502", "/bad", args.connections,
             lambda n, c: dict(everything(n, c), upstream_5xx=n + c, client_5xx=n)),
            ("nginx's own 502 (refused)", "502", "/storm", args.connections,
             lambda n, c: {"armed": 0, "upstream_5xx": 0, "client_status": n, "client_5xx": n}),
            # A unix-socket upstream has no skb on a cgroup hook: its 502 is seen only as nginx's response.
            ("unix-socket upstream's 502", "502", "/unix-bad", args.connections,
             lambda n, c: {"armed": 0, "upstream_5xx": 0, "client_status": n, "client_5xx": n}),
            ("FastCGI (TCP) upstream's 502", "502", "/fastcgi-bad", 4,
             lambda n, c: dict(everything(n, c), upstream_5xx=n + c, client_5xx=n)),
            # HTTP/2: nginx's SETTINGS ACKs and the like are sent too; arms are not compared.
            ("HTTP/2 (grpc_pass) upstream's 502", "502", "/grpc-bad", 4,
             lambda n, c: {"disarmed": n + c, "upstream_status": n + c, "upstream_5xx": n + c, "client_5xx": n}),
        )
        for name, status, path, connections, want in scenarios:
            before = logged(access_log, status)
            closed_before = bench.count_status(access_log, "499")
            proto = Prototype(cgroup, workdir, count_all=True, by_cookie=args.cookie)
            bench.run_wrk("http://127.0.0.1:%d%s" % (proxy_port, path), 2, connections)
            time.sleep(0.2)
            c = proto.stop()
            n = logged(access_log, status) - before
            closed = bench.count_status(access_log, "499") - closed_before
            print("%-34s nginx logged %7d x %s, %d x 499 | prototype: %s" % (name, n, status, closed, json.dumps(c)))
            for key, value in want(n, closed).items():
                if c[key] != value:
                    print("    MISMATCH %s: %d, expected %d" % (key, c[key], value))
                    ok = False
        # The same proxy moved into the cgroup after it started: its listening
        # sockets (and so its client sockets) keep the cgroup they were made in.
        moved = start_moved_proxy(workdir, cgroup)
        before = logged(moved[2], "200")
        proto = Prototype(cgroup, workdir, count_all=True, by_cookie=args.cookie)
        bench.run_wrk("http://127.0.0.1:%d/keepalive" % moved[1], 2, args.connections)
        time.sleep(0.2)
        c = proto.stop()
        print("%-34s nginx logged %7d x 200 | prototype: %s" % ("moved in after start", logged(moved[2], "200") - before,
                                                                 json.dumps(c)))
        if c["client_status"] != 0 or c["armed"] == 0:
            print("    UNEXPECTED: client sockets of a moved nginx seen, or its new upstream connections not")
            ok = False
    finally:
        if moved:
            moved[0].stop()
        proxy.stop()
        backend.stop()
    print("check: " + ("every count as expected" if ok else "MISMATCHES above"))
    return ok


def start_moved_proxy(workdir, cgroup):
    """A second proxy, started outside the cgroup and then moved into it (master and worker)."""
    backend_port = bench.free_port()
    port = bench.free_port()
    access_log = os.path.join(workdir, "moved", "logs", "access.log")
    os.makedirs(os.path.dirname(access_log), exist_ok=True)
    backend = bench.Nginx(workdir, "moved-backend", 1,
                          "  access_log off;\n  server { listen 127.0.0.1:%d; location / { return 200 \"ok\\n\"; } }\n"
                          % backend_port)
    proxy = bench.Nginx(workdir, "moved", 0,
                        "  access_log %s status buffer=64k flush=1s;\n"
                        "  upstream pool { server 127.0.0.1:%d; keepalive 64; }\n"
                        "  server { listen 127.0.0.1:%d; location /keepalive { proxy_pass http://pool;\n"
                        "    proxy_http_version 1.1; proxy_set_header Connection \"\"; } }\n"
                        % (access_log, backend_port, port))
    bench.wait_for_port(port)
    for pid in (proxy.master_pid(), proxy.worker_pid()):
        with open(os.path.join(cgroup.path, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    class Both:
        def stop(self):
            proxy.stop()
            backend.stop()
    return Both(), port, access_log


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workloads", default="keepalive")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="off, full, proto; also control, protoN (returning early at stage N), proto-cookie, tpfloor")
    parser.add_argument("--why502", default=os.path.join(ROOT, "build", "why502"))
    parser.add_argument("--json", help="also write every measurement here")
    parser.add_argument("--check", action="store_true", help="run the coverage checks instead of timing")
    parser.add_argument("--probe-helpers", action="store_true",
                        help="only print which helpers the verifier takes in a cgroup_skb program")
    parser.add_argument("--cookie", action="store_true", help="--check the prototype naming sockets by cookie")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        build()
    if args.probe_helpers:
        return subprocess.run([os.path.join(BUILD, "probe_helpers"), os.path.join(BUILD, "helpers_probe.bpf.o")]).returncode
    bench.check_host(args.why502, ("nginx", "wrk", "bpftool", "taskset"))
    modes = args.modes.split(",")
    if "off" not in modes or any(m not in ("off", "control", "full", "tpfloor") and not m.startswith("proto")
                                 for m in modes):
        bench.fail("--modes: off, control, full, proto, protoN, proto-cookie, tpfloor")

    workdir = tempfile.mkdtemp(prefix="why502-cgskb-")
    stats_before = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    cgroup = None
    try:
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
        cgroup = Cgroup("why502-cgskb-%d" % os.getpid())
        if args.check:
            return 0 if check(args, workdir, cgroup) else 1
        results = measure(args, workdir, cgroup)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        return 0
    finally:
        for proc in list(Prototype.running) + list(bench.Why502.running) + StatusBackends.running:
            proc.kill()
            proc.wait()
        if cgroup:
            cgroup.close()
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=" + stats_before], check=False)
        subprocess.run(["rm", "-rf", workdir], check=False)


if __name__ == "__main__":
    sys.exit(main())
