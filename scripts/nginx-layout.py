#!/usr/bin/env python3
"""Prints where why502 reads nginx's structs, from an nginx binary's debug info.

  scripts/nginx-layout.py [--json] NGINX_BINARY...

For each binary: its version and configure arguments (as `nginx -V` prints them)
and the offset of every field of why502's layout table
(userspace/host/nginx_layout.cpp), read with pahole from the binary's DWARF.
A new nginx release is a rerun of this on a build with -g (scripts/build-nginx.sh
keeps -g), then a new table row if a number moved. A binary without debug info
(Debian's /usr/sbin/nginx is stripped) gets one line saying so; exit status 1 if
any binary could not be read, 2 on bad usage.
"""
import json
import re
import subprocess
import sys

# why502's name for each number -> (struct, member); "sizeof" for a struct's size.
# The BPF side also assumes ngx_str_t {len at 0, data at 8}, ngx_array_t {elts at
# 0, nelts at 8}, ngx_http_log_ctx_t.connection at 0, ngx_http_core_loc_conf_t.name
# at 0 and ngx_http_err_page_t {status 0, overwrite 8, value 16 (an
# ngx_http_complex_value_t, its ngx_str_t value at 0), 80 bytes}: checked as well.
FIELDS = [
    ("r_connection", "ngx_http_request_s", "connection"),
    ("r_upstream", "ngx_http_request_s", "upstream"),
    ("r_upstream_states", "ngx_http_request_s", "upstream_states"),
    ("r_request_line", "ngx_http_request_s", "request_line"),
    ("r_loc_conf", "ngx_http_request_s", "loc_conf"),
    ("c_fd", "ngx_connection_s", "fd"),
    ("c_log", "ngx_connection_s", "log"),
    ("c_sockaddr", "ngx_connection_s", "sockaddr"),
    ("c_number", "ngx_connection_s", "number"),
    ("c_requests", "ngx_connection_s", "requests"),
    ("log_connection", "ngx_log_s", "connection"),
    ("log_data", "ngx_log_s", "data"),
    ("log_action", "ngx_log_s", "action"),
    ("ctx_connection", "ngx_http_log_ctx_s", "connection"),
    ("ctx_request", "ngx_http_log_ctx_s", "request"),
    ("ctx_current_request", "ngx_http_log_ctx_s", "current_request"),
    ("u_peer", "ngx_http_upstream_s", "peer"),
    ("pc_connection", "ngx_peer_connection_s", "connection"),
    ("pc_name", "ngx_peer_connection_s", "name"),
    ("state_size", "ngx_http_upstream_state_t", "sizeof"),
    ("state_status", "ngx_http_upstream_state_t", "status"),
    ("state_response_time", "ngx_http_upstream_state_t", "response_time"),
    ("state_connect_time", "ngx_http_upstream_state_t", "connect_time"),
    ("state_header_time", "ngx_http_upstream_state_t", "header_time"),
    ("state_bytes_received", "ngx_http_upstream_state_t", "bytes_received"),
    ("state_bytes_sent", "ngx_http_upstream_state_t", "bytes_sent"),
    ("state_peer", "ngx_http_upstream_state_t", "peer"),
    ("loc_name", "ngx_http_core_loc_conf_s", "name"),
    ("clcf_error_pages", "ngx_http_core_loc_conf_s", "error_pages"),
    ("err_page_size", "ngx_http_err_page_t", "sizeof"),
    ("err_page_status", "ngx_http_err_page_t", "status"),
    ("err_page_overwrite", "ngx_http_err_page_t", "overwrite"),
    ("err_page_value", "ngx_http_err_page_t", "value"),
    ("complex_value_value", "ngx_http_complex_value_t", "value"),
    ("str_len", "ngx_str_t", "len"),
    ("str_data", "ngx_str_t", "data"),
    ("array_elts", "ngx_array_t", "elts"),
    ("array_nelts", "ngx_array_t", "nelts"),
    ("array_size", "ngx_array_t", "size"),
]

# A top-level member line of pahole's output: "\ttype name; /* offset size */"
# (a bit-field's offset reads "offset:bit").
MEMBER = re.compile(r"^\t[^\t].*?[\s*](\w+)(?:\[\d*\])?(?::\d+)?;\s*/\*\s*(\d+)(?::\s*\d+)?\s+\d+\s*\*/")
SIZE = re.compile(r"/\* size: (\d+),")


def struct_members(binary, struct):
    """{member: offset, "sizeof": size} of one struct, or None if pahole cannot find it."""
    out = subprocess.run(["pahole", "-C", struct, binary], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        return None
    members = {}
    for line in out.stdout.splitlines():
        m = MEMBER.match(line)
        if m:
            members.setdefault(m.group(1), int(m.group(2)))
        s = SIZE.search(line)
        if s and line.startswith("\t/* size:"):
            members["sizeof"] = int(s.group(1))
    return members


def rodata_string(binary, prefix):
    """The NUL-terminated string of .rodata that starts with prefix, without it."""
    out = subprocess.run(["objcopy", "-O", "binary", "--only-section=.rodata", binary, "/dev/stdout"],
                         capture_output=True)
    for piece in out.stdout.split(b"\0"):
        if piece.startswith(prefix):
            return piece[len(prefix):].decode(errors="replace").strip()
    return None


def has_debug_info(binary):
    out = subprocess.run(["readelf", "-S", "-W", binary], capture_output=True, text=True)
    return ".debug_info" in out.stdout


def layout(binary):
    result = {
        "binary": binary,
        "version": rodata_string(binary, b"nginx version: "),
        "configure": rodata_string(binary, b"configure arguments:"),
    }
    if not has_debug_info(binary):
        result["error"] = "no debug info (stripped); install its debug symbols or build with -g"
        return result
    structs = {}
    offsets = {}
    missing = []
    for name, struct, member in FIELDS:
        if struct not in structs:
            structs[struct] = struct_members(binary, struct)
        found = (structs[struct] or {}).get(member)
        if found is None:
            missing.append(f"{struct}.{member}")
        else:
            offsets[name] = found
    result["offsets"] = offsets
    if missing:
        result["error"] = "not in the debug info: " + ", ".join(missing)
    return result


def main(argv):
    as_json = "--json" in argv
    binaries = [a for a in argv if a != "--json"]
    if not binaries or any(b.startswith("-") for b in binaries):
        print("usage: nginx-layout.py [--json] NGINX_BINARY...", file=sys.stderr)
        return 2
    results = [layout(b) for b in binaries]
    if as_json:
        print(json.dumps(results, indent=1))
    else:
        for r in results:
            print(f"{r['binary']}: {r['version'] or 'no nginx version string'}")
            print(f"  configure arguments:{' ' + r['configure'] if r['configure'] else ' (none found)'}")
            for name, value in r.get("offsets", {}).items():
                print(f"  {name:22} 0x{value:x}")
            if "error" in r:
                print(f"  {r['error']}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
