// One integration scenario: real backends, a real nginx on 127.0.0.1, and
// `why502 trace` — started in that order, each waited on through its own
// readiness signal, all stopped and removed when the scenario ends.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace why502::testing {

// The nginx the suites run: $WHY502_TEST_NGINX (a build of the matrix, see
// scripts/test-matrix.sh) or Debian's /usr/sbin/nginx.
std::string nginx_under_test();
// What `nginx -V` says of it (version and configure arguments), read once.
const std::string& nginx_under_test_build();
// A copy of the nginx under test at path (a new inode each time).
void install_nginx_copy(const std::string& path);

struct AccessLine {
  std::string client;         // as why502 writes it: ip:port, [ip6]:port
  int status = 0;
  std::string upstream_addr;  // nginx's $upstream_addr, as logged
  std::string last_upstream;  // the last peer in it
  std::string uri;
};

class Scenario {
 public:
  Scenario();
  ~Scenario();

  const std::string& dir() const { return dir_; }
  int nginx_port() const { return nginx_port_; }
  int tls_port() const { return tls_port_; }

  // Starts tests/backends/misbehave.py; returns its address as nginx names it.
  std::string start_backend(const std::string& mode, const std::string& listen = "127.0.0.1:0", double delay = -1);
  // Starts any helper that prints "ready ADDR" once listening; returns ADDR.
  std::string start_helper(const std::vector<std::string>& argv);
  // The helper or backend started last (to wait on its output or kill it).
  ChildProcess& last_started() { return *backends_.back(); }
  // Starts a real gunicorn (Debian package) serving tests/backends/slow_app.py
  // on a free 127.0.0.1 port with its worker --timeout; returns the address.
  std::string start_gunicorn(int timeout_s);
  // Starts a real uWSGI (Debian's uwsgi-core, python3 plugin): one master and
  // one worker serving tests/backends/APP's `app`, on a uwsgi socket (TCP and
  // unix:{DIR}/uwsgi.sock) and an SCGI socket (TCP), with extra options
  // (e.g. --harakiri 1).
  struct Uwsgi {
    std::string uwsgi;  // 127.0.0.1:PORT
    std::string unix_socket;  // unix:{DIR}/uwsgi.sock
    std::string scgi;  // 127.0.0.1:PORT
  };
  Uwsgi start_uwsgi(const std::string& app, const std::vector<std::string>& extra = {});
  // Starts php-fpm (Debian package) on unix:{DIR}/php.sock serving {DIR}/www,
  // with the given scripts (name → PHP source); returns "unix:{DIR}/php.sock".
  std::string start_php_fpm(const std::map<std::string, std::string>& scripts, const std::string& pool_extra = "");
  // From now on nginx, backends and curl run inside this network namespace
  // (which the caller created and removes), as in a container.
  void use_netns(const std::string& name) { netns_ = name; }
  // A free TCP port on 127.0.0.1 that nothing listens on, never the same
  // one twice in a run (a "refused" port stays refused).
  static int free_port();
  // A port on 127.0.0.1 that refuses connections for the rest of the run.
  static int refused_port();

  // Writes nginx.conf around the given http{} body and starts nginx. The body
  // may use {PORT} and {TLS_PORT} and {DIR}; a /healthz location is added.
  // daemon: nginx detaches (a binary upgrade needs it); stopped by pid file.
  void start_nginx(const std::string& servers, int workers = 1, int worker_connections = 1024,
                   const std::string& binary = nginx_under_test(), bool daemon = false);
  // The master's pid from {DIR}/nginx.pid (a new master after a binary upgrade).
  pid_t nginx_master() const;
  // The master's children (its workers), from /proc.
  std::vector<pid_t> nginx_workers() const;
  // Stops the running master (SIGQUIT) and waits until it is gone.
  void stop_nginx();
  // Starts why502 trace --format json and waits for its "ready" line. It
  // runs as on a freshly booted host (no tracefs mounted), and is scoped to
  // this scenario's nginx (--pid of its master) when one runs, so that other
  // nginx on a shared host do not reach its records.
  void start_tracer(const std::vector<std::string>& extra_args = {});
  // For a test of why502 following nginx beyond one master (a restart): the
  // next tracer is not scoped with --pid. Records of other nginx are then
  // dropped by stop_tracer, by the pids this scenario's nginx had.
  void trace_every_nginx() { scope_tracer_ = false; }
  // The next tracers run as on a host with no cgroup hierarchy mounted (an
  // init or a container that mounts none): why502 cannot tell nginx's
  // sockets by their cgroup.
  void trace_without_cgroup_mounts() { cgroups_mounted_ = false; }
  // The next tracers run with the other four of the five capabilities it
  // may be given, not CAP_SYS_ADMIN: no uprobes, no cgroup2 mount of its own.
  void trace_without_cap_sys_admin(bool without = true) { without_cap_sys_admin_ = without; }
  // SIGINT, expects exit 0, returns the JSON records it wrote.
  std::vector<nlohmann::json> stop_tracer();
  // Starts why502 record -o PATH (extra args appended), waits for "ready".
  void start_recorder(const std::string& path, const std::vector<std::string>& extra_args = {});
  // SIGINT, expects exit 0.
  void stop_recorder();

  // curl each URL (one connection, in order); returns the HTTP codes.
  std::vector<int> curl(const std::vector<std::string>& urls, const std::vector<std::string>& extra = {});
  std::vector<AccessLine> access_log() const;
  std::string error_log() const;
  std::string tracer_output() const { return tracer_ ? tracer_->output() : ""; }
  ChildProcess& tracer() { return *tracer_; }

  // A self-signed certificate for the TLS listener: {DIR}/cert.pem, key.pem.
  void make_certificate();

 private:
  // argv, run inside netns_ when one is set.
  std::vector<std::string> in_netns(std::vector<std::string> argv) const;
  // argv for why502: without tracefs, and with --pid when it is to be scoped.
  std::vector<std::string> why502_argv(std::vector<std::string> argv, const std::vector<std::string>& extra);
  void note_nginx_processes();
  // A free 127.0.0.1 port kept bound (not listening) until release_port_holds().
  int hold_port();
  void release_port_holds();

  std::string dir_;
  std::string netns_;
  int nginx_port_;
  int tls_port_;
  std::vector<int> port_holds_;  // descriptors keeping nginx's ports until it binds them
  std::vector<std::unique_ptr<ChildProcess>> backends_;
  std::unique_ptr<ChildProcess> nginx_;
  std::unique_ptr<ChildProcess> tracer_;
  bool scope_tracer_ = true;
  bool cgroups_mounted_ = true;
  bool without_cap_sys_admin_ = false;
  bool tracer_scoped_ = false;
  std::set<pid_t> nginx_pids_;  // every master and worker this scenario's nginx had
};

// setpriv's bounding set of why502's capabilities but CAP_SYS_ADMIN.
inline constexpr const char* kBoundingSetWithoutSysAdmin = "--bounding-set=-all,+bpf,+perfmon,+dac_read_search,+sys_ptrace";

// argv run in a mount namespace of its own where tracefs is not mounted, as
// on a freshly booted host: why502 must not need it. Nor any cgroup
// hierarchy, unless cgroups_mounted.
std::vector<std::string> as_on_a_fresh_host(const std::vector<std::string>& argv, bool cgroups_mounted = true);

// The ids of the BPF programs a process holds descriptors of (its
// /proc/PID/fdinfo): on a shared host, other why502 hold programs too.
std::set<uint32_t> bpf_program_ids_of(pid_t pid);
// The names of those of ids still loaded (bpftool cuts names to 15 characters).
std::vector<std::string> loaded_program_names(const std::set<uint32_t>& ids);

// For every 502/503/504 line of the access log, exactly one record with the
// same client, status and upstream, whose cause is expected_cause(line); and
// no record that matches no line. Returns "" or what went wrong.
std::string match_records(const std::vector<AccessLine>& access, const std::vector<nlohmann::json>& records,
                          const std::function<std::string(const AccessLine&)>& expected_cause);
// The same, with the expected cause chosen by the line's last upstream.
std::string match_records(const std::vector<AccessLine>& access, const std::vector<nlohmann::json>& records,
                          const std::map<std::string, std::string>& cause_by_upstream);

// Every record's nginx_error must be what nginx wrote: a part of one line of
// error_log, word for word (its arguments filled in as nginx filled them).
// Returns "" or the records whose words error.log does not show.
std::string errors_as_nginx_wrote(const std::vector<nlohmann::json>& records, const std::string& error_log);

}  // namespace why502::testing
