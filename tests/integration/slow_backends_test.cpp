// Slow backends on this host: what the backend was doing while nginx waited
// (blocked on its own dependency, on the CPU, throttled by its cgroup), and
// the cgroups records name. Each asserted per request against the access log.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using SlowBackends = RootTest;

const std::string kSlowBackend = std::string(WHY502_SOURCE_DIR) + "/tests/backends/slow_backend.py";

// A timeout of 1 s is over before why502 reads the backend during the wait
// (past 1 s, once a second): its CPU figures come from a sample as nginx
// gives up. One of 4 s is read during the wait.
std::string slow_server(const std::string& backend, int read_timeout_s = 1) {
  return "  server {\n    listen 127.0.0.1:{PORT};\n" +
         proxy("/slow", "http://" + backend, "proxy_read_timeout " + std::to_string(read_timeout_s) + "s;") +
         "  }\n";
}

// nginx times out on one request to backend; its record, matched to the access log.
nlohmann::json one_slow_record(Scenario& s, const std::string& backend, int read_timeout_s = 1,
                               const std::vector<std::string>& tracer_args = {}) {
  s.start_nginx(slow_server(backend, read_timeout_s));
  s.start_tracer(tracer_args);
  const auto codes = s.curl({"http://127.0.0.1:{PORT}/slow"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{504})) << s.error_log();
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{backend, "slow_backend"}}), "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
  if (records.size() != 1) return nlohmann::json::object();
  return records[0];
}

// The share in "the thread was on CPU N% of a …", -1 without one.
int cpu_share(const nlohmann::json& r) {
  std::smatch m;
  const std::string evidence = evidence_of(r);
  if (!std::regex_search(evidence, m, std::regex("the thread was on CPU ([0-9]+)% of a [0-9]+ ms sample")))
    return -1;
  return std::stoi(m[1]);
}

// "the thread was on CPU N% of the last X s of nginx's wait": N and X, or -1s.
std::pair<int, double> cpu_share_over_the_wait(const nlohmann::json& r) {
  std::smatch m;
  const std::string evidence = evidence_of(r);
  if (!std::regex_search(evidence, m,
                         std::regex("the thread was on CPU ([0-9]+)% of the last ([0-9.]+) s of nginx's wait")))
    return {-1, -1};
  return {std::stoi(m[1]), std::stod(m[2])};
}

TEST_F(SlowBackends, BlockedOnItsOwnDependency) {
  Scenario s;
  const std::string dependency = s.start_helper({"python3", kSlowBackend, "silent"});
  const pid_t dependency_pid = s.last_started().pid();
  const std::string backend = s.start_helper({"python3", kSlowBackend, "blocked", dependency});
  const pid_t backend_pid = s.last_started().pid();
  const nlohmann::json r = one_slow_record(s, backend);
  const std::string evidence = evidence_of(r);
  EXPECT_NE(evidence.find("backend pid " + std::to_string(backend_pid) +
                          " (slow-blocked) had been blocked in recvfrom() on a connection to " + dependency +
                          " (fakedb, pid " + std::to_string(dependency_pid) + ") when nginx gave up"),
            std::string::npos)
      << evidence;
  EXPECT_EQ(evidence.find("CPU-throttled"), std::string::npos) << evidence;
  // Every record names nginx's cgroup; the backend's, as it is on this host.
  ASSERT_TRUE(r.contains("nginx_cgroup")) << r.dump();
  EXPECT_TRUE(r["nginx_cgroup"].is_string()) << r.dump();
  EXPECT_TRUE(r["backend_cgroup"].is_string()) << r.dump();
  EXPECT_TRUE(r.contains("nginx_unit") && r.contains("backend_unit")) << r.dump();
}

// Database clients (libpq, mysqlnd, a Python socket with a timeout) wait for
// their server in poll() on its one socket, not in recv(): the record still
// names the dependency.
TEST_F(SlowBackends, BlockedPollingItsOwnDependency) {
  Scenario s;
  const std::string dependency = s.start_helper({"python3", kSlowBackend, "silent"});
  const pid_t dependency_pid = s.last_started().pid();
  const std::string backend = s.start_helper({"python3", kSlowBackend, "polled", dependency});
  const pid_t backend_pid = s.last_started().pid();
  const std::string evidence = evidence_of(one_slow_record(s, backend));
  EXPECT_NE(evidence.find("backend pid " + std::to_string(backend_pid) +
                          " (slow-polled) had been blocked in poll() on a connection to " + dependency +
                          " (fakedb, pid " + std::to_string(dependency_pid) + ") when nginx gave up"),
            std::string::npos)
      << evidence;
}

// The same over a unix socket, as PHP's and Python's clients reach a local
// MySQL or PostgreSQL: the socket's path and the process serving it.
TEST_F(SlowBackends, BlockedPollingItsOwnDependencyOverAUnixSocket) {
  Scenario s;
  const std::string path = s.dir() + "/fakedb.sock";
  const std::string dependency = s.start_helper({"python3", kSlowBackend, "silent", path});
  const pid_t dependency_pid = s.last_started().pid();
  const std::string backend = s.start_helper({"python3", kSlowBackend, "polled", dependency});
  const pid_t backend_pid = s.last_started().pid();
  const std::string evidence = evidence_of(one_slow_record(s, backend));
  EXPECT_NE(evidence.find("backend pid " + std::to_string(backend_pid) +
                          " (slow-polled) had been blocked in poll() on a unix socket connection to " + path +
                          " (fakedb, pid " + std::to_string(dependency_pid) + ") when nginx gave up"),
            std::string::npos)
      << evidence;
}

// An event loop (asyncio here; Node and Go alike) blocks no thread on its
// database: the connection it sent on after nginx's request, unanswered, is
// named; under --lean too (when the backend's end last received data says
// when the request came).
TEST_F(SlowBackends, AnEventLoopAwaitingItsOwnDependency) {
  for (const bool lean : {false, true}) {
    SCOPED_TRACE(lean ? "--lean" : "trace");
    Scenario s;
    const std::string dependency = s.start_helper({"python3", kSlowBackend, "silent"});
    const pid_t dependency_pid = s.last_started().pid();
    const std::string backend = s.start_helper({"python3", kSlowBackend, "evented", dependency});
    const pid_t backend_pid = s.last_started().pid();
    const std::string evidence = evidence_of(
        one_slow_record(s, backend, 1, lean ? std::vector<std::string>{"--lean"} : std::vector<std::string>{}));
    EXPECT_NE(evidence.find("backend pid " + std::to_string(backend_pid) + " (slow-evented) had been blocked in "
                            "epoll_wait(): waiting for any of its descriptors"),
              std::string::npos)
        << evidence;
    EXPECT_NE(evidence.find("it had sent on its own connection to " + dependency + " (fakedb, pid " +
                            std::to_string(dependency_pid) +
                            ") after nginx's request, and had no answer from it when nginx gave up"),
              std::string::npos)
        << evidence;
  }
}

// The thread of backend_pid (comm) the evidence names as doing what the
// pattern `doing` says; 0 when none is.
pid_t thread_named(const std::string& evidence, pid_t backend_pid, const std::string& comm, const std::string& doing) {
  std::smatch m;
  const std::regex line("backend pid " + std::to_string(backend_pid) + " \\(" + comm + "\\), thread ([0-9]+) \\(" +
                        comm + "\\) of its [0-9]+, " + doing + " when nginx gave up");
  return std::regex_search(evidence, m, line) ? std::stoi(m[1]) : 0;
}

// A thread per request: the thread named is the request's, blocked on the
// dependency, not the main thread polling its listener.
TEST_F(SlowBackends, AThreadedBackendNamesTheThreadOnItsDependency) {
  Scenario s;
  const std::string dependency = s.start_helper({"python3", kSlowBackend, "silent"});
  const pid_t dependency_pid = s.last_started().pid();
  const std::string backend = s.start_helper({"python3", kSlowBackend, "threaded", dependency});
  const pid_t backend_pid = s.last_started().pid();
  const std::string evidence = evidence_of(one_slow_record(s, backend));
  const pid_t thread = thread_named(evidence, backend_pid, "slow-threaded",
                                    "had been blocked in poll\\(\\) on a connection to " + dependency +
                                        " \\(fakedb, pid " + std::to_string(dependency_pid) + "\\)");
  EXPECT_NE(thread, 0) << evidence;
  EXPECT_NE(thread, backend_pid) << evidence;
}

// The request's thread sleeps: it is named over the main thread's poll() of
// its listener.
TEST_F(SlowBackends, AThreadedBackendNamesTheSleepingThread) {
  Scenario s;
  const std::string backend = s.start_helper({"python3", kSlowBackend, "threaded-sleep"});
  const pid_t backend_pid = s.last_started().pid();
  const std::string evidence = evidence_of(one_slow_record(s, backend));
  const pid_t thread =
      thread_named(evidence, backend_pid, "slow-sleeper", "was sleeping in (clock_)?nanosleep\\(\\)");
  EXPECT_NE(thread, 0) << evidence;
  EXPECT_NE(thread, backend_pid) << evidence;
}

// The second request finds the backend still stuck on the first: its
// connection waits in the accept queue, never accept()ed.
TEST_F(SlowBackends, NeverAcceptedWhileStuckOnAnEarlierRequest) {
  Scenario s;
  const std::string dependency = s.start_helper({"python3", kSlowBackend, "silent"});
  const std::string backend = s.start_helper({"python3", kSlowBackend, "blocked", dependency});
  const pid_t backend_pid = s.last_started().pid();
  s.start_nginx(slow_server(backend));
  s.start_tracer();
  const auto codes = s.curl({"http://127.0.0.1:{PORT}/slow", "http://127.0.0.1:{PORT}/slow"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{504, 504})) << s.error_log();
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{backend, "slow_backend"}}), "")
      << s.error_log() << s.tracer_output();
  ASSERT_EQ(records.size(), 2u);
  const std::string second = evidence_of(records[1]);
  EXPECT_NE(second.find("the backend never accept()ed nginx's connection: it waits in the accept queue of " + backend +
                        ", whose owner backend pid " + std::to_string(backend_pid) +
                        " (slow-blocked) had been blocked in recvfrom() on a connection to " + dependency),
            std::string::npos)
      << second;
}

// An upload to a backend blocked on its own dependency: the body stays
// unread, nginx's send times out (not its read), and the record says so
// along with what the backend was doing.
TEST_F(SlowBackends, StoppedReadingAnUpload) {
  Scenario s;
  const std::string dependency = s.start_helper({"python3", kSlowBackend, "silent"});
  const std::string backend = s.start_helper({"python3", kSlowBackend, "blocked", dependency});
  const pid_t backend_pid = s.last_started().pid();
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    client_max_body_size 64m;\n" +
                proxy("/upload", "http://" + backend, "proxy_send_timeout 1s; proxy_read_timeout 30s;") + "  }\n");
  // Far more than the kernel buffers between nginx and an unread socket.
  const std::string body = s.dir() + "/upload.bin";
  std::ofstream(body).close();
  std::filesystem::resize_file(body, 32 << 20);
  s.start_tracer();
  const auto codes = s.curl({"http://127.0.0.1:{PORT}/upload"}, {"--data-binary", "@" + body});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{504})) << s.error_log();
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{backend, "slow_backend"}}), "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
  ASSERT_EQ(records.size(), 1u);
  const nlohmann::json& r = records[0];
  EXPECT_EQ(r["nginx_error"], "upstream timed out (110: Connection timed out) while sending request to upstream")
      << r.dump();
  EXPECT_EQ(r["evidence"][0],
            "the backend stopped reading the request: nginx could not send the rest of it within proxy_send_timeout "
            "(fastcgi_send_timeout, uwsgi_send_timeout, ...)")
      << r.dump();
  EXPECT_NE(evidence_of(r).find("backend pid " + std::to_string(backend_pid) +
                                " (slow-blocked) had been blocked in recvfrom() on a connection to " + dependency),
            std::string::npos)
      << r.dump();
}

// Stopped by SIGSTOP before the request: the kernel queues nginx's
// connection, the backend runs no code to accept it.
TEST_F(SlowBackends, Stopped) {
  Scenario s;
  const std::string backend = s.start_helper({"python3", kSlowBackend, "busy", "0"});
  const pid_t backend_pid = s.last_started().pid();
  ASSERT_EQ(kill(backend_pid, SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { kill(pid, SIGCONT); }  // so that the scenario's SIGTERM ends it
  } resume{backend_pid};
  const nlohmann::json r = one_slow_record(s, backend);
  const std::string evidence = evidence_of(r);
  EXPECT_NE(evidence.find("the backend never accept()ed nginx's connection: it waits in the accept queue of " +
                          backend + ", whose owner backend pid " + std::to_string(backend_pid) +
                          " (slow-busy) was stopped (SIGSTOP or job control)"),
            std::string::npos)
      << evidence;
}

TEST_F(SlowBackends, OnTheCpu) {
  Scenario s;
  const std::string backend = s.start_helper({"python3", kSlowBackend, "busy", "4"});
  const pid_t backend_pid = s.last_started().pid();
  const nlohmann::json r = one_slow_record(s, backend);
  const std::string evidence = evidence_of(r);
  EXPECT_NE(evidence.find("backend pid " + std::to_string(backend_pid) +
                          " (slow-busy) was running or runnable, not waiting in a system call when nginx gave up"),
            std::string::npos)
      << evidence;
  // It spins: on CPU for most of the sample, on this shared two-core machine at least a third.
  EXPECT_GE(cpu_share(r), 34) << evidence;
}

// nginx waits 4 s: the backend is read during the wait (between 1 and 2 s
// in), and its share is of the rest of the wait, not of a sample after it.
TEST_F(SlowBackends, OnTheCpuOverNginxsWait) {
  Scenario s;
  const std::string backend = s.start_helper({"python3", kSlowBackend, "busy", "8"});
  const nlohmann::json r = one_slow_record(s, backend, /*read_timeout_s=*/4);
  const std::string evidence = evidence_of(r);
  const auto [share, window_s] = cpu_share_over_the_wait(r);
  EXPECT_GE(share, 34) << evidence;
  EXPECT_GE(window_s, 1.8) << evidence;
  EXPECT_LE(window_s, 3.2) << evidence;
  EXPECT_EQ(evidence.find("sample as nginx gave up"), std::string::npos) << evidence;
}

// php-fpm over a unix socket: the child holding nginx's connection, found
// through unix_diag (the accepted end carries the listener's path).
// nginx timing out (1 s) on one request for script of the php-fpm at fpm:
// the record's evidence, matched to the access log.
std::string one_slow_php_record(Scenario& s, const std::string& fpm, const std::string& script) {
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    root " + s.dir() + "/www;\n"
                "    location ~ \\.php$ { include /etc/nginx/fastcgi_params; "
                "fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name; fastcgi_read_timeout 1s; "
                "fastcgi_pass " + fpm + "; }\n  }\n");
  s.start_tracer();
  const auto codes = s.curl({"http://127.0.0.1:{PORT}/" + script});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{504})) << s.error_log();
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{fpm, "slow_backend"}}), "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(records.size(), 1u);
  if (records.size() != 1) return "";
  EXPECT_TRUE(records[0]["backend_cgroup"].is_string()) << records[0].dump();
  return evidence_of(records[0]);
}

TEST_F(SlowBackends, PhpFpmChildOverAUnixSocket) {
  Scenario s;
  const std::string fpm = s.start_php_fpm({{"slow.php", "<?php usleep(4000000); echo \"late\\n\";"}});
  const std::string evidence = one_slow_php_record(s, fpm, "slow.php");
  // usleep() is nanosleep or clock_nanosleep, as the C library chooses.
  EXPECT_TRUE(std::regex_search(evidence, std::regex("backend pid [0-9]+ \\(php-fpm[^)]*\\) was sleeping in "
                                                     "(clock_)?nanosleep\\(\\) when nginx gave up")))
      << evidence << s.tracer_output();
}

// A php-fpm child blocked on its database over a unix socket: PHP waits for
// the answer in poll() (default_socket_timeout), as mysqlnd does.
TEST_F(SlowBackends, PhpFpmChildBlockedOnItsDatabaseOverAUnixSocket) {
  Scenario s;
  const std::string path = s.dir() + "/fakedb.sock";
  s.start_helper({"python3", kSlowBackend, "silent", path});
  const pid_t database_pid = s.last_started().pid();
  const std::string fpm = s.start_php_fpm(
      {{"db.php", "<?php $db = stream_socket_client('unix://" + path +
                      "'); fwrite($db, \"SELECT 1;\\n\"); echo fread($db, 1);"}});
  const std::string evidence = one_slow_php_record(s, fpm, "db.php");
  EXPECT_TRUE(std::regex_search(evidence, std::regex("backend pid [0-9]+ \\(php-fpm[^)]*\\) had been blocked in "
                                                     "poll\\(\\) on a unix socket connection to " + path +
                                                     " \\(fakedb, pid " + std::to_string(database_pid) +
                                                     "\\) when nginx gave up")))
      << evidence << s.tracer_output();
}

// A cpu cgroup (v1) with a quota of 10 ms per 100 ms, removed at the end.
class ThrottledCgroup {
 public:
  ThrottledCgroup() : name_("why502-test-throttle-" + std::to_string(getpid())), dir_(find_cpu_hierarchy() + "/" + name_) {
    std::filesystem::create_directory(dir_);
    std::ofstream(dir_ + "/cpu.cfs_period_us") << 100000;
    std::ofstream(dir_ + "/cpu.cfs_quota_us") << 10000;
  }
  ~ThrottledCgroup() {
    // Whatever is left goes back to the root before the directory can go.
    std::ifstream procs(dir_ + "/cgroup.procs");
    for (pid_t pid; procs >> pid;) std::ofstream(std::filesystem::path(dir_).parent_path() / "cgroup.procs") << pid;
    std::error_code ignored;
    std::filesystem::remove(dir_, ignored);
  }
  void add(pid_t pid) { std::ofstream(dir_ + "/cgroup.procs") << pid; }
  const std::string& path() const { return name_; }  // as /proc/PID/cgroup shows it, without the "/"

 private:
  static std::string find_cpu_hierarchy() {
    for (const char* dir : {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"})
      if (std::filesystem::exists(std::string(dir) + "/cpu.cfs_quota_us")) return dir;
    return "";
  }
  std::string name_;
  std::string dir_;
};

TEST_F(SlowBackends, ThrottledByItsCgroup) {
  if (!std::filesystem::exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") &&
      !std::filesystem::exists("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"))
    GTEST_SKIP() << "no cgroup v1 cpu controller here";
  ThrottledCgroup cgroup;  // outlives the scenario: its processes are gone before it is removed
  Scenario s;
  const std::string backend = s.start_helper({"python3", kSlowBackend, "busy", "4"});
  cgroup.add(s.last_started().pid());
  const nlohmann::json r = one_slow_record(s, backend);
  const std::string evidence = evidence_of(r);
  ASSERT_TRUE(r.contains("evidence") && r["evidence"].size() >= 2) << r.dump();
  // Most decisive first, just after the headline.
  const std::string first = r["evidence"][1];
  EXPECT_TRUE(std::regex_search(first, std::regex("^its cgroup /" + cgroup.path() +
                                                  " was CPU-throttled in [1-9][0-9]* of [1-9][0-9]* CFS periods of "
                                                  "a [0-9]+ ms sample as nginx gave up \\([1-9][0-9]* ms throttled\\); "
                                                  "quota 10 ms of CPU per 100 ms")))
      << first;
  EXPECT_EQ(r["backend_cgroup"], "/" + cgroup.path()) << r.dump();
  EXPECT_TRUE(r["backend_unit"].is_null()) << r.dump();
  EXPECT_TRUE(r["nginx_cgroup"].is_string()) << r.dump();
}

// Read during a 4 s wait: throttled in most periods of it, and on the CPU
// for about its quota's 10%.
TEST_F(SlowBackends, ThrottledOverNginxsWait) {
  if (!std::filesystem::exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") &&
      !std::filesystem::exists("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"))
    GTEST_SKIP() << "no cgroup v1 cpu controller here";
  ThrottledCgroup cgroup;
  Scenario s;
  const std::string backend = s.start_helper({"python3", kSlowBackend, "busy", "8"});
  cgroup.add(s.last_started().pid());
  const nlohmann::json r = one_slow_record(s, backend, /*read_timeout_s=*/4);
  const std::string evidence = evidence_of(r);
  ASSERT_TRUE(r.contains("evidence") && r["evidence"].size() >= 2) << r.dump();
  const std::string first = r["evidence"][1];
  std::smatch m;
  ASSERT_TRUE(std::regex_search(first, m, std::regex("^its cgroup /" + cgroup.path() +
                                                     " was CPU-throttled in ([0-9]+) of ([0-9]+) CFS periods of the "
                                                     "last [0-9.]+ s of nginx's wait")))
      << first;
  // About 10 periods a second over 2-3 s, nearly all of them throttled.
  EXPECT_GE(std::stoi(m[2]), 15) << first;
  EXPECT_GE(std::stoi(m[1]) * 10, std::stoi(m[2]) * 8) << first;
  const auto [share, window_s] = cpu_share_over_the_wait(r);
  EXPECT_GE(share, 3) << evidence;  // 10% is past the 5% that makes it worth a line
  EXPECT_LE(share, 20) << evidence;
  EXPECT_GE(window_s, 1.8) << evidence;
}

}  // namespace
}  // namespace why502::testing
