#!/usr/bin/env python3
"""What why502 costs a real nginx: untraced and traced side by side, in one run.

Loopback only. One proxy nginx worker pinned to CPU 0; wrk, the backend nginx
and why502 share CPU 1. Three workloads:

  keepalive  proxy with an upstream keepalive pool
  newconn    proxy that opens an upstream connection per request
  storm      every request refused by the upstream: a 502 storm

Each round runs every mode once — off (untraced), trace, serve, lean (serve --lean),
and on request control (untraced again, compared with off like a traced mode, to show
the noise floor) — in an order that rotates
from round to round, so the machine's drift cancels out; the report gives
medians, the spread (min..max) and the traced/untraced ratios. serve and lean
run at nice 10, as the packaged systemd unit runs serve; trace at nice 0, as an
operator runs it. Per traced run:
on-CPU time of the nginx worker and of why502 per request (schedstat), BPF run
time per program per request (kernel.bpf_stats_enabled), uprobe hits per
request, and for the storm: records reported / 502s nginx logged and events
lost. Also: time to "ready", resident memory and BPF map memory.

Usage: sudo scripts/bench.py [--rounds 10] [--seconds 3] [--why502 build/why502]
                             [--workloads keepalive,newconn,storm] [--json FILE]
                             [--modes off,trace,serve,lean[,control]] [--bpf-stats off]

bpf_stats has a price of its own: the kernel reads the clock twice around
every program run, which on this VM's paravirtual clock costs the nginx
worker about 1.3 us per 502 in the storm. With --bpf-stats off it stays off
(as in production): throughput and CPU are then why502's alone, and the BPF
columns are not measured.
Needs root, nginx, wrk and bpftool (scripts/install-deps.sh --bench).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

MODES = ("off", "trace", "serve", "lean", "control")
# control: untraced again, compared with off like a traced mode: the noise floor.
UNTRACED_MODES = ("off", "control")
TRACED_MODES = MODES[1:]
WORKLOADS = ("keepalive", "newconn", "storm")
UPROBE_PROGRAMS = ("ngx_log_error_core_entry", "ngx_special_response_entry")


def fail(message):
    print("bench: " + message, file=sys.stderr)
    sys.exit(2)


def check_host(why502, tools):
    """What every load script needs: root, the tools, a built why502, two CPUs."""
    if os.geteuid() != 0:
        fail("run as root (why502 needs CAP_BPF and CAP_PERFMON; bpf_stats needs sysctl)")
    for tool in tools:
        if not shutil.which(tool):
            fail("%s is not installed (scripts/install-deps.sh --bench)" % tool)
    if not os.access(why502, os.X_OK):
        fail("%s is not built (scripts/build.sh)" % why502)
    if os.cpu_count() < 2:
        fail("needs 2 CPUs: nginx on one, the load and why502 on the other")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    fail("nothing listens on port %d" % port)


class Nginx:
    """One nginx master with one worker pinned to a CPU, in its own prefix."""

    def __init__(self, workdir, name, cpu, servers, worker_connections=4096, workers=1, binary="nginx"):
        self.prefix = os.path.join(workdir, name)
        self.binary = binary
        os.makedirs(os.path.join(self.prefix, "logs"), exist_ok=True)
        self.conf = os.path.join(self.prefix, "nginx.conf")
        mask = " ".join(["1" + "0" * cpu] * workers)
        with open(self.conf, "w") as f:
            f.write(
                "daemon on;\nmaster_process on;\nworker_processes %d;\n"
                "worker_cpu_affinity %s;\npid %s/nginx.pid;\n"
                "worker_rlimit_nofile %d;\n"
                "error_log %s/logs/error.log error;\n"
                "events { worker_connections %d; }\n"
                "http {\n  log_format status '$status';\n%s}\n"
                % (workers, mask, self.prefix, min(2 * worker_connections + 1024, nofile_hard_limit()), self.prefix, worker_connections, servers)
            )
        subprocess.run([binary, "-p", self.prefix, "-c", self.conf], check=True)
        deadline = time.monotonic() + 10
        while not self.worker_pid() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.worker_pid():
            fail("nginx %s started no worker" % name)

    def master_pid(self):
        try:
            with open(os.path.join(self.prefix, "nginx.pid")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return 0

    def worker_pid(self):
        master = self.master_pid()
        if not master:
            return 0
        try:
            with open("/proc/%d/task/%d/children" % (master, master)) as f:
                children = f.read().split()
        except OSError:
            return 0
        return int(children[0]) if children else 0

    def stop(self):
        master = self.master_pid()
        if master:
            subprocess.run([self.binary, "-p", self.prefix, "-c", self.conf, "-s", "stop"], check=False)
            deadline = time.monotonic() + 10
            while os.path.exists("/proc/%d" % master) and time.monotonic() < deadline:
                time.sleep(0.05)


def nofile_hard_limit():
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


def on_cpu_ns(pid):
    """Time the process (all its threads) spent on a CPU, from schedstat."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
    except OSError:
        pass
    return total


def rss_bytes(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def bpf_programs():
    """name → (run_time_ns, run_cnt, map_ids) of every loaded BPF program."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    programs = {}
    for p in json.loads(out or "[]"):
        name = p.get("name", "")
        t, n, maps = p.get("run_time_ns", 0), p.get("run_cnt", 0), p.get("map_ids", [])
        old = programs.get(name, (0, 0, []))
        programs[name] = (old[0] + t, old[1] + n, old[2] + maps)
    return programs


def bpf_map_bytes(map_ids):
    out = subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True, text=True, check=True).stdout
    wanted = set(map_ids)
    return sum(m.get("bytes_memlock", 0) for m in json.loads(out or "[]") if m.get("id") in wanted)


class Why502:
    """`why502 trace` or `why502 serve`, pinned to CPU 1, up until stopped."""

    running = set()  # killed on the way out if a run fails or is interrupted

    def __init__(self, binary, mode, workdir, nginx_master):
        self.records_path = os.path.join(workdir, "records-%s.jsonl" % mode)
        if mode == "trace":
            argv = [binary, "trace", "--format", "json", "-o", self.records_path]
        else:
            self.listen = "127.0.0.1:%d" % free_port()
            argv = [binary, "serve", "--listen", self.listen, "--log", self.records_path]
            if mode == "lean":
                argv.append("--lean")
        # The backend nginx stands in for an application server: trace only the proxy.
        argv += ["--pid", str(nginx_master)]
        if os.path.exists(self.records_path):
            os.unlink(self.records_path)
        self.stderr_path = os.path.join(workdir, "why502-%s.err" % mode)
        started = time.monotonic()
        # serve as its systemd unit runs it (packaging/why502.service.in: Nice=10);
        # trace as an operator runs it by hand.
        niced = ["nice", "-n", "10"] if mode != "trace" else []
        self.proc = subprocess.Popen(["taskset", "-c", "1"] + niced + argv, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, "w"))
        Why502.running.add(self.proc)
        while True:
            with open(self.stderr_path) as f:
                text = f.read()
            if "ready" in text:
                break
            if self.proc.poll() is not None:
                fail("why502 %s exited before it was ready: %s" % (mode, text.strip()))
            if time.monotonic() - started > 30:
                self.proc.kill()
                fail("why502 %s was not ready within 30 s" % mode)
            time.sleep(0.005)
        self.ready_s = time.monotonic() - started

    def pid(self):
        return self.proc.pid

    def stop(self):
        """SIGINT, then the summary line: (records, lost events)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("why502 did not stop within 30 s of SIGINT")
        finally:
            Why502.running.discard(self.proc)
        with open(self.stderr_path) as f:
            text = f.read()
        lost = re.search(r"(\d+) events lost", text)
        records = 0
        if os.path.exists(self.records_path):
            with open(self.records_path) as f:
                records = sum(1 for line in f if '"type":"gateway_error"' in line)
        return records, int(lost.group(1)) if lost else -1


def run_wrk(url, seconds, connections):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds,
                          "--latency", url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))

    p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1)
    return rps, requests, latency_ms(p99)


def latency_ms(text):
    for suffix, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60000.0)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def count_status(log_path, status):
    try:
        with open(log_path) as f:
            return sum(1 for line in f if line.strip() == status)
    except OSError:
        return 0


def median(values):
    return statistics.median(values) if values else float("nan")


def spread(values):
    return "%.4g..%.4g" % (min(values), max(values)) if values else "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--why502", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "why502"))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--modes", default="off,trace,serve,lean",
                        help="off and the modes to compare with it (control: untraced again, the noise floor)")
    parser.add_argument("--json", help="also write every measurement here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, records)")
    parser.add_argument("--no-engine", action="store_true",
                        help="skip recording a storm and replaying it through the engine alone")
    parser.add_argument("--bpf-stats", choices=("on", "off"), default="on",
                        help="off: leave kernel.bpf_stats_enabled off, as in production (no BPF time measured)")
    args = parser.parse_args()
    check_host(args.why502, ("nginx", "wrk", "bpftool", "taskset"))
    modes = tuple(m for m in MODES if m in args.modes.split(","))
    if "off" not in modes or len(modes) < 2:
        fail("--modes needs off and at least one of %s" % ", ".join(TRACED_MODES))
    workloads = [w for w in args.workloads.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            fail("unknown workload %s (one of %s)" % (w, ", ".join(WORKLOADS)))

    workdir = tempfile.mkdtemp(prefix="why502-bench-")
    stats_before = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    backend = proxy = None
    try:
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=%d" % (args.bpf_stats == "on")], check=True)
        backend_port, proxy_port, refused_port = free_port(), free_port(), free_port()
        backend = Nginx(workdir, "backend", 1,
                        "  access_log off;\n  server { listen 127.0.0.1:%d backlog=4096; keepalive_requests 100000;\n"
                        "    location / { return 200 \"ok\\n\"; } }\n" % backend_port)
        access_log = os.path.join(workdir, "proxy", "logs", "access.log")
        proxy = Nginx(workdir, "proxy", 0,
                      "  access_log %s status buffer=64k flush=1s;\n"
                      "  upstream pool { server 127.0.0.1:%d; keepalive 64; }\n"
                      "  server { listen 127.0.0.1:%d backlog=4096; keepalive_requests 100000;\n"
                      "    location /keepalive { proxy_pass http://pool; proxy_http_version 1.1;\n"
                      "      proxy_set_header Connection \"\"; }\n"
                      "    location /newconn { proxy_pass http://127.0.0.1:%d; }\n"
                      "    location /storm { proxy_pass http://127.0.0.1:%d; }\n  }\n"
                      % (access_log, backend_port, proxy_port, backend_port, refused_port))
        wait_for_port(backend_port)
        wait_for_port(proxy_port)
        worker = proxy.worker_pid()
        baseline_programs = set(bpf_programs())

        results = {w: {m: [] for m in modes} for w in workloads}
        extras = {"ready_s": [], "rss_bytes": [], "map_bytes": 0}
        for w in workloads:
            url = "http://127.0.0.1:%d/%s" % (proxy_port, w)
            run_wrk(url, 1, args.connections)  # warm up
            for r in range(args.rounds):
                order = modes[r % len(modes):] + modes[: r % len(modes)]
                if r % 2:
                    order = tuple(reversed(order))
                for mode in order:
                    tracer = None
                    if mode not in UNTRACED_MODES:
                        tracer = Why502(args.why502, mode, workdir, proxy.master_pid())
                        extras["ready_s"].append(tracer.ready_s)
                    progs_before = bpf_programs()
                    # nginx writes its buffered access log every second: let the
                    # previous run's lines land before counting.
                    counting = tracer is not None and w == "storm"
                    if counting:
                        time.sleep(1.2)
                        logged_before = count_status(access_log, "502")
                    cpu_worker = on_cpu_ns(worker)
                    cpu_tracer = on_cpu_ns(tracer.pid()) if tracer else 0
                    rps, requests, p99 = run_wrk(url, args.seconds, args.connections)
                    cpu_worker = on_cpu_ns(worker) - cpu_worker
                    cpu_tracer = (on_cpu_ns(tracer.pid()) - cpu_tracer) if tracer else 0
                    progs_after = bpf_programs()
                    row = {"round": r, "rps": rps, "requests": requests, "p99_ms": p99,
                           "worker_ns_per_req": cpu_worker / max(requests, 1),
                           "why502_ns_per_req": cpu_tracer / max(requests, 1)}
                    if mode == "control":
                        row.update(bpf={}, bpf_ns_per_req=0, uprobe_hits_per_req=0, records=0, lost=0, logged_502=0)
                    if tracer:
                        row["rss_bytes"] = rss_bytes(tracer.pid())
                        extras["rss_bytes"].append(row["rss_bytes"])
                        ours = {n: v for n, v in progs_after.items() if n not in baseline_programs}
                        per_prog = {}
                        for name, (t, n, maps) in ours.items():
                            t0, n0, _ = progs_before.get(name, (0, 0, []))
                            per_prog[name] = {"ns_per_req": (t - t0) / max(requests, 1),
                                              "runs_per_req": (n - n0) / max(requests, 1)}
                            if not extras["map_bytes"]:
                                extras["map_bytes"] = bpf_map_bytes(sorted({m for _, (_, _, ms) in ours.items() for m in ms}))
                        row["bpf"] = per_prog
                        row["bpf_ns_per_req"] = sum(p["ns_per_req"] for p in per_prog.values())
                        row["uprobe_hits_per_req"] = sum(p["runs_per_req"] for name, p in per_prog.items()
                                                         if any(u.startswith(name) for u in UPROBE_PROGRAMS))
                        if counting:
                            time.sleep(1.2)  # the run's last access log lines
                        records, lost = tracer.stop()
                        row["records"], row["lost"] = records, lost
                        row["logged_502"] = count_status(access_log, "502") - logged_before if counting else 0
                    results[w][mode].append(row)
                    measured = ""
                    if tracer and args.bpf_stats == "on":
                        measured = "  bpf %5.0f ns/req  uprobes %.3f/req" % (row["bpf_ns_per_req"],
                                                                           row["uprobe_hits_per_req"])
                    if tracer:
                        measured += "  records %d/%d lost %d" % (row["records"], row["logged_502"], row["lost"])
                    print("%-9s round %2d %-5s %9.0f req/s  p99 %6.2f ms%s" % (w, r, mode, rps, p99, measured),
                          flush=True)
        if not args.no_engine:
            extras["engine"] = engine_benchmark(args, workdir, proxy, "http://127.0.0.1:%d/storm" % proxy_port)
        summary = summarise(results, extras)
        summary["bpf_stats"] = args.bpf_stats
        print_summary(summary)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"summary": summary, "rounds": results}, f, indent=1)
        return 0
    finally:
        for proc in Why502.running:
            proc.kill()
            proc.wait()
        if proxy:
            proxy.stop()
        if backend:
            backend.stop()
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=" + stats_before], check=False)
        if args.keep:
            print("bench: kept " + workdir, file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def engine_benchmark(args, workdir, proxy, storm_url):
    """Records a 502 storm, then replays it through the engine alone."""
    bench = os.path.join(os.path.dirname(os.path.abspath(args.why502)), "tests", "why502_engine_bench")
    if not os.access(bench, os.X_OK):
        print("bench: %s is not built (libbenchmark-dev missing?); no aggregator figures" % bench, file=sys.stderr)
        return None
    recording = os.path.join(workdir, "storm.w502")
    err = open(os.path.join(workdir, "record.err"), "w+")
    proc = subprocess.Popen(["taskset", "-c", "1", args.why502, "record", "-o", recording, "--pid",
                             str(proxy.master_pid())], stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            err.seek(0)
            if "ready" in err.read() or proc.poll() is not None:
                break
            time.sleep(0.01)
        run_wrk(storm_url, max(1, min(args.seconds, 3)), args.connections)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = subprocess.run(["taskset", "-c", "1", bench, "--recording", recording, "--benchmark_format=json",
                          "--benchmark_min_time=%g" % (0.5 if args.seconds >= 3 else 0.1)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        fail("the engine benchmark failed: " + out.stderr.strip())
    doc = json.loads(out.stdout)
    figures = {"recording_mib": os.path.getsize(recording) / 2**20}
    for b in doc["benchmarks"]:
        if b["name"].startswith("replay_recording"):
            figures["events_per_s"] = b["events_per_s"]
            figures["records_per_replay"] = b["records_per_replay"]
        elif b["name"].startswith("records_as_json"):
            figures["json_records_per_s"] = b["records_per_s"]
        elif b["name"].startswith("ten_thousand_connections"):
            figures["held_mib_10k"] = b["held_MiB"]
            figures["bytes_per_connection"] = b["bytes_per_connection"]
    return figures


def summarise(results, extras):
    summary = {"workloads": {}, "ready_ms_median": median(extras["ready_s"]) * 1000,
               "ready_ms_max": max(extras["ready_s"], default=0) * 1000,
               "rss_mib_median": median(extras["rss_bytes"]) / 2**20,
               "rss_mib_max": max(extras["rss_bytes"], default=0) / 2**20,
               "bpf_map_mib": extras["map_bytes"] / 2**20,
               "engine": extras.get("engine")}
    for w, modes in results.items():
        off = modes["off"]
        s = {"off_rps_median": median([r["rps"] for r in off]), "off_rps_spread": spread([r["rps"] for r in off]),
             "off_p99_ms_median": median([r["p99_ms"] for r in off])}
        for mode in TRACED_MODES:
            on = modes.get(mode)
            if not on:
                continue
            pairs = list(zip(off, on))
            m = {
                "rps_median": median([r["rps"] for r in on]),
                "rps_spread": spread([r["rps"] for r in on]),
                "throughput_ratio": median([b["rps"] / a["rps"] for a, b in pairs]),
                "p99_ratio": median([b["p99_ms"] / a["p99_ms"] for a, b in pairs if a["p99_ms"] > 0]),
                "added_cpu_ratio": median([(b["worker_ns_per_req"] + b["why502_ns_per_req"]) / a["worker_ns_per_req"] - 1
                                           for a, b in pairs if a["worker_ns_per_req"] > 0]),
                "worker_ns_per_req": median([r["worker_ns_per_req"] for r in on]),
                "off_worker_ns_per_req": median([r["worker_ns_per_req"] for r in off]),
                "why502_ns_per_req": median([r["why502_ns_per_req"] for r in on]),
                "bpf_ns_per_req": median([r["bpf_ns_per_req"] for r in on]),
                "uprobe_hits_per_req": median([r["uprobe_hits_per_req"] for r in on]),
                "records": sum(r["records"] for r in on),
                "logged_502": sum(r["logged_502"] for r in on),
                "lost": sum(max(r["lost"], 0) for r in on),
                "bpf_by_program": {name: median([r["bpf"].get(name, {}).get("ns_per_req", 0) for r in on])
                                   for name in sorted({n for r in on for n in r["bpf"]})},
                "bpf_runs_by_program": {name: median([r["bpf"].get(name, {}).get("runs_per_req", 0) for r in on])
                                        for name in sorted({n for r in on for n in r["bpf"]})},
            }
            s[mode] = m
        summary["workloads"][w] = s
    return summary


def print_summary(summary):
    print("\n== summary (medians over rounds; ratios are traced / untraced of the same round) ==")
    for w, s in summary["workloads"].items():
        print("%s: untraced %.0f req/s (%s), p99 %.2f ms" % (w, s["off_rps_median"], s["off_rps_spread"],
                                                            s["off_p99_ms_median"]))
        for mode in TRACED_MODES:
            if mode not in s:
                continue
            m = s[mode]
            print("  %-5s %.0f req/s (%s)  throughput x%.4f  p99 x%.4f  added CPU/req %+.2f%%" % (
                mode, m["rps_median"], m["rps_spread"], m["throughput_ratio"], m["p99_ratio"],
                100 * m["added_cpu_ratio"]))
            print("        nginx worker %.0f ns/req (untraced %.0f), why502 %.0f ns/req" % (
                m["worker_ns_per_req"], m["off_worker_ns_per_req"], m["why502_ns_per_req"]), end="")
            if summary["bpf_stats"] == "off":
                print("; BPF not measured (--bpf-stats off)")
            else:
                print(", BPF %.0f ns/req, uprobe hits %.3f/req" % (m["bpf_ns_per_req"], m["uprobe_hits_per_req"]))
                print("        BPF by program (ns/req, runs/req): " + ", ".join(
                    "%s %.0f/%.2f" % (n, v, m["bpf_runs_by_program"][n])
                    for n, v in m["bpf_by_program"].items() if v >= 0.5))
            if w == "storm":
                print("        records %d / 502s logged %d, events lost %d" % (m["records"], m["logged_502"], m["lost"]))
    print("ready: median %.0f ms, max %.0f ms; RSS median %.1f MiB, max %.1f MiB; BPF maps %.1f MiB" % (
        summary["ready_ms_median"], summary["ready_ms_max"], summary["rss_mib_median"], summary["rss_mib_max"],
        summary["bpf_map_mib"]))
    e = summary.get("engine")
    if e:
        print("aggregator: %.2f M events/s on one core replaying a %.1f MiB storm recording (%d records); "
              "10k failing upstream connections held: %.1f MiB (%.0f bytes each)" % (
                  e["events_per_s"] / 1e6, e["recording_mib"], e["records_per_replay"], e["held_mib_10k"],
                  e["bytes_per_connection"]))
        if "json_records_per_s" in e:
            print("records written as JSON lines: %.2f M/s on one core" % (e["json_records_per_s"] / 1e6))


if __name__ == "__main__":
    sys.exit(main())
