#!/usr/bin/env python3
"""A long 502 storm against a traced nginx holding 10k idle upstream keepalive
connections: why502's memory must stay bounded, nothing may crash, and every
502 is either reported or counted as lost.

Usage: sudo scripts/soak.py [--seconds 60] [--idle 10000] [--why502 build/why502]
Loopback only; exits 1 when a check fails. Shares its machinery with bench.py.
"""

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = os.path.join(HERE, "..", "tests", "backends")
spec = importlib.util.spec_from_file_location("bench", os.path.join(HERE, "bench.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def upstream_connections(backend_port):
    """nginx's established connections to the backend (its side of each)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", "dst", "127.0.0.1:%d" % backend_port],
                         capture_output=True, text=True, check=True).stdout
    return out.count("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--idle", type=int, default=10000)
    parser.add_argument("--why502", default=os.path.join(HERE, "..", "build", "why502"))
    parser.add_argument("--rss-limit-mib", type=float, default=64)
    args = parser.parse_args()
    if os.geteuid() != 0:
        bench.fail("run as root")
    # Clients, nginx (a client and an upstream descriptor per connection) and
    # the backend inherit this; root may raise the hard limit up to nr_open.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8 * args.idle + 1024
    if hard != resource.RLIM_INFINITY and hard < wanted:
        with open("/proc/sys/fs/nr_open") as f:
            try:
                raised = max(hard, min(wanted, int(f.read())))
                resource.setrlimit(resource.RLIMIT_NOFILE, (raised, raised))
                hard = raised
            except (ValueError, OSError):
                pass  # no CAP_SYS_RESOURCE (a container): keep the hard limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < args.idle + 1000:  # per process; two nginx workers share
        bench.fail("the descriptor limit (%d) is too low for %d connections" % (hard, args.idle))
    import tempfile
    workdir = tempfile.mkdtemp(prefix="why502-soak-")
    backend = proxy = tracer = None
    failures = []
    try:
        backend_port, proxy_port, refused_port = bench.free_port(), bench.free_port(), bench.free_port()
        # Our own backend holds the first `idle` requests until all are waiting,
        # so nginx must open that many upstream connections at once (a delaying
        # nginx backend let requests finish early and the pool stayed small).
        backend = subprocess.Popen([sys.executable, os.path.join(BACKENDS, "held.py"),
                                    "--port", str(backend_port), "--hold", str(args.idle)],
                                   stdout=subprocess.PIPE, text=True)
        if not backend.stdout.readline().startswith("ready"):
            bench.fail("the held backend did not start")
        access_log = os.path.join(workdir, "proxy", "logs", "access.log")
        proxy = bench.Nginx(workdir, "proxy", 0,
                            "  access_log %s status buffer=64k flush=1s;\n"
                            "  upstream pool { server 127.0.0.1:%d; keepalive %d; keepalive_timeout 600s; }\n"
                            "  server { listen 127.0.0.1:%d backlog=4096;\n"
                            "    location /keepalive { proxy_pass http://pool; proxy_http_version 1.1;\n"
                            "      proxy_set_header Connection \"\"; }\n"
                            "    location /storm { proxy_pass http://127.0.0.1:%d; }\n  }\n"
                            % (access_log, backend_port, args.idle, proxy_port, refused_port),
                            worker_connections=4 * args.idle, workers=2)  # a client and an upstream
                            # descriptor per pooled connection: two workers stay under 20k each
        bench.wait_for_port(proxy_port)
        tracer = bench.Why502(args.why502, "serve", workdir, proxy.master_pid())

        # Open the idle pool: that many concurrent requests leave that many
        # upstream connections cached by nginx.
        answered = subprocess.run([sys.executable, os.path.join(BACKENDS, "concurrent_get.py"), "127.0.0.1",
                                   str(proxy_port), "/keepalive", str(args.idle)],
                                  capture_output=True, text=True, check=True).stdout.strip()
        print("soak: %s of %d concurrent requests with 200 (backend: %s)" % (
            answered, args.idle, backend.stdout.readline().strip()), flush=True)
        pooled_before = upstream_connections(backend_port)
        print("soak: %d idle upstream connections in nginx's pool" % pooled_before, flush=True)
        if pooled_before < args.idle:
            failures.append("only %d of %d idle upstream connections were opened" % (pooled_before, args.idle))

        time.sleep(1.2)
        logged_before = bench.count_status(access_log, "502")
        samples = []
        storm = subprocess.Popen(["taskset", "-c", "1", "wrk", "-t1", "-c32", "-d%ds" % args.seconds,
                                  "http://127.0.0.1:%d/storm" % proxy_port], stdout=subprocess.PIPE, text=True)
        while storm.poll() is None:
            samples.append(bench.rss_bytes(tracer.pid()) / 2**20)
            if tracer.proc.poll() is not None:
                failures.append("why502 exited during the storm")
                break
            time.sleep(1)
        storm.wait()
        time.sleep(1.2)
        logged = bench.count_status(access_log, "502") - logged_before
        records, lost = tracer.stop()
        with open(tracer.stderr_path) as f:
            print("soak: " + (f.read().strip().splitlines() or [""])[-1], flush=True)
        tracer = None
        print("soak: %d s storm, %d 502s logged, %d records, %d events lost; why502 RSS %.1f..%.1f MiB" % (
            args.seconds, logged, records, lost, min(samples or [0]), max(samples or [0])), flush=True)
        if max(samples or [0]) > args.rss_limit_mib:
            failures.append("RSS reached %.1f MiB (limit %.0f)" % (max(samples), args.rss_limit_mib))
        if records + max(lost, 0) < logged:
            failures.append("%d 502s neither reported nor counted as lost" % (logged - records - max(lost, 0)))
        pooled_after = upstream_connections(backend_port)
        print("soak: %d idle upstream connections still pooled after the storm" % pooled_after, flush=True)
        if pooled_after < pooled_before:
            failures.append("the idle pool shrank during the storm (%d -> %d)" % (pooled_before, pooled_after))
    finally:
        if tracer:
            tracer.stop()
        if proxy:
            proxy.stop()
        if backend:
            backend.terminate()
            backend.wait()
        if failures:
            subprocess.run(["tail", "-3", os.path.join(workdir, "proxy", "logs", "error.log")])
        subprocess.run(["rm", "-rf", workdir])
    for f in failures:
        print("soak: FAIL: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
