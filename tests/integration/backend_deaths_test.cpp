// Backends that die while nginx waits: killed, crashed, OOM-killed, or stopped
// by their own supervisor for being slow. error.log only says the connection
// closed; why502 names the death and who caused it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using namespace std::chrono_literals;
using BackendDeaths = RootTest;

// One request in flight on another thread; returns its HTTP code.
class RequestInFlight {
 public:
  RequestInFlight(Scenario& s, const std::string& url) : thread_([&s, url, this] { codes_ = s.curl({url}); }) {}
  std::vector<int> finish() {
    thread_.join();
    return codes_;
  }

 private:
  std::vector<int> codes_;
  std::thread thread_;
};

// nginx passing *.php to php-fpm at fpm, waiting up to 30 s for its answer:
// php-fpm's own timeout stops a slow script first.
void start_nginx_for_php(Scenario& s, const std::string& fpm) {
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    root " + s.dir() + "/www;\n" +
                location("~ \\.php$", "include /etc/nginx/fastcgi_params; "
                                      "fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name; "
                                      "fastcgi_read_timeout 30s; fastcgi_pass " + fpm + ";") +
                "  }\n");
}

TEST_F(BackendDeaths, KilledBySigkillMidRequest) {
  Scenario s;
  const std::string victim = s.start_backend("hang");
  ChildProcess& backend = s.last_started();
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/victim", "http://" + victim) + "  }\n");
  s.start_tracer();
  RequestInFlight request(s, "http://127.0.0.1:{PORT}/victim");
  ASSERT_TRUE(backend.wait_for_line("request", 10s)) << backend.output();
  // An operator's kill: not the backend's parent.
  run_command({"kill", "-KILL", std::to_string(backend.pid())});
  EXPECT_EQ(request.finish(), (std::vector<int>{502}));
  const auto records = s.stop_tracer();
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{victim, "backend_crashed"}}), "")
      << s.error_log() << s.tracer_output();
  ASSERT_EQ(records.size(), 1u);
  const std::string evidence = evidence_of(records[0]);
  EXPECT_NE(evidence.find("pid " + std::to_string(backend.pid())), std::string::npos) << evidence;
  EXPECT_NE(evidence.find("got SIGKILL from pid"), std::string::npos) << evidence;
  EXPECT_NE(evidence.find("(kill)"), std::string::npos) << evidence;
}

TEST_F(BackendDeaths, SegfaultMidRequestThenRefused) {
  Scenario s;
  const std::string victim = s.start_backend("segv");
  ChildProcess& backend = s.last_started();
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/crash", "http://" + victim) + "  }\n");
  s.start_tracer();
  auto first = s.curl({"http://127.0.0.1:{PORT}/crash"});
  ASSERT_TRUE(backend.wait_exit(10s));
  auto second = s.curl({"http://127.0.0.1:{PORT}/crash"});  // nothing listens now
  const auto records = s.stop_tracer();
  EXPECT_EQ(first, (std::vector<int>{502}));
  EXPECT_EQ(second, (std::vector<int>{502}));
  ASSERT_EQ(records.size(), 2u) << s.tracer_output();
  EXPECT_EQ(records[0]["cause"], "backend_crashed") << records[0].dump();
  EXPECT_NE(evidence_of(records[0]).find("SIGSEGV from the kernel (a fault in the process)"), std::string::npos) << records[0].dump();
  EXPECT_EQ(records[1]["cause"], "refused") << records[1].dump();
  EXPECT_NE(evidence_of(records[1]).find("was stopped"), std::string::npos) << records[1].dump();
  const auto access = s.access_log();
  ASSERT_EQ(access.size(), 2u);
  EXPECT_EQ(records[0]["client"], access[0].client);
  EXPECT_EQ(records[1]["client"], access[1].client);
}

TEST_F(BackendDeaths, OomKilledInsideAMemoryCgroup) {
  const std::string cgroup = "/sys/fs/cgroup/memory/why502-test-" + std::to_string(getpid());
  ASSERT_TRUE(std::filesystem::create_directory(cgroup)) << cgroup;
  struct RemoveCgroup {
    std::string path;
    ~RemoveCgroup() { rmdir(path.c_str()); }
  } remove_cgroup{cgroup};
  std::ofstream(cgroup + "/memory.limit_in_bytes") << (96 << 20);
  Scenario s;
  const std::string victim = s.start_backend("hog");
  ChildProcess& backend = s.last_started();
  std::ofstream(cgroup + "/cgroup.procs") << backend.pid();
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    proxy_read_timeout 30s;\n" +
                proxy("/hog", "http://" + victim) + "  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/hog"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502}));
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{victim, "backend_crashed"}}), "")
      << s.error_log() << s.tracer_output();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_NE(evidence_of(records[0]).find("OOM killer"), std::string::npos) << records[0].dump();
}

TEST_F(BackendDeaths, GunicornTimeoutIsASlowBackend) {
  Scenario s;
  const std::string app = s.start_gunicorn(1);
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    proxy_read_timeout 30s;\n" +
                proxy("/slow", "http://" + app) + "  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/slow?30"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502}));
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{app, "slow_backend"}}), "")
      << s.error_log() << s.tracer_output();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_NE(evidence_of(records[0]).find("stopped by its supervisor"), std::string::npos) << records[0].dump();
  EXPECT_NE(evidence_of(records[0]).find("gunicorn"), std::string::npos) << records[0].dump();
}

// uWSGI's harakiri: its master SIGKILLs a worker busy for longer than
// --harakiri. Over a unix socket, so that the worker is told by the
// connection it held, not by the listener its pool shares.
TEST_F(BackendDeaths, UwsgiHarakiriIsASlowBackend) {
  Scenario s;
  const Scenario::Uwsgi app = s.start_uwsgi("slow_app.py", {"--harakiri", "1"});
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    uwsgi_read_timeout 30s;\n"
                "    location /slow { include /etc/nginx/uwsgi_params; uwsgi_pass " + app.unix_socket + "; }\n  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/slow?30"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502}));
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{app.unix_socket, "slow_backend"}}), "")
      << s.error_log() << s.tracer_output();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_NE(evidence_of(records[0]).find("stopped by its supervisor"), std::string::npos) << records[0].dump();
  EXPECT_NE(evidence_of(records[0]).find("(uwsgi) got SIGKILL"), std::string::npos) << records[0].dump();
}

TEST_F(BackendDeaths, PhpFpmRequestTerminateTimeoutIsASlowBackend) {
  Scenario s;
  const std::string fpm = s.start_php_fpm({{"slow.php", "<?php sleep(20); echo \"late\\n\";"}},
                                          "request_terminate_timeout = 1s\n");
  start_nginx_for_php(s, fpm);
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/slow.php"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502}));
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{fpm, "slow_backend"}}), "")
      << s.error_log() << s.tracer_output();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_NE(evidence_of(records[0]).find("stopped by its supervisor"), std::string::npos) << records[0].dump();
}

// The pids of the children php-fpm says it stopped for request_terminate_timeout,
// in the order it stopped them.
std::vector<std::string> fpm_timed_out_children(const std::string& fpm_output) {
  std::vector<std::string> pids;
  const std::string marker = "] child ";
  for (size_t at = fpm_output.find(marker); at != std::string::npos; at = fpm_output.find(marker, at + 1)) {
    const size_t start = at + marker.size();
    const size_t end = fpm_output.find(',', start);
    const size_t line_end = fpm_output.find('\n', start);
    if (end == std::string::npos || end > line_end ||
        fpm_output.substr(end, line_end - end).find("execution timed out") == std::string::npos)
      continue;
    pids.push_back(fpm_output.substr(start, end - start));
  }
  return pids;
}

// Issue 13's setup: a script that outlives request_terminate_timeout, and two
// requests in a row. php-fpm's master stops each child with SIGTERM; every
// child held the pool's listener, and each accepted connection carries its
// path, so each request's record must name its own child (the one holding its
// connection), not the one stopped a moment earlier for the request before.
class PhpFpmTerminate : public RootTest, public ::testing::WithParamInterface<int> {};

TEST_P(PhpFpmTerminate, TwoRequestsInARowEachNameTheKillOfTheirChild) {
  Scenario s;
  const std::string fpm = s.start_php_fpm({{"slow.php", "<?php usleep(4000000);"}},
                                          "pm.max_children = " + std::to_string(GetParam()) +
                                              "\nrequest_terminate_timeout = 1s\n");
  ChildProcess& master = s.last_started();
  start_nginx_for_php(s, fpm);
  s.start_tracer();
  // Two connections, one after the other: two clients in the access log.
  auto first = s.curl({"http://127.0.0.1:{PORT}/slow.php"});
  auto second = s.curl({"http://127.0.0.1:{PORT}/slow.php"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(first, (std::vector<int>{502}));
  EXPECT_EQ(second, (std::vector<int>{502}));
  const auto access = s.access_log();
  EXPECT_EQ(match_records(access, records, Causes{{fpm, "slow_backend"}}), "") << s.error_log() << s.tracer_output();
  // php-fpm logs each stop; read its output up to the second.
  ASSERT_TRUE(master.wait_for_lines_with("execution timed out", 2, 10s)) << master.output();
  const std::vector<std::string> killed = fpm_timed_out_children(master.output());
  ASSERT_EQ(killed.size(), 2u) << master.output();
  ASSERT_EQ(access.size(), 2u);
  const std::string sender = "got SIGTERM from pid " + std::to_string(master.pid()) + " (php-fpm8.2), its parent";
  for (size_t i = 0; i < 2; ++i) {
    const auto record = std::find_if(records.begin(), records.end(),
                                     [&](const nlohmann::json& r) { return r["client"] == access[i].client; });
    ASSERT_NE(record, records.end()) << access[i].client << s.tracer_output();
    const std::string evidence = evidence_of(*record);
    EXPECT_NE(evidence.find("stopped by its supervisor for taking too long: pid " + killed[i] + " (php-fpm8.2) " +
                            sender),
              std::string::npos)
        << "request " << i << " (child " << killed[i] << "): " << evidence << "\n" << master.output();
    EXPECT_EQ(evidence.find("pid " + killed[1 - i] + " "), std::string::npos) << evidence;
  }
}

INSTANTIATE_TEST_SUITE_P(Children, PhpFpmTerminate, ::testing::Values(1, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + (info.param == 1 ? "Child" : "Children");
                         });

}  // namespace
}  // namespace why502::testing

namespace why502::testing {
namespace {

using ListenerLimits = RootTest;

// A TCP listener of our own whose accept queue is full: nginx's SYN is dropped.
TEST_F(ListenerLimits, FullAcceptQueueIsBacklogFull) {
  Scenario s;
  const std::string stuck = s.start_backend("accept_never");  // backlog 1: holds 2 connections
  const int port = std::stoi(stuck.substr(stuck.rfind(':') + 1));
  // Fill the queue ourselves; connect() completes once the kernel queued us.
  std::vector<int> fillers;
  for (int i = 0; i < 2; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    fillers.push_back(fd);
  }
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    proxy_connect_timeout 2500ms;\n" +
                proxy("/stuck", "http://" + stuck) + "  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/stuck"});
  const auto records = s.stop_tracer();
  for (int fd : fillers) close(fd);
  EXPECT_EQ(codes, (std::vector<int>{504}));
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{stuck, "backlog_full"}}), "")
      << s.error_log() << s.tracer_output();
  ASSERT_EQ(records.size(), 1u);
  const std::string evidence = records[0]["evidence"].dump();
  EXPECT_NE(evidence.find("accept queue of " + stuck), std::string::npos) << evidence;
  EXPECT_NE(evidence.find("backlog 1"), std::string::npos) << evidence;
  EXPECT_NE(evidence.find("python3"), std::string::npos) << evidence;
}

TEST_F(ListenerLimits, BackendOutOfDescriptorsIsFdExhausted) {
  Scenario s;
  const std::string starved = s.start_backend("fd_exhausted");
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    proxy_read_timeout 1s;\n" +
                proxy("/starved", "http://" + starved) + "  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/starved"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{504}));
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{starved, "fd_exhausted"}}), "")
      << s.error_log() << s.tracer_output();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_NE(records[0]["evidence"].dump().find("of its 64 descriptors open"), std::string::npos) << records[0].dump();
}

TEST_F(ListenerLimits, NginxOutOfDescriptorsIsFdExhausted) {
  Scenario s;
  const std::string ok = s.start_backend("ok");
  // Connections for the two listeners, the master's channel and one client;
  // none left for the upstream.
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/any", "http://" + ok) + "  }\n", 1, 4);
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/any"});
  const auto records = s.stop_tracer();
  ASSERT_EQ(codes, (std::vector<int>{500})) << s.error_log();
  ASSERT_EQ(records.size(), 1u) << s.tracer_output();
  EXPECT_EQ(records[0]["status"], 500);
  EXPECT_EQ(records[0]["cause"], "fd_exhausted") << records[0].dump() << s.error_log();
  EXPECT_EQ(records[0]["client"], s.access_log().at(0).client);
}

}  // namespace
}  // namespace why502::testing

namespace why502::testing {
namespace {

using PhpFpm = RootTest;

std::string fastcgi_to(const std::string& fpm) {
  return "include /etc/nginx/fastcgi_params; fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name; "
         "fastcgi_read_timeout 20s; fastcgi_pass " + fpm + ";";
}

// One child, a one-slot listen queue: a burst of requests overflows it and
// connect() to the unix socket fails with EAGAIN.
TEST_F(PhpFpm, SaturatedListenQueueIsBacklogFull) {
  Scenario s;
  const std::string fpm = s.start_php_fpm({{"slow.php", "<?php usleep(1500000); echo \"done\\n\";"}},
                                          "listen.backlog = 1\npm.max_children = 1\n");
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    root " + s.dir() + "/www;\n" +
                location("~ \\.php$", fastcgi_to(fpm)) + "  }\n");
  s.start_tracer();
  std::vector<std::thread> burst;
  for (int i = 0; i < 8; ++i) burst.emplace_back([&] { s.curl({"http://127.0.0.1:{PORT}/slow.php"}); });
  for (auto& t : burst) t.join();
  const auto records = s.stop_tracer();
  const auto access = s.access_log();
  ASSERT_EQ(access.size(), 8u);
  int rejected = 0;
  for (const auto& line : access) rejected += line.status == 502;
  EXPECT_GE(rejected, 1) << "the burst never overflowed the queue";
  EXPECT_EQ(match_records(access, records, [](const AccessLine& l) {
              return l.status == 502 ? std::string("backlog_full") : std::string("unexpected");
            }),
            "")
      << s.error_log() << s.tracer_output();
}

// php-fpm stopped: its socket is gone, nginx is refused at once.
TEST_F(PhpFpm, StoppedIsRefused) {
  Scenario s;
  const std::string fpm = s.start_php_fpm({{"ok.php", "<?php echo \"ok\\n\";"}});
  ChildProcess& php = s.last_started();
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    root " + s.dir() + "/www;\n" +
                location("~ \\.php$", fastcgi_to(fpm)) + "  }\n");
  s.start_tracer();
  auto before = s.curl({"http://127.0.0.1:{PORT}/ok.php"});
  php.signal(SIGQUIT);  // graceful stop
  ASSERT_TRUE(php.wait_exit(15s));
  auto after = s.curl({"http://127.0.0.1:{PORT}/ok.php"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(before, (std::vector<int>{200}));
  EXPECT_EQ(after, (std::vector<int>{502}));
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{fpm, "refused"}}), "") << s.error_log() << s.tracer_output();
}

}  // namespace
}  // namespace why502::testing
