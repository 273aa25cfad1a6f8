#include "scenario.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace why502::testing {
namespace {

using namespace std::chrono_literals;

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
  return s;
}

// Waits (polling /proc) until pid is gone; it may not be our child.
// Gone, or a zombie that whoever adopted it (a detached master is not our
// child) has yet to reap.
bool exited(pid_t pid) {
  if (kill(pid, 0) != 0) return true;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const auto close = stat.rfind(')');
  return close == std::string::npos || (close + 2 < stat.size() && stat[close + 2] == 'Z');
}

bool wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (exited(pid)) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool port_accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// A socket bound to a port of the kernel's choosing on 127.0.0.1, not
// listening: while it is open no other bind can take the port. -1 on failure.
int bind_any_loopback_port(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Every port this test process was given, for any role: the kernel may hand
// a closed port out again, and a port must never come back in another role
// (a test's "refused" port as the next nginx's health port, nginx's own port,
// free again between two of its starts, as the health port of the next).
std::set<int>& ports_given() {
  static std::set<int> given;
  return given;
}

// bind_any_loopback_port for a port never given before in this process.
int bind_new_loopback_port(int* port) {
  std::vector<int> given_before;  // kept bound meanwhile, so the kernel offers others
  int fd = -1;
  for (int attempt = 0; attempt < 1000 && fd < 0; ++attempt) {
    const int candidate = bind_any_loopback_port(port);
    if (candidate < 0) continue;
    if (ports_given().insert(*port).second)
      fd = candidate;
    else
      given_before.push_back(candidate);
  }
  for (int other : given_before) close(other);
  return fd;
}

}  // namespace

Scenario::Scenario() {
  char tmpl[] = "/tmp/why502-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  // nginx workers run as nobody: they must reach the unix sockets in here.
  std::filesystem::permissions(dir_, std::filesystem::perms::all);
  // Held until nginx starts: a backend or refused port bound meanwhile (on
  // port 0) would otherwise be free to take them.
  nginx_port_ = hold_port();
  tls_port_ = hold_port();
}

Scenario::~Scenario() {
  tracer_.reset();
  // A master that is not our child (after a binary upgrade) first.
  const pid_t master = nginx_master();
  if (master > 0 && (!nginx_ || nginx_->pid() != master) && kill(master, SIGTERM) == 0) wait_gone(master, 5s);
  if (nginx_) {
    nginx_->signal(SIGTERM);
    nginx_->wait_exit(5s);
  }
  nginx_.reset();
  for (auto& b : backends_) {
    b->signal(SIGTERM);
    b->wait_exit(3s);
  }
  backends_.clear();
  release_port_holds();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

int Scenario::free_port() {
  int port = 0;
  const int fd = bind_new_loopback_port(&port);
  if (fd < 0) throw std::runtime_error("no unused free port on 127.0.0.1");
  close(fd);
  return port;
}

int Scenario::refused_port() {
  // Bound and held until the run ends, never listening: a SYN to it is
  // answered with a reset, and no backend or nginx started later can take it.
  int port = 0;
  if (bind_new_loopback_port(&port) < 0) throw std::runtime_error("cannot hold a port on 127.0.0.1");
  return port;  // the descriptor stays open on purpose
}

int Scenario::hold_port() {
  int port = 0;
  const int fd = bind_new_loopback_port(&port);
  if (fd < 0) throw std::runtime_error("cannot hold a port on 127.0.0.1");
  port_holds_.push_back(fd);
  return port;
}

void Scenario::release_port_holds() {
  for (int fd : port_holds_) close(fd);
  port_holds_.clear();
}

std::string Scenario::start_backend(const std::string& mode, const std::string& listen, double delay) {
  std::vector<std::string> argv = {"python3", std::string(WHY502_SOURCE_DIR) + "/tests/backends/misbehave.py",
                                   "--listen", replace_all(listen, "{DIR}", dir_), "--mode", mode};
  if (delay >= 0) {
    argv.push_back("--delay");
    argv.push_back(std::to_string(delay));
  }
  return start_helper(argv);
}

std::vector<std::string> Scenario::in_netns(std::vector<std::string> argv) const {
  if (!netns_.empty()) argv.insert(argv.begin(), {"ip", "netns", "exec", netns_});
  return argv;
}

std::string Scenario::start_helper(const std::vector<std::string>& argv) {
  auto helper = std::make_unique<ChildProcess>(in_netns(argv));
  auto line = helper->wait_for_line("ready ", 10s);
  if (!line) throw std::runtime_error(argv[1] + " did not start: " + helper->output());
  backends_.push_back(std::move(helper));
  return line->substr(6);
}

std::string Scenario::start_gunicorn(int timeout_s) {
  const std::string addr = "127.0.0.1:" + std::to_string(free_port());
  auto gunicorn = std::make_unique<ChildProcess>(std::vector<std::string>{
      "gunicorn", "--chdir", std::string(WHY502_SOURCE_DIR) + "/tests/backends", "--bind", addr, "--workers", "1",
      "--timeout", std::to_string(timeout_s), "--graceful-timeout", "1", "slow_app:app"});
  if (!gunicorn->wait_for_text("Booting worker", 15s)) throw std::runtime_error("gunicorn did not start: " + gunicorn->output());
  backends_.push_back(std::move(gunicorn));
  return addr;
}

Scenario::Uwsgi Scenario::start_uwsgi(const std::string& app, const std::vector<std::string>& extra) {
  Uwsgi at{"127.0.0.1:" + std::to_string(free_port()), "unix:" + dir_ + "/uwsgi.sock",
           "127.0.0.1:" + std::to_string(free_port())};
  // --die-on-term: uWSGI 2.0 takes SIGTERM for a reload otherwise.
  std::vector<std::string> argv = {"uwsgi", "--plugin", "python3", "--master", "--processes", "1", "--die-on-term",
                                   "--chdir", std::string(WHY502_SOURCE_DIR) + "/tests/backends", "--wsgi-file", app,
                                   "--callable", "app", "--socket", at.uwsgi, "--socket", at.unix_socket.substr(5),
                                   "--chmod-socket=666", "--scgi-socket", at.scgi};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto uwsgi = std::make_unique<ChildProcess>(in_netns(argv));
  if (!uwsgi->wait_for_text("spawned uWSGI worker 1", 15s))
    throw std::runtime_error("uWSGI did not start: " + uwsgi->output());
  backends_.push_back(std::move(uwsgi));
  return at;
}

std::string Scenario::start_php_fpm(const std::map<std::string, std::string>& scripts, const std::string& pool_extra) {
  std::filesystem::create_directories(dir_ + "/www");
  for (const auto& [name, source] : scripts) std::ofstream(dir_ + "/www/" + name) << source;
  std::filesystem::permissions(dir_ + "/www", std::filesystem::perms::all);
  std::ofstream(dir_ + "/php-fpm.conf") << "[global]\npid = " << dir_ << "/php-fpm.pid\n"
                                        << "error_log = /proc/self/fd/2\ndaemonize = no\n"
                                        << "[www]\nuser = nobody\ngroup = nogroup\n"
                                        << "listen = " << dir_ << "/php.sock\nlisten.mode = 0666\n"
                                        << "pm = static\npm.max_children = 4\n" << pool_extra;
  auto fpm = std::make_unique<ChildProcess>(
      std::vector<std::string>{"/usr/sbin/php-fpm8.2", "-F", "-R", "-y", dir_ + "/php-fpm.conf"});
  if (!fpm->wait_for_text("ready to handle connections", 15s))
    throw std::runtime_error("php-fpm did not start: " + fpm->output());
  backends_.push_back(std::move(fpm));
  return "unix:" + dir_ + "/php.sock";
}

pid_t Scenario::nginx_master() const {
  std::ifstream in(dir_ + "/nginx.pid");
  pid_t pid = 0;
  in >> pid;
  return pid;
}

std::vector<pid_t> Scenario::nginx_workers() const {
  std::vector<pid_t> workers;
  const pid_t master = nginx_master();
  std::ifstream in("/proc/" + std::to_string(master) + "/task/" + std::to_string(master) + "/children");
  for (pid_t pid; in >> pid;) workers.push_back(pid);
  return workers;
}

void Scenario::stop_nginx() {
  note_nginx_processes();
  const pid_t master = nginx_master();
  if (nginx_ && nginx_->pid() == master) {
    nginx_->signal(SIGQUIT);
    nginx_->wait_exit(10s);
    nginx_.reset();
  } else if (master > 0 && kill(master, SIGQUIT) == 0) {
    wait_gone(master, 10s);
  }
  std::filesystem::remove(dir_ + "/nginx.pid");
}

std::string nginx_under_test() {
  const char* binary = std::getenv("WHY502_TEST_NGINX");
  return binary && *binary ? binary : "/usr/sbin/nginx";
}

const std::string& nginx_under_test_build() {
  static const std::string build = run_command({nginx_under_test(), "-V"});
  return build;
}

void install_nginx_copy(const std::string& path) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  const std::string staged = path + ".new";
  std::filesystem::copy_file(nginx_under_test(), staged, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(staged, std::filesystem::perms::owner_all);
  std::filesystem::rename(staged, path);
}

void Scenario::start_nginx(const std::string& servers, int workers, int worker_connections,
                           const std::string& binary, bool daemon) {
  std::string conf = std::string(daemon ? "daemon on;" : "daemon off;") + "\nmaster_process on;\nworker_processes " +
                     std::to_string(workers) +
                     ";\npid {DIR}/nginx.pid;\nerror_log {DIR}/error.log error;\n"
                     "events { worker_connections " + std::to_string(worker_connections) + "; }\n"
                     "http {\n"
                     "  log_format why502 '$remote_addr $remote_port $status \"$upstream_addr\" $request_uri';\n"
                     "  access_log {DIR}/access.log why502;\n"
                     "  client_body_temp_path {DIR}/body; proxy_temp_path {DIR}/proxy;\n"
                     "  fastcgi_temp_path {DIR}/fastcgi; uwsgi_temp_path {DIR}/uwsgi; scgi_temp_path {DIR}/scgi;\n"
                     "  server { listen 127.0.0.1:{HEALTH_PORT}; access_log off; location / { return 204; } }\n" +
                     servers + "\n}\n";
  const int health_port = hold_port();  // released with nginx's own, just before it starts
  conf = replace_all(conf, "{HEALTH_PORT}", std::to_string(health_port));
  conf = replace_all(conf, "{PORT}", std::to_string(nginx_port_));
  conf = replace_all(conf, "{TLS_PORT}", std::to_string(tls_port_));
  conf = replace_all(conf, "{DIR}", dir_);
  std::ofstream(dir_ + "/nginx.conf") << conf;
  // Where a source build logs until it has read error_log (its default
  // error-log path is logs/error.log under -p).
  std::filesystem::create_directories(dir_ + "/logs");
  release_port_holds();
  nginx_ = std::make_unique<ChildProcess>(in_netns({binary, "-c", dir_ + "/nginx.conf", "-p", dir_}));
  if (daemon) {
    if (nginx_->wait_exit(10s) != 0) throw std::runtime_error("nginx did not start: " + nginx_->output());
    nginx_.reset();  // the master detached; it is stopped through its pid file
  }
  // Ready when a worker answers the health listener. Generous: the sanitizer
  // build may be compiling beside the suite on two cores.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (nginx_ && nginx_->wait_exit(0ms)) throw std::runtime_error("nginx exited: " + nginx_->output());
    if (!netns_.empty() || port_accepts(health_port)) {
      int status = 0;
      std::string code = run_command(in_netns({"curl", "-s", "--max-time", "2", "-o", "/dev/null", "-w",
                                               "%{http_code}", "http://127.0.0.1:" + std::to_string(health_port) + "/"}),
                                     &status);
      if (code == "204") {
        note_nginx_processes();
        return;
      }
    }
    std::this_thread::sleep_for(20ms);  // polling a readiness condition, not hoping
  }
  throw std::runtime_error("nginx did not answer its health listener in 30 s; its output: " +
                           (nginx_ ? nginx_->output() : "") + "; its error.log: " + error_log());
}

std::vector<std::string> as_on_a_fresh_host(const std::vector<std::string>& argv, bool cgroups_mounted) {
  std::string unmount = "umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug/tracing 2>/dev/null; ";
  if (!cgroups_mounted) unmount += "umount -l /sys/fs/cgroup/unified 2>/dev/null; umount -l /sys/fs/cgroup 2>/dev/null; ";
  // unshare execs in place, so the pid the caller signals is why502's.
  std::vector<std::string> wrapped = {
      "unshare", "--mount", "--propagation", "private", "sh", "-c", unmount + "exec \"$@\"", "sh"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

void Scenario::note_nginx_processes() {
  const pid_t master = nginx_master();
  if (master <= 0) return;
  nginx_pids_.insert(master);
  for (pid_t worker : nginx_workers()) nginx_pids_.insert(worker);
}

std::vector<std::string> Scenario::why502_argv(std::vector<std::string> argv, const std::vector<std::string>& extra) {
  argv.insert(argv.end(), extra.begin(), extra.end());
  const bool has_pid = std::find(extra.begin(), extra.end(), "--pid") != extra.end();
  tracer_scoped_ = has_pid || (scope_tracer_ && nginx_master() > 0);
  if (tracer_scoped_ && !has_pid) argv.insert(argv.end(), {"--pid", std::to_string(nginx_master())});
  if (without_cap_sys_admin_) argv.insert(argv.begin(), {"setpriv", kBoundingSetWithoutSysAdmin});
  return as_on_a_fresh_host(argv, cgroups_mounted_);
}

void Scenario::start_tracer(const std::vector<std::string>& extra_args) {
  tracer_ = std::make_unique<ChildProcess>(
      why502_argv({WHY502_BINARY, "trace", "--format", "json", "--output", dir_ + "/records.jsonl"}, extra_args));
  if (!tracer_->wait_for_line("ready", 30s)) throw std::runtime_error("why502 not ready: " + tracer_->output());
}

void Scenario::start_recorder(const std::string& path, const std::vector<std::string>& extra_args) {
  tracer_ = std::make_unique<ChildProcess>(why502_argv({WHY502_BINARY, "record", "-o", path}, extra_args));
  if (!tracer_->wait_for_line("ready", 30s)) throw std::runtime_error("why502 record not ready: " + tracer_->output());
}

void Scenario::stop_recorder() {
  tracer_->signal(SIGINT);
  auto status = tracer_->wait_exit(10s);
  if (!status || *status != 0) throw std::runtime_error("why502 record did not exit 0 on SIGINT: " + tracer_->output());
}

std::vector<nlohmann::json> Scenario::stop_tracer() {
  note_nginx_processes();
  tracer_->signal(SIGINT);
  auto status = tracer_->wait_exit(10s);
  if (!status || *status != 0)
    throw std::runtime_error("why502 did not exit 0 on SIGINT: " + tracer_->output());
  std::vector<nlohmann::json> records;
  std::ifstream in(dir_ + "/records.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json record = nlohmann::json::parse(line);
    // An unscoped tracer also sees other nginx on this host: keep ours.
    if (!tracer_scoped_ && !nginx_pids_.count(record.value("pid", pid_t{0}))) continue;
    records.push_back(std::move(record));
  }
  return records;
}

std::vector<int> Scenario::curl(const std::vector<std::string>& urls, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"curl", "-s", "-w", "%{http_code}\\n", "--max-time", "20"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  for (const auto& url : urls) {
    argv.insert(argv.end(), {"-o", "/dev/null", replace_all(url, "{PORT}", std::to_string(nginx_port_))});
  }
  std::istringstream out(run_command(in_netns(argv)));
  std::vector<int> codes;
  int code;
  while (out >> code) codes.push_back(code);
  return codes;
}

std::vector<AccessLine> Scenario::access_log() const {
  std::vector<AccessLine> lines;
  std::istringstream in(read_file(dir_ + "/access.log"));
  std::string text;
  while (std::getline(in, text)) {
    // $remote_addr $remote_port $status "$upstream_addr" $request_uri
    std::istringstream fields(text);
    std::string addr, port;
    AccessLine line;
    fields >> addr >> port >> line.status;
    auto open = text.find('"'), close = text.rfind('"');
    line.upstream_addr = text.substr(open + 1, close - open - 1);
    line.uri = text.substr(close + 2);
    // nginx parts the attempts of one upstream run with ", ", and the runs of
    // one request (error_page sent it to another location) with " : ".
    const size_t comma = line.upstream_addr.rfind(", "), colon = line.upstream_addr.rfind(" : ");
    if (comma != std::string::npos && (colon == std::string::npos || comma > colon))
      line.last_upstream = line.upstream_addr.substr(comma + 2);
    else
      line.last_upstream = colon == std::string::npos ? line.upstream_addr : line.upstream_addr.substr(colon + 3);
    if (line.last_upstream == "-") line.last_upstream = "";
    line.client = addr.find(':') != std::string::npos && addr != "unix:" ? "[" + addr + "]:" + port : addr + ":" + port;
    if (addr == "unix:") line.client = "unix:";
    lines.push_back(line);
  }
  return lines;
}

std::string Scenario::error_log() const { return read_file(dir_ + "/error.log"); }

void Scenario::make_certificate() {
  int status = 0;
  run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
               "-keyout", dir_ + "/key.pem", "-out", dir_ + "/cert.pem"},
              &status);
  if (status != 0) throw std::runtime_error("openssl could not make a certificate");
}

std::set<uint32_t> bpf_program_ids_of(pid_t pid) {
  std::set<uint32_t> ids;
  std::error_code gone;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fdinfo", gone)) {
    std::ifstream in(fd.path());
    for (std::string line; std::getline(in, line);)
      if (line.rfind("prog_id:", 0) == 0) ids.insert(static_cast<uint32_t>(std::stoul(line.substr(8))));
  }
  return ids;
}

std::vector<std::string> loaded_program_names(const std::set<uint32_t>& ids) {
  const nlohmann::json programs = nlohmann::json::parse(run_command({"bpftool", "-j", "prog", "show"}));
  std::vector<std::string> names;
  for (const auto& p : programs)
    if (ids.count(p.value("id", 0u))) names.push_back(p.value("name", ""));
  return names;
}

std::string match_records(const std::vector<AccessLine>& access, const std::vector<nlohmann::json>& records,
                          const std::map<std::string, std::string>& cause_by_upstream) {
  return match_records(access, records, [&](const AccessLine& line) {
    auto it = cause_by_upstream.find(line.last_upstream);
    return it == cause_by_upstream.end() ? std::string() : it->second;
  });
}

std::string match_records(const std::vector<AccessLine>& access, const std::vector<nlohmann::json>& records,
                          const std::function<std::string(const AccessLine&)>& expected_cause) {
  std::vector<bool> used(records.size(), false);
  std::string problems;
  for (const AccessLine& line : access) {
    if (line.status != 502 && line.status != 503 && line.status != 504) continue;
    const std::string expected = expected_cause(line);
    if (expected.empty()) {
      problems += "no expected cause for upstream '" + line.last_upstream + "' (" + line.uri + ")\n";
      continue;
    }
    bool found = false;
    for (size_t i = 0; i < records.size() && !found; ++i) {
      const auto& r = records[i];
      // A record without an upstream (limited) has "upstream": null; the access log has "-".
      const auto upstream = r.find("upstream");
      const std::string last_upstream = upstream != r.end() && upstream->is_string() ? upstream->get<std::string>() : "";
      if (used[i] || r.value("client", "") != line.client || r.value("status", 0) != line.status ||
          last_upstream != line.last_upstream)
        continue;
      used[i] = found = true;
      if (r.value("cause", "") != expected)
        problems += line.uri + " " + std::to_string(line.status) + ": cause " + r.value("cause", "") + ", expected " +
                    expected + "\n";
    }
    if (!found)
      problems += "no record for " + line.client + " " + std::to_string(line.status) + " " + line.last_upstream + " " +
                  line.uri + "\n";
  }
  for (size_t i = 0; i < records.size(); ++i)
    if (!used[i]) problems += "record matches no access-log line: " + records[i].dump() + "\n";
  return problems;
}

std::string errors_as_nginx_wrote(const std::vector<nlohmann::json>& records, const std::string& error_log) {
  std::string problems;
  for (const auto& r : records) {
    const auto words = r.find("nginx_error");
    if (words == r.end() || !words->is_string()) continue;
    const std::string text = words->get<std::string>();
    // "..." stands for text why502 withholds (an upstream's header bytes):
    // the pieces around it must appear in order in one line.
    std::vector<std::string_view> pieces;
    for (size_t at = 0;;) {
      const size_t gap = text.find("...", at);
      pieces.push_back(std::string_view(text).substr(at, gap == std::string::npos ? std::string::npos : gap - at));
      if (gap == std::string::npos) break;
      at = gap + 3;
    }
    bool found = false;
    for (size_t start = 0; start < error_log.size() && !found;) {
      size_t end = error_log.find('\n', start);
      if (end == std::string::npos) end = error_log.size();
      const std::string_view line = std::string_view(error_log).substr(start, end - start);
      size_t at = 0;
      found = true;
      for (std::string_view piece : pieces) {
        const size_t where = line.find(piece, at);
        if (where == std::string_view::npos) {
          found = false;
          break;
        }
        at = where + piece.size();
      }
      start = end + 1;
    }
    if (!found) problems += "nginx_error not in error.log: " + text + "\n";
  }
  return problems;
}

}  // namespace why502::testing
