#!/usr/bin/env bash
# The demo: a local nginx on 127.0.0.1 with deliberately failing upstreams,
# traced live by why502. Installs what is missing, builds, runs, cleans up.
# Usage: sudo scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [[ $(id -u) -ne 0 ]]; then
  echo "demo.sh: run as root (sudo scripts/demo.sh): why502 loads BPF programs" >&2
  exit 2
fi
scripts/install-deps.sh
scripts/build.sh --target why502

work=$(mktemp -d /tmp/why502-demo.XXXXXX)
chmod 755 "$work"
pids=()
nginx_pid=""
tracer_pid=""
cleanup() {
  [[ -n "$tracer_pid" ]] && kill -INT "$tracer_pid" 2>/dev/null && wait "$tracer_pid" 2>/dev/null || true
  [[ -n "$nginx_pid" ]] && kill -TERM "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_line FILE PREFIX: until FILE has a line starting with PREFIX (10 s).
wait_for_line() {
  for _ in $(seq 200); do
    if grep -q "^$2" "$1" 2>/dev/null; then grep -m1 "^$2" "$1"; return 0; fi
    sleep 0.05
  done
  echo "demo.sh: gave up waiting for '$2' in $1" >&2
  cat "$1" >&2
  return 1
}

# start_backend VAR MODE [DELAY] [LISTEN]: starts a backend (on LISTEN, else a
# free port of 127.0.0.1), sets VAR to its address.
# (Not in a $(...) subshell: pids must reach the cleanup.)
start_backend() {
  local out="$work/$1.out"
  python3 "$root/tests/backends/misbehave.py" --listen "${4:-127.0.0.1:0}" --mode "$2" ${3:+--delay "$3"} \
    >"$out" 2>&1 &
  pids+=($!)
  local line
  line=$(wait_for_line "$out" "ready ")
  printf -v "$1" '%s' "${line#ready }"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_backend healthy ok
start_backend resetting reset
start_backend closing close
start_backend slow slow 3
start_backend app502 status502
start_backend pooled keepalive_fin
# Up, but behind a socket file only root may open (nginx's workers run as
# nobody): the php-fpm socket whose listen.mode leaves nginx out.
start_backend private ok "" "unix:$work/private.sock"
chmod 600 "$work/private.sock"
refused="127.0.0.1:$(free_port)"
port=$(free_port)

cat >"$work/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 2;
pid $work/nginx.pid;
error_log $work/error.log error;
events { worker_connections 1024; }
http {
  log_format demo '\$remote_addr:\$remote_port \$status "\$upstream_addr" \$request_uri';
  access_log $work/access.log demo;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy; fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  upstream app { server $healthy; keepalive 8; }
  upstream flaky { server $refused; server $healthy; }
  upstream pool { server $pooled; keepalive 8; }
  server {
    listen 127.0.0.1:$port;
    proxy_read_timeout 1s;
    location /healthy  { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /retried  { proxy_pass http://flaky; }
    location /refused  { proxy_pass http://$refused; }
    location /reset    { proxy_pass http://$resetting; }
    location /closed   { proxy_pass http://$closing; }
    location /slow     { proxy_pass http://$slow; }
    location /app-502  { proxy_pass http://$app502; }
    location /order    { proxy_pass http://pool; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /private  { proxy_pass http://$private:; }
  }
}
CONF
/usr/sbin/nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
for _ in $(seq 200); do
  curl -s -o /dev/null "http://127.0.0.1:$port/healthy" && break
  sleep 0.05
done

echo "== nginx on 127.0.0.1:$port; upstreams: healthy $healthy, refusing $refused, resetting $resetting,"
echo "   closing $closing, slow $slow, answering 502 itself $app502,"
echo "   closing pooled keepalive connections as they are reused $pooled,"
echo "   up behind a socket file nginx's workers may not open $private"
echo "== why502 trace (one line per gateway error, as it happens):"
"$root/build/why502" trace --format text 2>"$work/why502.err" &
tracer_pid=$!
wait_for_line "$work/why502.err" "ready" >/dev/null

for path in healthy refused healthy reset closed retried app-502 slow healthy refused private; do
  curl -s -o /dev/null -w "" "http://127.0.0.1:$port/$path" || true
done
# A GET, then a POST on the same client connection (so the same worker and
# its keepalive pool): the backend hangs up on the pooled connection.
curl -s -o /dev/null "http://127.0.0.1:$port/order" --next -s -o /dev/null -d item=1 "http://127.0.0.1:$port/order" || true
sleep 0.2  # let the last record print before the summary below
kill -INT "$tracer_pid"
wait "$tracer_pid" || true
tracer_pid=""
echo
echo "== nginx's access log, for comparison:"
cat "$work/access.log"
# The summary: records, events and lost events (the line that counts them).
echo "== $(grep -m1 " gateway errors, " "$work/why502.err")"
