// nginx's whole life while one why502 keeps running: reloads (new workers),
// a binary upgrade (USR2: a new master from a new file at the same path), a
// restart, and an nginx from another path started after why502. Every 502
// must still be attributed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "netns_host.hpp"
#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using namespace std::chrono_literals;
using Lifecycle = RootTest;

std::string refused_server(const std::string& refused) {
  return "  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/refused", "http://" + refused) + "  }\n";
}

template <typename Condition>
bool wait_until(Condition done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

TEST_F(Lifecycle, ReloadAndRestartKeepEveryErrorAttributed) {
  Scenario s;
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx(refused_server(refused));
  s.trace_every_nginx();  // the restart below is a new master
  s.start_tracer();
  const std::string url = "http://127.0.0.1:{PORT}/refused";
  EXPECT_EQ(s.curl({url}), std::vector<int>{502});

  // Reload: new workers replace the old ones.
  const std::vector<pid_t> old_workers = s.nginx_workers();
  int status = -1;
  run_command({nginx_under_test(), "-c", s.dir() + "/nginx.conf", "-p", s.dir(), "-s", "reload"}, &status);
  ASSERT_EQ(status, 0);
  ASSERT_TRUE(wait_until([&] { return !s.nginx_workers().empty() && s.nginx_workers() != old_workers; }, 10s));
  EXPECT_EQ(s.curl({url, url}), (std::vector<int>{502, 502}));

  // Restart: a new master that no traced process forked.
  s.stop_nginx();
  s.start_nginx(refused_server(refused));
  EXPECT_EQ(s.curl({url, url}), (std::vector<int>{502, 502}));

  const std::vector<nlohmann::json> records = s.stop_tracer();
  EXPECT_EQ(s.access_log().size(), 5u);
  EXPECT_EQ(match_records(s.access_log(), records, {{refused, "refused"}}), "") << s.tracer_output();
}

TEST_F(Lifecycle, BinaryUpgradeToANewInodeAtTheSamePath) {
  Scenario s;
  const std::string binary = s.dir() + "/sbin/nginx";
  install_nginx_copy(binary);
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx(refused_server(refused), 1, 1024, binary, /*daemon=*/true);  // USR2 needs a detached master
  s.start_tracer({"-v"});
  const std::string url = "http://127.0.0.1:{PORT}/refused";
  EXPECT_EQ(s.curl({url}), std::vector<int>{502});

  // The upgrade: a new file at the same path, USR2, then the old master quits.
  install_nginx_copy(binary);
  const pid_t old_master = s.nginx_master();
  ASSERT_EQ(kill(old_master, SIGUSR2), 0);
  ASSERT_TRUE(wait_until([&] { return s.nginx_master() != old_master && s.nginx_master() > 0; }, 10s));
  const pid_t new_master = s.nginx_master();
  // why502 says when it has attached to the new binary.
  ASSERT_TRUE(s.tracer().wait_for_text("attached to /proc/" + std::to_string(new_master) + "/exe", 10s))
      << s.tracer_output();
  ASSERT_EQ(kill(old_master, SIGQUIT), 0);
  ASSERT_TRUE(wait_until([&] { return kill(old_master, 0) != 0 || s.nginx_workers().size() == 1; }, 10s));
  ASSERT_TRUE(wait_until([&] { return !s.nginx_workers().empty(); }, 10s));
  EXPECT_EQ(s.curl({url, url}), (std::vector<int>{502, 502}));

  const std::vector<nlohmann::json> records = s.stop_tracer();
  EXPECT_EQ(s.access_log().size(), 3u);
  EXPECT_EQ(match_records(s.access_log(), records, {{refused, "refused"}}), "") << s.tracer_output();
}

// A new nginx is traced from its exec: its first request, sent the moment it
// listens, is already seen by the kernel-side hooks (an upstream's own 502),
// and its binary is attached on the exec event, not a later /proc scan.
TEST_F(Lifecycle, NginxFromAnotherPathStartedAfterWhy502) {
  Scenario s;
  s.start_tracer({"-v"});  // no nginx runs yet
  const std::string binary = s.dir() + "/opt/nginx";
  install_nginx_copy(binary);
  const std::string says502 = s.start_backend("status502");
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/refused", "http://" + refused) +
                    proxy("/says502", "http://" + says502) + "  }\n",
                1, 1024, binary);
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/says502"}), std::vector<int>{502});
  ASSERT_TRUE(s.tracer().wait_for_text("attached to /proc/" + std::to_string(s.nginx_master()) + "/exe", 10s))
      << s.tracer_output();
  EXPECT_NE(s.tracer_output().find("found at exec"), std::string::npos) << s.tracer_output();
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused"}), std::vector<int>{502});
  const std::vector<nlohmann::json> records = s.stop_tracer();
  EXPECT_EQ(match_records(s.access_log(), records, {{refused, "refused"}, {says502, "upstream_status"}}), "")
      << s.tracer_output();
}

// A process followed with one binary that then executes another: a binary
// upgrade's new master, when a scan finds it between its fork (still the old
// binary) and its exec. The exec must attach the new binary there and then,
// not wait for a scan to find one of its workers. Here the process is a
// script named nginx, followed by a scan, that executes an nginx once told.
TEST_F(Lifecycle, AProcessFollowedBeforeItsExecIsAttachedToTheBinaryItExecutes) {
  Scenario s;
  s.start_tracer({"-v"});  // no nginx of ours runs yet: follows every process named nginx
  const std::string binary = s.dir() + "/opt/nginx";
  install_nginx_copy(binary);
  const std::string launcher = s.dir() + "/launcher/nginx";
  const std::string go = s.dir() + "/go";
  std::filesystem::create_directories(s.dir() + "/launcher");
  ASSERT_EQ(mkfifo(go.c_str(), 0600), 0);
  std::ofstream(launcher) << "#!/bin/sh\necho $$ > " << s.dir() << "/launcher.pid\nread line < " << go
                          << "\nexec " << binary << " \"$@\"\n";
  std::filesystem::permissions(launcher, std::filesystem::perms::owner_all);
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  std::thread starting([&] { s.start_nginx(refused_server(refused), 1, 1024, launcher); });
  std::string pid;
  for (int i = 0; i < 200 && pid.empty(); ++i) {
    std::ifstream(s.dir() + "/launcher.pid") >> pid;
    if (pid.empty()) std::this_thread::sleep_for(25ms);
  }
  ASSERT_FALSE(pid.empty());
  // Followed by a scan, with the shell's binary (no nginx: said once).
  const bool followed = s.tracer().wait_for_text("/proc/" + pid + "/exe", 10s).has_value();
  std::ofstream(go) << "go\n";  // whatever happened, let the launcher go on
  starting.join();
  ASSERT_TRUE(followed) << s.tracer_output();
  const auto attached = s.tracer().wait_for_text("attached to /proc/" + pid + "/exe", 10s);
  ASSERT_TRUE(attached) << s.tracer_output();
  const std::string out = s.tracer_output();
  const size_t line = out.find("attached to /proc/" + pid + "/exe");
  EXPECT_NE(out.substr(line, out.find('\n', line) - line).find("found at exec"), std::string::npos) << out;
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused"}), std::vector<int>{502});
  const std::vector<nlohmann::json> records = s.stop_tracer();
  EXPECT_EQ(match_records(s.access_log(), records, {{refused, "refused"}}), "") << s.tracer_output();
}

// 50 nginx binaries, each a new inode, started one after another under one
// why502, each daemonizing as nginx does by default (the process that
// executed the binary exits at once): every one is attributed through its
// uprobes, the first included, though there are only 8 layout slots.
TEST_F(Lifecycle, FiftyBinariesOneAfterAnotherAreEachAttributedThroughTheirUprobes) {
  constexpr int kBinaries = 50;
  Scenario s;
  s.start_tracer({"-v"});  // no nginx of ours runs yet: follows every nginx
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  for (int i = 0; i < kBinaries; ++i) {
    const std::string binary = s.dir() + "/nginx-" + std::to_string(i) + "/sbin/nginx";
    install_nginx_copy(binary);
    s.start_nginx(refused_server(refused), 1, 1024, binary, /*daemon=*/true);
    // Attached at its exec, or by the scan when the executing process was
    // gone first; known by its inode (other nginx may start on this host).
    struct stat st{};
    ASSERT_EQ(stat(binary.c_str(), &st), 0);
    const std::string inode = "inode " + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ",";
    ASSERT_TRUE(s.tracer().wait_for_text(inode, 10s))
        << "binary " << i << " was not attached\n" << s.tracer_output();
    ASSERT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused"}), std::vector<int>{502}) << "binary " << i;
    s.stop_nginx();
  }
  const std::vector<nlohmann::json> records = s.stop_tracer();
  ASSERT_EQ(s.access_log().size(), static_cast<size_t>(kBinaries));
  EXPECT_EQ(match_records(s.access_log(), records, {{refused, "refused"}}), "") << s.tracer_output();
  for (const auto& r : records) EXPECT_EQ(r.value("source", ""), "uprobe") << r.dump();
  EXPECT_EQ(s.tracer_output().find("kernel-only"), std::string::npos) << s.tracer_output();
  EXPECT_TRUE(s.tracer().wait_for_lines_with("why502: released the uprobes of nginx binary", kBinaries - 8, 0ms))
      << s.tracer_output();
}

// An nginx-compatible build under another name (Angie, OpenResty, Tengine,
// freenginx: here an nginx installed as "angie", so its processes' command is
// angie) is known by its binary, not by its name.
TEST_F(Lifecycle, AForkUnderAnotherNameIsFollowedFromItsExecByItsBinary) {
  Scenario s;
  const std::string binary = s.dir() + "/sbin/angie";
  install_nginx_copy(binary);
  // Started before the fork: its daemonized master and its workers are
  // traced from their exec, so the kernel-side hooks see its very first
  // request (an upstream's own 502, which no uprobe sees), before any scan.
  s.start_tracer({"-v", "--nginx-binary", binary});
  const std::string says502 = s.start_backend("status502");
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/refused", "http://" + refused) +
                    proxy("/says502", "http://" + says502) + "  }\n",
                1, 1024, binary, /*daemon=*/true);
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/says502"}), std::vector<int>{502});
  std::ifstream comm("/proc/" + std::to_string(s.nginx_master()) + "/comm");
  std::string name;
  std::getline(comm, name);
  ASSERT_EQ(name, "angie");
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused"}), std::vector<int>{502});
  const std::vector<nlohmann::json> records = s.stop_tracer();
  ASSERT_EQ(s.access_log().size(), 2u);
  EXPECT_EQ(match_records(s.access_log(), records, {{refused, "refused"}, {says502, "upstream_status"}}), "")
      << s.tracer_output();
}

TEST_F(Lifecycle, APidOfAForkUnderAnotherNameIsTracedWithItsWorkers) {
  Scenario s;
  const std::string binary = s.dir() + "/sbin/openresty";
  install_nginx_copy(binary);
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx(refused_server(refused), 2, 1024, binary);
  s.start_tracer({"--pid", std::to_string(s.nginx_master())});
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused", "http://127.0.0.1:{PORT}/refused",
                    "http://127.0.0.1:{PORT}/refused"}),
            (std::vector<int>{502, 502, 502}));
  const std::vector<nlohmann::json> records = s.stop_tracer();
  ASSERT_EQ(s.access_log().size(), 3u);
  EXPECT_EQ(match_records(s.access_log(), records, {{refused, "refused"}}), "") << s.tracer_output();
  for (const auto& r : records) EXPECT_EQ(r.value("source", ""), "uprobe") << r.dump();
}

// doctor --nginx-binary says what a fork's binary is and how many processes
// run it; a path that is no nginx binary is a FAIL row and exit status 1.
TEST_F(Lifecycle, DoctorFindsTheProcessesOfAForkByItsBinary) {
  Scenario s;
  const std::string binary = s.dir() + "/sbin/tengine";
  install_nginx_copy(binary);
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx(refused_server(refused), 2, 1024, binary);
  int status = -1;
  const std::string out = run_command({WHY502_BINARY, "doctor", "--nginx-binary", binary}, &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("nginx " + binary + " +ok +3 processes run it; uprobes attach")))
      << out;
  const std::string bad = run_command({WHY502_BINARY, "doctor", "--nginx-binary", "/etc/passwd"}, &status);
  EXPECT_EQ(status, 1) << bad;
  EXPECT_TRUE(std::regex_search(bad, std::regex("nginx /etc/passwd +FAIL +not an ELF file"))) << bad;
}

TEST_F(Lifecycle, SigkillLeavesNothingBehind) {
  ChildProcess tracer({WHY502_BINARY, "trace", "--format", "json", "--output", "/dev/null"});
  ASSERT_TRUE(tracer.wait_for_line("ready", 30s)) << tracer.output();
  // Its own programs, by id: other why502 on the host hold programs too.
  const std::set<uint32_t> ids = bpf_program_ids_of(tracer.pid());
  EXPECT_GE(loaded_program_names(ids).size(), 5u);
  tracer.signal(SIGKILL);
  ASSERT_TRUE(tracer.wait_exit(10s));
  // The kernel frees programs once their last descriptor is gone (after RCU).
  EXPECT_TRUE(wait_until([&] { return loaded_program_names(ids).empty(); }, 10s))
      << ::testing::PrintToString(loaded_program_names(ids));
  // Nothing pinned, no probe left registered in tracefs.
  std::error_code no_bpffs;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/fs/bpf", no_bpffs))
    ADD_FAILURE() << "left in /sys/fs/bpf: " << entry.path();
  for (const char* events : {"/sys/kernel/tracing/uprobe_events", "/sys/kernel/tracing/kprobe_events"}) {
    std::ifstream in(events);
    for (std::string line; std::getline(in, line);)
      EXPECT_EQ(line.find("libbpf_" + std::to_string(tracer.pid())), std::string::npos) << events << ": " << line;
  }
}

TEST_F(Lifecycle, TwoInstancesAtOnceBothSeeEveryError) {
  Scenario s;
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx(refused_server(refused));
  s.start_tracer();
  ChildProcess second({WHY502_BINARY, "trace", "--format", "json", "--output", s.dir() + "/second.jsonl", "--pid",
                       std::to_string(s.nginx_master())});
  ASSERT_TRUE(second.wait_for_line("ready", 30s)) << second.output();
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused", "http://127.0.0.1:{PORT}/refused"}),
            (std::vector<int>{502, 502}));
  second.signal(SIGTERM);
  ASSERT_EQ(second.wait_exit(10s), 0) << second.output();
  const std::vector<nlohmann::json> first = s.stop_tracer();
  std::vector<nlohmann::json> others;
  std::ifstream in(s.dir() + "/second.jsonl");
  for (std::string line; std::getline(in, line);) others.push_back(nlohmann::json::parse(line));
  EXPECT_EQ(match_records(s.access_log(), first, {{refused, "refused"}}), "");
  EXPECT_EQ(match_records(s.access_log(), others, {{refused, "refused"}}), "") << second.output();
}

// nginx, its upstreams and its clients inside another network namespace:
// every error is attributed, with the addresses that nginx sees there.
TEST_F(Lifecycle, NginxInsideAnotherNetworkNamespace) {
  OwnNetns ns;
  Scenario s;
  s.use_netns(ns.name());
  const std::string says502 = s.start_backend("status502");
  const std::string reset = s.start_backend("reset");
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/refused", "http://" + refused) +
                proxy("/says502", "http://" + says502) + proxy("/reset", "http://" + reset) + "  }\n");
  s.start_tracer();  // in our namespace
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused", "http://127.0.0.1:{PORT}/says502",
                    "http://127.0.0.1:{PORT}/reset"}),
            (std::vector<int>{502, 502, 502}));
  const std::vector<nlohmann::json> records = s.stop_tracer();
  EXPECT_EQ(match_records(s.access_log(), records,
                          {{refused, "refused"}, {says502, "upstream_status"}, {reset, "reset"}}),
            "")
      << s.tracer_output();
}

}  // namespace
}  // namespace why502::testing
