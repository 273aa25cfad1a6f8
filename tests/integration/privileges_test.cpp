// Least privilege: why502 works with exactly the capabilities the README
// documents, keeps only those once attached, and says what is missing
// without them.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using namespace std::chrono_literals;
using Privileges = RootTest;

// The documented set (README, packaging/why502.service.in).
const char* const kBoundingSet = "--bounding-set=-all,+bpf,+perfmon,+sys_admin,+dac_read_search,+sys_ptrace";
// Once attached: the tracer without CAP_SYS_ADMIN, its uprobe helper with it alone.
constexpr uint64_t kTracerCaps = (1ull << 39) | (1ull << 38) | (1ull << 19) | (1ull << 2);
constexpr uint64_t kHelperCaps = 1ull << 21;

uint64_t effective_caps(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return ~0ull;
}

// A field of /proc/PID/status ("PPid", "Name"), "" when absent.
std::string status_field(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(field + ":", 0) == 0) return line.substr(line.find_first_not_of(" \t", field.size() + 1));
  return "";
}

// The children of pid named name.
std::vector<pid_t> children_named(pid_t pid, const std::string& name) {
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string dir = entry.path().filename();
    if (dir.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t child = std::stoi(dir);
    if (status_field(child, "PPid") == std::to_string(pid) && status_field(child, "Name") == name)
      found.push_back(child);
  }
  return found;
}

TEST_F(Privileges, DocumentedCapabilitiesAreEnough) {
  Scenario s;
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/refused", "http://" + refused) + "  }\n");
  const std::string out = s.dir() + "/records.jsonl";
  ChildProcess tracer({"setpriv", kBoundingSet, WHY502_BINARY, "trace", "--format", "json", "--output", out, "--pid",
                       std::to_string(s.nginx_master())});
  ASSERT_TRUE(tracer.wait_for_line("ready", 30s)) << tracer.output();
  EXPECT_EQ(effective_caps(tracer.pid()), kTracerCaps);
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused"}), std::vector<int>{502});
  tracer.signal(SIGINT);
  ASSERT_EQ(tracer.wait_exit(10s), 0) << tracer.output();
  std::vector<nlohmann::json> records;
  std::ifstream in(out);
  for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
  EXPECT_EQ(match_records(s.access_log(), records, {{refused, "refused"}}), "") << tracer.output();
}

TEST_F(Privileges, RootKeepsOnlyTheDocumentedCapabilitiesOnceAttached) {
  ChildProcess tracer({WHY502_BINARY, "trace", "--format", "json", "--output", "/dev/null"});
  ASSERT_TRUE(tracer.wait_for_line("ready", 30s)) << tracer.output();
  EXPECT_EQ(effective_caps(tracer.pid()), kTracerCaps);
  // CAP_SYS_ADMIN lives on in one helper only, which holds nothing of the
  // tracer's: its socket to the tracer and the standard descriptors.
  const std::vector<pid_t> helpers = children_named(tracer.pid(), "why502-uprobes");
  ASSERT_EQ(helpers.size(), 1u) << tracer.output();
  const pid_t helper = helpers[0];
  EXPECT_EQ(effective_caps(helper), kHelperCaps);
  std::vector<std::string> fds;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(helper) + "/fd"))
    fds.push_back(fd.path().filename());
  std::sort(fds.begin(), fds.end());
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2", "3"}));
  tracer.signal(SIGTERM);
  EXPECT_EQ(tracer.wait_exit(10s), 0) << tracer.output();
  // It goes with the tracer.
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(helper))) << "helper " << helper << " outlived it";
}

// The helper places the uprobes of an nginx started after why502 dropped
// CAP_SYS_ADMIN; with --no-uprobes there is no helper and nobody keeps it.
TEST_F(Privileges, AnNginxStartedLaterIsAttachedThroughTheHelper) {
  Scenario s;
  s.start_tracer({"-v"});
  ASSERT_TRUE(s.tracer().wait_for_text("uprobe helper pid", 10s)) << s.tracer_output();
  EXPECT_EQ(effective_caps(s.tracer().pid()), kTracerCaps);
  const std::string binary = s.dir() + "/opt/nginx";  // a new inode: attached after the drop
  install_nginx_copy(binary);
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/refused", "http://" + refused) + "  }\n", 1,
                1024, binary);
  ASSERT_TRUE(s.tracer().wait_for_text("attached to /proc/" + std::to_string(s.nginx_master()) + "/exe", 10s))
      << s.tracer_output();
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused"}), std::vector<int>{502});
  const std::vector<nlohmann::json> records = s.stop_tracer();
  EXPECT_EQ(match_records(s.access_log(), records, {{refused, "refused"}}), "") << s.tracer_output();
  ASSERT_EQ(records.size(), 1u) << s.tracer_output();
  EXPECT_EQ(records[0].value("source", ""), "uprobe") << records[0].dump();
  EXPECT_EQ(records[0].value("nginx_error", ""), "connect() failed (111: Connection refused) while connecting to upstream")
      << records[0].dump();

  ChildProcess kernel_only({WHY502_BINARY, "trace", "--no-uprobes", "--format", "json", "--output", "/dev/null"});
  ASSERT_TRUE(kernel_only.wait_for_line("ready", 30s)) << kernel_only.output();
  EXPECT_EQ(effective_caps(kernel_only.pid()), kTracerCaps);
  EXPECT_TRUE(children_named(kernel_only.pid(), "why502-uprobes").empty());
  kernel_only.signal(SIGTERM);
  EXPECT_EQ(kernel_only.wait_exit(10s), 0) << kernel_only.output();
}

// Without CAP_SYS_ADMIN the uprobes cannot be attached: why502 says so and
// falls back to kernel-only attribution, which still names a refused upstream
// for a plain HTTP/1 client.
TEST_F(Privileges, WithoutSysAdminItSaysSoAndFallsBackToTheKernelView) {
  int status = 0;
  const std::string out = run_command({"setpriv", kBoundingSetWithoutSysAdmin,
                                       WHY502_BINARY, "trace", "--duration", "0.2", "--nginx-binary",
                                       "/usr/sbin/nginx"},
                                      &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("cannot attach a uprobe"), std::string::npos) << out;
  EXPECT_NE(out.find("kernel-only attribution"), std::string::npos) << out;
  EXPECT_NE(out.find("nginx uprobes on 0 binaries"), std::string::npos) << out;
}

TEST_F(Privileges, WithoutThemOneLineNamesWhatIsMissing) {
  int status = 0;
  const std::string out = run_command({"setpriv", "--bounding-set=-all", WHY502_BINARY, "trace"}, &status);
  EXPECT_EQ(status, 2) << out;
  EXPECT_NE(out.find("CAP_BPF"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST_F(Privileges, DoctorSaysWhetherTracingWillWork) {
  int status = -1;
  // As on a freshly booted host: doctor loads and attaches, as trace does,
  // and needs no tracefs for it.
  const std::string healthy = run_command(as_on_a_fresh_host({WHY502_BINARY, "doctor"}), &status);
  EXPECT_EQ(status, 0) << healthy;
  for (const char* program : {"on_sock_send_length", "on_oom_mark_victim", "on_sched_process_exec"})
    EXPECT_TRUE(std::regex_search(healthy, std::regex(std::string("program ") + program + " +ok +attached to raw_tracepoint/")))
        << program << "\n" << healthy;
  EXPECT_TRUE(std::regex_search(healthy, std::regex("\nuprobes +ok +a uprobe attaches"))) << healthy;
  EXPECT_NE(healthy.find("uprobes attach"), std::string::npos) << healthy;
  // Each nginx binary's layout, and what doctor's moment could judge of it.
  EXPECT_TRUE(std::regex_search(healthy, std::regex("layout: nginx [^\n]*; live layout check(: not yet checked \\(no "
                                                    "error response seen\\)| passed on [0-9]+ events); read failures [0-9]+")))
      << healthy;
  EXPECT_EQ(healthy.find("FAIL"), std::string::npos) << healthy;
  EXPECT_NE(healthy.find("why502 can trace on this host"), std::string::npos) << healthy;
  EXPECT_TRUE(std::regex_search(healthy, std::regex("\ncgroup2 filesystem +ok +at /sys/fs/cgroup"))) << healthy;
  // A host that mounts no cgroup hierarchy: why502 mounts its own, unless
  // it has no CAP_SYS_ADMIN, which doctor warns of.
  const std::string unmounted = run_command(as_on_a_fresh_host({WHY502_BINARY, "doctor"}, false), &status);
  EXPECT_EQ(status, 0) << unmounted;
  EXPECT_TRUE(std::regex_search(unmounted, std::regex("\ncgroup2 filesystem +ok +none mounted: why502 mounts its own")))
      << unmounted;
  const std::string no_admin =
      run_command(as_on_a_fresh_host({"setpriv", kBoundingSetWithoutSysAdmin, WHY502_BINARY, "doctor"}, false), &status);
  EXPECT_TRUE(std::regex_search(no_admin, std::regex("\ncgroup2 filesystem +warn +none mounted, and none can be")))
      << no_admin;

  const std::string stripped = run_command({"setpriv", "--bounding-set=-all", WHY502_BINARY, "doctor"}, &status);
  EXPECT_EQ(status, 1) << stripped;
  EXPECT_NE(stripped.find("FAIL  missing CAP_BPF"), std::string::npos) << stripped;
}

}  // namespace
}  // namespace why502::testing
