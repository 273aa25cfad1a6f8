#!/usr/bin/env python3
"""A long 502 storm against a traced nginx holding 10k idle upstream keepalive
connections: why502's memory must stay bounded, nothing may crash, and every
502 is either reported or counted as lost.

Usage: sudo scripts/soak.py [--seconds 60] [--idle 10000] [--why502 build/why502]
Loopback only; exits 1 when a check fails. Shares its machinery with bench.py.
"""

import argparse
import asyncio
import importlib.util
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench", os.path.join(HERE, "bench.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


async def concurrent_requests(port, path, n):
    """n requests at once, one connection each, all waiting together: nginx
    needs n upstream connections, and keeps them idle in its pool after."""
    async def one():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(("GET %s HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n" % path).encode())
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 60)
            writer.close()
            return status.startswith(b"HTTP/1.1 200")
        except (OSError, asyncio.TimeoutError):
            return False
    results = await asyncio.gather(*(one() for _ in range(n)))
    return sum(results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--idle", type=int, default=10000)
    parser.add_argument("--why502", default=os.path.join(HERE, "..", "build", "why502"))
    parser.add_argument("--rss-limit-mib", type=float, default=64)
    args = parser.parse_args()
    if os.geteuid() != 0:
        bench.fail("run as root")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < args.idle + 1000:
        bench.fail("the descriptor limit (%d) is too low for %d connections" % (hard, args.idle))
    import tempfile
    workdir = tempfile.mkdtemp(prefix="why502-soak-")
    backend = proxy = tracer = None
    failures = []
    try:
        backend_port, proxy_port, refused_port = bench.free_port(), bench.free_port(), bench.free_port()
        backend = bench.Nginx(workdir, "backend", 1,
                              # Requests are held back (limit_req delays the burst) so that
                              # nginx needs one upstream connection per client at once.
                              "  access_log off;\n"
                              "  limit_req_zone $server_port zone=slow:1m rate=2000r/s;\n"
                              "  server { listen 127.0.0.1:%d backlog=16384;\n"
                              "    keepalive_requests 1000000; keepalive_timeout 600s;\n"
                              "    location / { limit_req zone=slow burst=100000; return 200 \"ok\\n\"; } }\n"
                              % backend_port,
                              worker_connections=4 * args.idle)
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
        bench.wait_for_port(backend_port)
        bench.wait_for_port(proxy_port)
        tracer = bench.Why502(args.why502, "serve", workdir, proxy.master_pid())

        # Open the idle pool: that many concurrent requests leave that many
        # upstream connections cached by nginx.
        answered = asyncio.run(concurrent_requests(proxy_port, "/keepalive", args.idle))
        print("soak: %d of %d concurrent requests answered 200" % (answered, args.idle), flush=True)
        established = subprocess.run(["ss", "-Htn", "state", "established", "dst", "127.0.0.1:%d" % backend_port],
                                     capture_output=True, text=True).stdout.count("\n")
        print("soak: %d upstream connections to the backend" % established, flush=True)

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
        tracer = None
        print("soak: %d s storm, %d 502s logged, %d records, %d events lost; why502 RSS %.1f..%.1f MiB" % (
            args.seconds, logged, records, lost, min(samples or [0]), max(samples or [0])), flush=True)
        if max(samples or [0]) > args.rss_limit_mib:
            failures.append("RSS reached %.1f MiB (limit %.0f)" % (max(samples), args.rss_limit_mib))
        if records + max(lost, 0) < logged:
            failures.append("%d 502s neither reported nor counted as lost" % (logged - records - max(lost, 0)))
        if established < args.idle * 0.9:
            print("soak: warning: only %d of %d idle upstream connections were opened" % (established, args.idle))
    finally:
        if tracer:
            tracer.stop()
        if proxy:
            proxy.stop()
        if backend:
            backend.stop()
        if failures:
            for name in ("proxy", "backend"):
                subprocess.run(["tail", "-3", os.path.join(workdir, name, "logs", "error.log")])
        subprocess.run(["rm", "-rf", workdir])
    for f in failures:
        print("soak: FAIL: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
