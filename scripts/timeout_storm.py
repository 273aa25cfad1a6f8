#!/usr/bin/env python3
"""A timeout storm on a crowded host: how far behind the kernel why502's consumer falls.

Loopback only. A proxy nginx (one worker, CPU 0) sends every request to one of
--listeners backend listeners (round robin) that never accept(): their accept
queues fill, nginx's SYNs are dropped, and every request ends in "upstream
timed out" after proxy_connect_timeout, a 504 whose cause (backlog_full) needs
the listener's state (sock_diag and /proc). Meanwhile --crowd sleeping
processes each hold --fds sockets, so that finding a listener's owners in /proc
costs what it costs on a busy host. `why502 serve -v --pid` (CPU 1, with wrk)
traces the proxy; at the end its /metrics give the consumer lag (event to
engine) and the lost events, and its log the records, checked against the 504s
nginx logged.

Usage: sudo scripts/timeout_storm.py [--seconds 30] [--crowd 2000] [--fds 16]
                                     [--listeners 16] [--why502 build/why502] [--json FILE]
Needs root, nginx and wrk (scripts/install-deps.sh --bench).
"""

import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from bench import check_host, fail, free_port, wait_for_port  # scripts/bench.py, next to this one

PR_SET_PDEATHSIG = 1


def spawn_crowd(count, fds):
    """count children that each hold fds sockets and sleep; they die with us."""
    libc = ctypes.CDLL(None, use_errno=True)
    ready_r, ready_w = os.pipe()
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            try:
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                held = [socket.socket() for _ in range(fds)]
                os.write(ready_w, b"x")
                while True:
                    signal.pause()
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(ready_w)
    got = 0
    while got < count:  # every child holds its sockets
        chunk = os.read(ready_r, count - got)
        if not chunk:
            fail("a crowd process died before it was ready")
        got += len(chunk)
    os.close(ready_r)
    return pids


def stop_crowd(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


class ProxyNginx:
    def __init__(self, workdir, port, backends):
        self.prefix = os.path.join(workdir, "proxy")
        os.makedirs(os.path.join(self.prefix, "logs"), exist_ok=True)
        self.conf = os.path.join(self.prefix, "nginx.conf")
        self.access_log = os.path.join(self.prefix, "logs", "access.log")
        servers = "".join("    server 127.0.0.1:%d max_fails=0;\n" % p for p in backends)
        with open(self.conf, "w") as f:
            f.write(
                "daemon on;\nmaster_process on;\nworker_processes 1;\nworker_cpu_affinity 1;\n"
                "pid %s/nginx.pid;\nerror_log %s/logs/error.log error;\n"
                "events { worker_connections 4096; }\n"
                "http {\n  log_format status '$status';\n  access_log %s status buffer=64k flush=1s;\n"
                "  upstream stuck {\n%s  }\n"
                "  server { listen 127.0.0.1:%d backlog=4096;\n"
                "    location / { proxy_pass http://stuck; proxy_connect_timeout 100ms;\n"
                "      proxy_read_timeout 100ms; proxy_next_upstream off; } }\n}\n"
                % (self.prefix, self.prefix, self.access_log, servers, port))
        subprocess.run(["nginx", "-p", self.prefix, "-c", self.conf], check=True)
        wait_for_port(port)

    def master_pid(self):
        with open(os.path.join(self.prefix, "nginx.pid")) as f:
            return int(f.read())

    def stop(self):
        try:
            master = self.master_pid()
        except (OSError, ValueError):
            return
        subprocess.run(["nginx", "-p", self.prefix, "-c", self.conf, "-s", "stop"], check=False)
        deadline = time.monotonic() + 10
        while os.path.exists("/proc/%d" % master) and time.monotonic() < deadline:
            time.sleep(0.05)


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return r.read().decode()


def metric(text, name):
    """{labels: value} of one metric family's samples."""
    out = {}
    for m in re.finditer(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


def lag_quantile(buckets, q):
    """The upper bound of the bucket holding the q-quantile, in ms (inf past the last)."""
    bounds = sorted((float("inf") if k == '{le="+Inf"}' else float(re.search(r'le="([^"]+)"', k).group(1)), v)
                    for k, v in buckets.items())
    total = bounds[-1][1] if bounds else 0
    for le, cumulative in bounds:
        if total and cumulative >= q * total:
            return le * 1000
    return 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--crowd", type=int, default=2000, help="sleeping processes holding sockets")
    parser.add_argument("--fds", type=int, default=16, help="sockets each crowd process holds")
    parser.add_argument("--listeners", type=int, default=16, help="backend listeners that never accept()")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--why502", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "why502"))
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    check_host(args.why502, ("nginx", "wrk", "taskset"))

    workdir = tempfile.mkdtemp(prefix="why502-storm-")
    crowd, listeners, proxy, tracer = [], [], None, None
    try:
        started = time.monotonic()
        crowd = spawn_crowd(args.crowd, args.fds)
        print("crowd: %d processes holding %d sockets each (%.1f s to start)" % (
            len(crowd), args.fds, time.monotonic() - started), flush=True)
        for _ in range(args.listeners):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(1)  # never accepted: full after two connections
            listeners.append(s)
        proxy_port, metrics_port = free_port(), free_port()
        proxy = ProxyNginx(workdir, proxy_port, [s.getsockname()[1] for s in listeners])

        records_path = os.path.join(workdir, "records.jsonl")
        stderr_path = os.path.join(workdir, "why502.err")
        tracer = subprocess.Popen(["taskset", "-c", "1", args.why502, "serve", "-v", "--listen",
                                   "127.0.0.1:%d" % metrics_port, "--log", records_path,
                                   "--pid", str(proxy.master_pid())],
                                  stdout=subprocess.DEVNULL, stderr=open(stderr_path, "w"))
        deadline = time.monotonic() + 30
        while "ready" not in open(stderr_path).read():
            if tracer.poll() is not None or time.monotonic() > deadline:
                fail("why502 was not ready: " + open(stderr_path).read().strip())
            time.sleep(0.01)

        out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c%d" % args.connections,
                              "-d%ds" % args.seconds, "http://127.0.0.1:%d/" % proxy_port],
                             capture_output=True, text=True, check=True).stdout
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        time.sleep(1.5)  # nginx's buffered access log, the last held records
        text = scrape(metrics_port)
        stopping = time.monotonic()
        tracer.send_signal(signal.SIGINT)
        try:
            tracer.wait(timeout=30)
            stop_s = time.monotonic() - stopping
        except subprocess.TimeoutExpired:
            stop_s = None  # still draining the ring buffer: killed
            tracer.kill()
            tracer.wait()
        summary = open(stderr_path).read()

        lag = metric(text, "why502_consumer_lag_seconds_bucket")
        lag_sum = sum(metric(text, "why502_consumer_lag_seconds_sum").values())
        lag_count = sum(metric(text, "why502_consumer_lag_seconds_count").values())
        lost = metric(text, "why502_events_lost_total")
        probes = metric(text, "why502_listener_probes_total")
        skipped = metric(text, "why502_listener_probes_skipped_total")
        with open(proxy.access_log) as f:
            logged = sum(1 for line in f if line.strip() == "504")
        causes = {}
        with open(records_path) as f:
            for line in f:
                r = json.loads(line)
                if r.get("type") == "gateway_error":
                    causes[r["cause"]] = causes.get(r["cause"], 0) + 1
        max_lag = re.search(r"consumer lag .* max ([\d.]+) ms", summary)
        figures = {
            "crowd": args.crowd, "fds": args.fds, "listeners": args.listeners, "seconds": args.seconds,
            "requests": requests, "logged_504": logged, "records": sum(causes.values()), "causes": causes,
            "events": lag_count,
            "lag_ms_mean": 1000 * lag_sum / lag_count if lag_count else 0,
            "lag_ms_p50": lag_quantile(lag, 0.5), "lag_ms_p99": lag_quantile(lag, 0.99),
            "lag_ms_max": float(max_lag.group(1)) if max_lag else None,
            "lost": {k: int(v) for k, v in lost.items()},
            "listener_probes": {k: int(v) for k, v in probes.items()},
            "listener_probes_skipped": {k: int(v) for k, v in skipped.items()},
            "stop_s": stop_s,
        }
        print("requests %d, 504s logged %d, records %d (%s)" % (
            requests, logged, figures["records"], ", ".join("%s %d" % kv for kv in sorted(causes.items()))))
        print("consumer lag (event to engine) over %d events: mean %.2f ms, p50 <= %g ms, p99 <= %g ms, max %s ms" % (
            lag_count, figures["lag_ms_mean"], figures["lag_ms_p50"], figures["lag_ms_p99"], figures["lag_ms_max"]))
        print("events lost: %s; listener probes: %s; skipped: %s" % (
            figures["lost"], figures["listener_probes"] or "-", figures["listener_probes_skipped"] or "-"))
        print("stopped %s after SIGINT" % ("%.2f s" % stop_s if stop_s is not None else "not within 30 s (killed)"))
        print("why502: " + " | ".join(l for l in summary.splitlines() if "gateway errors" in l or "lag" in l))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=1)
        return 0
    finally:
        if tracer and tracer.poll() is None:
            tracer.kill()
            tracer.wait()
        if proxy:
            proxy.stop()
        for s in listeners:
            s.close()
        stop_crowd(crowd)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
