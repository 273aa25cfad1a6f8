#!/usr/bin/env python3
"""Deliberately misbehaving HTTP/1.1 upstream for the integration tests.

The tests put a real nginx in front of this server and check that the tool
explains the resulting 502/504 errors correctly.  Every request is answered
according to --mode, each one reproducing a failure nginx reports in its own
words:

  ok              200 "ok\\n", keep-alive (healthy baseline)
  reset           read the request, then RST   -> recv() failed (104: ...)
  close           read the request, then FIN   -> upstream prematurely closed
  slow            sleep --delay (default 5 s)  -> upstream timed out
  invalid_header  header name with a 0x01 byte -> upstream sent invalid header
  big_header      ~16 KiB header section       -> upstream sent too big header
  status502/503/504  the upstream itself reports the error
  truncate        Content-Length 100000, 10 body bytes, then RST
                  (nginx has already sent 200 on; it logs readv() failed)
  accept_never    listen(--backlog, default 1) and never accept()
  hang            print "request" once a request is read, then hold it
                  forever (tests kill the process)
  segv            print "request", then crash with a real SIGSEGV
  hog             print "request", then allocate memory until killed (OOM)
  fd_exhausted    use up every descriptor (RLIMIT_NOFILE lowered to 64) after
                  listening: accept() fails with EMFILE, connections queue up
  keepalive_fin   answer a connection's first request (200, keep-alive), then
                  hang up with FIN as its next one arrives: the keepalive race
                  of a backend whose idle timeout ran out as nginx reused the
                  connection (nginx: upstream prematurely closed connection)
  keepalive_reset the same, but with RST (nginx: recv() failed (104: ...))

Usage: misbehave.py --listen ADDR --mode MODE [--delay SECONDS] [--backlog N]
ADDR is 127.0.0.1:PORT, [::1]:PORT or unix:/path/to.sock; PORT 0 picks a free
port.  Once listening, exactly one line "ready ADDR" (with the real port) is
printed to stdout so tests can wait for it instead of sleeping.  SIGTERM and
SIGINT close the listener, remove the unix socket file and exit 0.
"""

import argparse
import os
import selectors
import signal
import socket
import stat
import struct
import sys
import threading
import time
import weakref

MODES = (
    "ok", "reset", "close", "slow", "invalid_header", "big_header",
    "status502", "status503", "status504", "truncate", "accept_never",
    "hang", "segv", "hog", "fd_exhausted", "keepalive_fin", "keepalive_reset",
)

SLOW_DEFAULT_DELAY = 5.0
MAX_LINE = 65536           # longest request or header line we accept
MAX_HEADERS = 200
BIG_HEADER_SIZE = 16384    # far above the default proxy_buffer_size (4k/8k)

# A control character in a header name.  Checked against nginx 1.22.1: 0x01,
# 0x00 or a space in the name (or 0x00 in the value) make it log "upstream sent
# invalid header"; a line without a colon or 0x01 in the value are accepted.
INVALID_HEADER_LINE = b"X-Bad\x01Name: 1\r\n"

REASONS = {
    200: "OK",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class BadRequest(Exception):
    """The peer sent something we cannot parse; drop the connection."""


class Request:
    """The parts of a request the modes care about (the body is discarded)."""

    def __init__(self, method, version, headers):
        self.method = method
        self.version = version
        self.headers = headers   # lower-case name -> value (last one wins)

    def wants_keep_alive(self):
        tokens = {t.strip().lower()
                  for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


# --------------------------------------------------------------------------
# Listening address


def parse_listen(text):
    """Return (family, sockaddr) for ADDR; raise ValueError if malformed."""
    if text.startswith("unix:"):
        path = text[len("unix:"):]
        if not path:
            raise ValueError("empty unix socket path")
        return socket.AF_UNIX, path
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError("expected [HOST]:PORT")
        return socket.AF_INET6, (host, int(port))
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError("expected HOST:PORT")
    return socket.AF_INET, (host, int(port))


def remove_stale_socket(path):
    """Unlink a leftover socket file from a previous run, but nothing else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OSError(f"{path} exists and is not a socket; refusing to remove")
    os.unlink(path)


def open_listener(family, sockaddr, backlog):
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_UNIX:
        remove_stale_socket(sockaddr)
    else:
        # Tests restart backends on fixed ports; TIME_WAIT must not block that.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(sockaddr)
    if family == socket.AF_UNIX:
        # nginx workers started as root run as "nobody"; connect() on a unix
        # socket needs write permission, so let any local user in.
        os.chmod(sockaddr, 0o666)
    sock.listen(backlog)
    return sock


def describe_listener(sock, family):
    """The ADDR to announce, with the port the kernel actually picked."""
    if family == socket.AF_UNIX:
        return "unix:" + sock.getsockname()
    host, port = sock.getsockname()[:2]
    if family == socket.AF_INET6:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


# --------------------------------------------------------------------------
# Request parsing


def read_line(rfile):
    line = rfile.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise BadRequest("line too long")
    return line


def read_request_line(rfile):
    """Return (method, version), or None on a clean EOF between requests."""
    line = read_line(rfile)
    # RFC 9112 2.2: ignore at least one empty line before the request line.
    while line in (b"\r\n", b"\n"):
        line = read_line(rfile)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise BadRequest("malformed request line")
    return parts[0], parts[2]


def read_headers(rfile):
    headers = {}
    for _ in range(MAX_HEADERS):
        line = read_line(rfile)
        if not line:
            raise BadRequest("EOF inside the header section")
        if line in (b"\r\n", b"\n"):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise BadRequest("header line without colon")
        headers[name.strip().lower()] = value.strip()
    raise BadRequest("too many headers")


def read_exactly(rfile, size):
    data = rfile.read(size)
    if len(data) != size:
        raise BadRequest("EOF inside the body")


def read_chunked_body(rfile):
    # nginx sends chunked request bodies with proxy_request_buffering off.
    while True:
        size_field = read_line(rfile).split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            raise BadRequest("bad chunk size") from None
        if size == 0:
            break
        read_exactly(rfile, size + 2)          # chunk data and its CRLF
    while read_line(rfile) not in (b"\r\n", b"\n", b""):
        pass                                   # trailer fields


def read_body(rfile, headers):
    if "chunked" in headers.get("transfer-encoding", "").lower():
        read_chunked_body(rfile)
        return
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadRequest("bad Content-Length") from None
    if length < 0:
        raise BadRequest("negative Content-Length")
    # Read in bounded pieces so a huge upload does not need huge memory.
    while length > 0:
        piece = min(length, 1 << 20)
        read_exactly(rfile, piece)
        length -= piece


def read_request(rfile):
    """Read one complete request including its body; None on clean EOF."""
    start = read_request_line(rfile)
    if start is None:
        return None
    headers = read_headers(rfile)
    read_body(rfile, headers)
    return Request(start[0], start[1], headers)


# --------------------------------------------------------------------------
# Responses and ways of hanging up


def build_response(status, body, request, extra_headers=b"",
                   content_length=None, keep_alive=True):
    if content_length is None:
        content_length = len(body)
    head = (
        f"HTTP/1.1 {status} {REASONS[status]}\r\n"
        "Content-Type: text/plain\r\n"
        f"Content-Length: {content_length}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
    ).encode("ascii") + extra_headers + b"\r\n"
    if request.method == "HEAD":
        return head
    return head + body


# The hang-up helpers only prepare the socket: the actual close() happens in
# serve_connection(), which also owns the makefile() reader that keeps the
# descriptor open until both are closed.


def hang_up_with_rst(conn):
    # SO_LINGER {on, 0 s} makes close() discard state and send RST, not FIN.
    linger = struct.pack("ii", 1, 0)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)


def hang_up_with_fin(conn):
    # The whole request was read, so close() after this sends no RST either.
    conn.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------
# Modes.  Each handler answers one request and returns True to keep the
# connection open for the next one.


def answer(conn, request, status, body, extra_headers=b""):
    keep_alive = request.wants_keep_alive()
    conn.sendall(build_response(status, body, request, extra_headers,
                                keep_alive=keep_alive))
    return keep_alive


def mode_ok(conn, request):
    return answer(conn, request, 200, b"ok\n")


def mode_reset(conn, request):
    hang_up_with_rst(conn)
    return False


def mode_close(conn, request):
    hang_up_with_fin(conn)
    return False


def mode_slow(conn, request):
    # The delay already happened in serve_connection(); nginx has probably
    # given up by now, which the caller tolerates.
    return answer(conn, request, 200, b"ok\n")


def mode_invalid_header(conn, request):
    return answer(conn, request, 200, b"ok\n", INVALID_HEADER_LINE)


def mode_big_header(conn, request):
    big = b"X-Big: " + b"a" * BIG_HEADER_SIZE + b"\r\n"
    return answer(conn, request, 200, b"ok\n", big)


def status_mode(status):
    def handler(conn, request):
        body = f"upstream says {status}\n".encode("ascii")
        return answer(conn, request, status, body)
    return handler


def mode_truncate(conn, request):
    conn.sendall(build_response(200, b"0123456789", request,
                                content_length=100000))
    hang_up_with_rst(conn)
    return False


def announce_request():
    # Tests wait for this line before they kill us: the request is in hand.
    print("request", flush=True)


def mode_hang(conn, request):
    """Hold the request forever (until a test kills the process)."""
    announce_request()
    while True:
        time.sleep(3600)


def mode_segv(conn, request):
    """Crash with a real segmentation fault while the request is in hand."""
    announce_request()
    import ctypes
    ctypes.string_at(0)  # reads address 0: SIGSEGV from the kernel
    return False


def mode_hog(conn, request):
    """Allocate memory until the OOM killer (or a cgroup limit) stops us."""
    announce_request()
    hoard = []
    while True:
        hoard.append(bytearray(16 << 20))


def exhaust_descriptors():
    """Lower RLIMIT_NOFILE and open files until none is left."""
    import resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    hoard = []
    while True:
        try:
            hoard.append(open(os.devnull, "rb"))
        except OSError:
            return hoard


def keepalive_then(hang_up):
    """The first request of each connection is answered; its next is hung up on."""
    served = weakref.WeakKeyDictionary()   # connection -> requests answered

    def handler(conn, request):
        if served.get(conn, 0) == 0:
            served[conn] = 1
            return answer(conn, request, 200, b"ok\n")
        hang_up(conn)
        return False
    return handler


HANDLERS = {
    "keepalive_fin": keepalive_then(hang_up_with_fin),
    "keepalive_reset": keepalive_then(hang_up_with_rst),
    "fd_exhausted": mode_ok,
    "hang": mode_hang,
    "segv": mode_segv,
    "hog": mode_hog,
    "ok": mode_ok,
    "reset": mode_reset,
    "close": mode_close,
    "slow": mode_slow,
    "invalid_header": mode_invalid_header,
    "big_header": mode_big_header,
    "status502": status_mode(502),
    "status503": status_mode(503),
    "status504": status_mode(504),
    "truncate": mode_truncate,
}


# --------------------------------------------------------------------------
# Connection handling and the main loop


def serve_connection(conn, handler, delay):
    rfile = conn.makefile("rb")
    try:
        while True:
            request = read_request(rfile)
            if request is None:
                return
            if delay:
                time.sleep(delay)
            if not handler(conn, request):
                return
    except (BadRequest, OSError):
        # Peers vanishing (e.g. nginx timing out a slow request) are expected.
        pass
    finally:
        rfile.close()
        conn.close()


def install_signal_wakeup():
    """Route SIGTERM/SIGINT to a socket the main loop can select() on."""
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    # A Python-level handler is needed for the wakeup byte to be written;
    # the real work happens in the main loop, not in the handler.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    return wake_r, wake_w


def accept_loop(listener, wake, handler, delay, starve=False):
    """Serve until SIGTERM/SIGINT; handler None means never accept().

    starve: use up every descriptor first (after the selector has its own),
    so that each accept() fails with EMFILE."""
    sel = selectors.DefaultSelector()
    sel.register(wake, selectors.EVENT_READ)
    if handler is not None:
        listener.setblocking(False)
        sel.register(listener, selectors.EVENT_READ)
    hoard = exhaust_descriptors() if starve else []
    try:
        while True:
            for key, _ in sel.select(timeout=0.5 if starve else None):
                if key.fileobj is wake:
                    return
                accept_one(listener, handler, delay)
    finally:
        for f in hoard:
            f.close()


def accept_one(listener, handler, delay):
    try:
        conn, _ = listener.accept()
    except (BlockingIOError, ConnectionAbortedError):
        return   # the client went away between select() and accept()
    except OSError as exc:
        print(f"misbehave: accept: {exc}", file=sys.stderr)
        time.sleep(0.1)   # e.g. EMFILE: do not spin
        return
    conn.setblocking(True)
    # Daemon threads: a slow-mode sleep must not delay exit on SIGTERM.
    threading.Thread(target=serve_connection, args=(conn, handler, delay),
                     daemon=True).start()


def remove_own_socket(path, inode):
    """Unlink the socket file unless someone else has replaced it."""
    try:
        if os.lstat(path).st_ino == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="HTTP/1.1 upstream that fails on purpose (nginx tests).")
    parser.add_argument("--listen", required=True,
                        help="127.0.0.1:PORT, [::1]:PORT or unix:/path")
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("--delay", type=float, default=None,
                        help="seconds to wait before each response (default "
                             f"{SLOW_DEFAULT_DELAY:g} for slow, else 0)")
    parser.add_argument("--backlog", type=int, default=None,
                        help="listen() backlog (default 1 for accept_never, "
                             "else SOMAXCONN)")
    args = parser.parse_args(argv)
    try:
        args.family, args.sockaddr = parse_listen(args.listen)
    except ValueError as exc:
        parser.error(f"--listen {args.listen!r}: {exc}")
    if args.delay is None:
        args.delay = SLOW_DEFAULT_DELAY if args.mode == "slow" else 0.0
    if args.delay < 0:
        parser.error("--delay must not be negative")
    if args.backlog is None:
        args.backlog = 1 if args.mode == "accept_never" else socket.SOMAXCONN
    if args.backlog < 0:
        parser.error("--backlog must not be negative")
    return args


def main(argv=None):
    args = parse_args(argv)
    # Before binding, so a signal sent right after "ready" is never lost.
    wake_r, wake_w = install_signal_wakeup()
    try:
        listener = open_listener(args.family, args.sockaddr, args.backlog)
    except OSError as exc:
        print(f"misbehave: cannot listen on {args.listen}: {exc}",
              file=sys.stderr)
        return 1
    inode = None
    if args.family == socket.AF_UNIX:
        inode = os.lstat(args.sockaddr).st_ino
    try:
        print("ready", describe_listener(listener, args.family), flush=True)
        accept_loop(listener, wake_r, HANDLERS.get(args.mode), args.delay,
                    starve=args.mode == "fd_exhausted")
    finally:
        listener.close()
        if inode is not None:
            remove_own_socket(args.sockaddr, inode)
        signal.set_wakeup_fd(-1)
        wake_r.close()
        wake_w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
