// Least privilege: why502 works with exactly the capabilities the README
// documents, keeps only those once attached, and says what is missing
// without them.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <regex>

#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using namespace std::chrono_literals;
using Privileges = RootTest;

// The documented set (README, packaging/why502.service.in).
const char* const kBoundingSet = "--bounding-set=-all,+bpf,+perfmon,+sys_admin,+dac_read_search,+sys_ptrace";
constexpr uint64_t kDocumentedCaps = (1ull << 39) | (1ull << 38) | (1ull << 21) | (1ull << 19) | (1ull << 2);

uint64_t effective_caps(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return ~0ull;
}

TEST_F(Privileges, DocumentedCapabilitiesAreEnough) {
  Scenario s;
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::free_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/refused", "http://" + refused) + "  }\n");
  const std::string out = s.dir() + "/records.jsonl";
  ChildProcess tracer({"setpriv", kBoundingSet, WHY502_BINARY, "trace", "--format", "json", "--output", out, "--pid",
                       std::to_string(s.nginx_master())});
  ASSERT_TRUE(tracer.wait_for_line("ready", 30s)) << tracer.output();
  EXPECT_EQ(effective_caps(tracer.pid()), kDocumentedCaps);
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
  EXPECT_EQ(effective_caps(tracer.pid()), kDocumentedCaps);
  tracer.signal(SIGTERM);
  EXPECT_EQ(tracer.wait_exit(10s), 0) << tracer.output();
}

// Without CAP_SYS_ADMIN the uprobes cannot be attached: why502 says so and
// falls back to kernel-only attribution, which still names a refused upstream
// for a plain HTTP/1 client.
TEST_F(Privileges, WithoutSysAdminItSaysSoAndFallsBackToTheKernelView) {
  int status = 0;
  const std::string out = run_command({"setpriv", "--bounding-set=-all,+bpf,+perfmon,+dac_read_search,+sys_ptrace",
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
  const std::string healthy = run_command(without_tracefs({WHY502_BINARY, "doctor"}), &status);
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

  const std::string stripped = run_command({"setpriv", "--bounding-set=-all", WHY502_BINARY, "doctor"}, &status);
  EXPECT_EQ(status, 1) << stripped;
  EXPECT_NE(stripped.find("FAIL  missing CAP_BPF"), std::string::npos) << stripped;
}

}  // namespace
}  // namespace why502::testing
