// --lean, the always-on hook set: no BPF program on the socket send and
// receive tracepoints (which every process runs for every request), only
// hooks that fire when something fails. nginx-side failures and backend
// deaths are still named per request; the upstream's own 5xx is not seen.
#include <gtest/gtest.h>
#include <algorithm>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using namespace std::chrono_literals;
using Lean = RootTest;

bool has_prefix(const std::vector<std::string>& names, const std::string& prefix) {
  for (const auto& n : names)
    if (n.rfind(prefix, 0) == 0) return true;
  return false;
}

// Entries in the loaded BPF maps whose (15-character) name is name.
size_t map_entries(const std::string& name) {
  size_t n = 0;
  for (const auto& m : nlohmann::json::parse(run_command({"bpftool", "-j", "map", "show"}))) {
    if (m.value("name", "") != name) continue;
    const std::string id = std::to_string(m.value("id", 0));
    n += nlohmann::json::parse(run_command({"bpftool", "-j", "map", "dump", "id", id})).size();
  }
  return n;
}

TEST_F(Lean, NamesNginxSideFailuresWithNoProgramOnSendOrReceive) {
  Scenario s;
  const std::string reset = s.start_backend("reset");
  const std::string closed = s.start_backend("close");
  const std::string slow = s.start_backend("slow", "127.0.0.1:0", 4);
  const std::string invalid = s.start_backend("invalid_header");
  const std::string says502 = s.start_backend("status502");
  const std::string victim = s.start_backend("hang");
  ChildProcess& hanging = s.last_started();
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    proxy_read_timeout 1s;\n" +
                proxy("/refused", "http://" + refused) + proxy("/reset", "http://" + reset) +
                proxy("/closed", "http://" + closed) + proxy("/slow", "http://" + slow) +
                proxy("/invalid", "http://" + invalid) + proxy("/says502", "http://" + says502) +
                proxy("/victim", "http://" + victim) + "  }\n");
  // (On a host with no cgroup hierarchy mounted: nginx's cgroup, which tells
  // its sockets below, is read through a cgroup2 mount of why502's own.)
  s.trace_without_cgroup_mounts();
  s.start_tracer({"--lean"});

  const std::vector<std::string> loaded = loaded_program_names(bpf_program_ids_of(s.tracer().pid()));
  EXPECT_FALSE(has_prefix(loaded, "on_sock_send")) << ::testing::PrintToString(loaded);
  EXPECT_FALSE(has_prefix(loaded, "on_sock_recv")) << ::testing::PrintToString(loaded);
  EXPECT_TRUE(has_prefix(loaded, "on_tcp_receive")) << ::testing::PrintToString(loaded);
  EXPECT_TRUE(has_prefix(loaded, "ngx_")) << ::testing::PrintToString(loaded);

  const std::string base = "http://127.0.0.1:{PORT}";
  auto codes = s.curl({base + "/refused", base + "/reset", base + "/closed", base + "/slow", base + "/invalid",
                       base + "/says502"});
  std::vector<int> victim_code;
  std::thread in_flight([&] { victim_code = s.curl({base + "/victim"}); });
  const bool got_request = hanging.wait_for_line("request", 10s).has_value();
  if (got_request) run_command({"kill", "-KILL", std::to_string(hanging.pid())});
  in_flight.join();
  ASSERT_TRUE(got_request) << hanging.output();
  // Failed clients are marked for the send program to find; without it the
  // marks would only fill the map.
  EXPECT_EQ(map_entries("clients_with_fa"), 0u);
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502, 502, 502, 504, 502, 502}));
  EXPECT_EQ(victim_code, (std::vector<int>{502}));

  // The upstream's own 502 is the one gateway error --lean does not see:
  // reading response bytes is what it leaves out.
  std::vector<AccessLine> seen_by_lean;
  for (const AccessLine& line : s.access_log())
    if (line.last_upstream != says502) seen_by_lean.push_back(line);
  EXPECT_EQ(match_records(seen_by_lean, records,
                          Causes{{refused, "refused"},
                                 {reset, "reset"},
                                 {closed, "closed_early"},
                                 {slow, "slow_backend"},
                                 {invalid, "invalid_response"},
                                 {victim, "backend_crashed"}}),
            "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(records.size(), 6u);
  // The backend's reset reaches nginx's socket while the backend runs (its
  // own close, over loopback), and --lean keeps no request slot to know the
  // socket by: its cgroup, one nginx runs in, says it is nginx's.
  int resets_with_kernel_evidence = 0;
  for (const auto& r : records)
    for (const auto& line : r["evidence"])
      resets_with_kernel_evidence += r["cause"] == "reset" && line == "kernel: RST received from " + reset +
                                                                          " on an established connection";
  EXPECT_EQ(resets_with_kernel_evidence, 1) << s.tracer_output() << records.size();
}

// An nginx started after why502: no userspace scan found its processes when
// the tracer started, so the cgroup that marks its sockets comes from its
// fork and exec as the kernel reports them. A reset then keeps its kernel line.
TEST_F(Lean, AnNginxStartedAfterItStillHasTheKernelLineOfAReset) {
  Scenario s;
  const std::string reset = s.start_backend("reset");
  s.start_tracer({"--lean", "--nginx-binary", nginx_under_test()});  // no nginx runs yet
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/reset", "http://" + reset) + "  }\n");
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/reset", "http://127.0.0.1:{PORT}/reset"}), (std::vector<int>{502, 502}));
  const auto records = s.stop_tracer();
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{reset, "reset"}}), "") << s.error_log() << s.tracer_output();
  ASSERT_EQ(records.size(), 2u) << s.tracer_output();
  for (const auto& r : records) {
    const auto& evidence = r["evidence"];
    EXPECT_NE(std::find(evidence.begin(), evidence.end(),
                        "kernel: RST received from " + reset + " on an established connection"),
              evidence.end())
        << r.dump();
  }
}

// Without the uprobes --lean would see nothing at all: it says so and stops
// instead of watching nothing.
TEST_F(Lean, WithoutUprobesItRefusesToStart) {
  int status = 0;
  const std::string out = run_command({"setpriv", kBoundingSetWithoutSysAdmin,
                                       WHY502_BINARY, "trace", "--lean", "--duration", "5", "--nginx-binary",
                                       "/usr/sbin/nginx"},
                                      &status);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("cannot attach a uprobe"), std::string::npos) << out;
  EXPECT_NE(out.find("--lean needs nginx's uprobes"), std::string::npos) << out;

  const std::string flags = run_command({WHY502_BINARY, "trace", "--lean", "--no-uprobes"}, &status);
  EXPECT_EQ(status, 2) << flags;
  EXPECT_NE(flags.find("excludes"), std::string::npos) << flags;
}

}  // namespace
}  // namespace why502::testing
