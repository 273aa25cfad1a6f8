#!/usr/bin/env python3
"""Backends slow for a reason the tests know (what the backend was doing
while nginx waited). Each prints "ready ADDR" once listening and serves until
SIGTERM / SIGINT. Its process name (comm) is set so that records name it.

Usage: slow_backend.py silent [PATH]      accepts connections, never answers
                                          (a stuck dependency; comm "fakedb"), on
                                          127.0.0.1, or on the unix socket PATH
       slow_backend.py blocked HOST:PORT  per request, connects to HOST:PORT (or
                                          unix:PATH) and waits in recv() for an
                                          answer (comm "slow-blocked")
       slow_backend.py polled HOST:PORT   as blocked, with a socket timeout, as
                                          database clients wait: in poll() on that
                                          socket, then recv() (comm "slow-polled")
       slow_backend.py threaded HOST:PORT as polled, each request in a thread of its
                                          own (comm "slow-threaded")
       slow_backend.py threaded-sleep     each request in a thread of its own,
                                          which sleeps (comm "slow-sleeper")
       slow_backend.py evented HOST:PORT  an asyncio event loop (epoll): per request,
                                          asks HOST:PORT and awaits its answer
                                          (comm "slow-evented")
       slow_backend.py busy SECONDS       per request, spins on the CPU for
                                          SECONDS, then answers (comm "slow-busy")
"""

import asyncio
import ctypes
import http.server
import os
import signal
import socket
import sys
import time


def set_comm(name):
    PR_SET_NAME = 15
    ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode(), 0, 0, 0)


def silent(path=None):
    if path:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        os.chmod(path, 0o666)  # php-fpm's children run as nobody
        listener.listen(16)
        print("ready unix:%s" % path, flush=True)
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        print("ready 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
    held = []
    while True:
        conn, _ = listener.accept()
        held.append(conn)  # open, unanswered


def serve(handle, server_class=http.server.HTTPServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            handle()
            body = b"finally\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        # An upload goes the same way, its body left unread while handle() runs.
        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = server_class(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("ready 127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


async def evented(host, port):
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        answers, dep = await asyncio.open_connection(host, port)
        dep.write(b"SELECT 1;\n")
        await dep.drain()
        await answers.read(1)  # it never answers
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print("ready 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    mode = sys.argv[1]
    if mode == "silent":
        set_comm("fakedb")
        silent(sys.argv[2] if len(sys.argv) > 2 else None)
    elif mode in ("blocked", "polled", "threaded"):
        set_comm({"blocked": "slow-blocked", "polled": "slow-polled", "threaded": "slow-threaded"}[mode])
        where = sys.argv[2]

        def ask_dependency():
            if where.startswith("unix:"):
                dep = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                dep.connect(where[5:])
            else:
                host, port = where.rsplit(":", 1)
                dep = socket.create_connection((host, int(port)))
            if mode != "blocked":
                dep.settimeout(3600)  # then recv() waits in poll() first
            dep.sendall(b"SELECT 1;\n")
            dep.recv(1)  # it never answers
            dep.close()

        serve(ask_dependency, http.server.ThreadingHTTPServer if mode == "threaded" else http.server.HTTPServer)
    elif mode == "evented":
        set_comm("slow-evented")
        host, port = sys.argv[2].rsplit(":", 1)
        asyncio.run(evented(host, int(port)))
    elif mode == "threaded-sleep":
        set_comm("slow-sleeper")
        serve(lambda: time.sleep(3600), http.server.ThreadingHTTPServer)
    elif mode == "busy":
        set_comm("slow-busy")
        seconds = float(sys.argv[2])

        def spin():
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pass

        serve(spin)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
