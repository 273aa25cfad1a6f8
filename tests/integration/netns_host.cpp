#include "netns_host.hpp"

#include <unistd.h>

#include <stdexcept>

#include "child_process.hpp"

namespace why502::testing {
namespace {

void run_or_throw(const std::vector<std::string>& argv) {
  int status = 0;
  std::string out = run_command(argv, &status);
  if (status != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw std::runtime_error("failed: " + cmd + ": " + out);
  }
}

}  // namespace

OwnNetns::OwnNetns() : name_("w5test" + std::to_string(getpid())) {
  run_command({"ip", "netns", "del", name_});  // a leftover from a killed run
  run_or_throw({"ip", "netns", "add", name_});
  run({"ip", "link", "set", "lo", "up"});
}

OwnNetns::~OwnNetns() { run_command({"ip", "netns", "delete", name_}); }

void OwnNetns::run(const std::vector<std::string>& argv) const {
  std::vector<std::string> in_ns{"ip", "netns", "exec", name_};
  in_ns.insert(in_ns.end(), argv.begin(), argv.end());
  run_or_throw(in_ns);
}

FirewalledHost::FirewalledHost() {
  const int id = getpid() % 200 + 20;  // distinct per test process
  name_ = "why502t" + std::to_string(id);
  host_link_ = "w5h" + std::to_string(id);
  peer_link_ = "w5n" + std::to_string(id);
  const std::string prefix = "10.250." + std::to_string(id) + ".";
  address_ = prefix + "2";
  const std::string prefix6 = "fd50:0:0:" + std::to_string(id) + "::";
  address6_ = prefix6 + "2";
  absent_address_ = prefix + "3";
  run_command({"ip", "netns", "del", name_});  // a leftover from a killed run
  run_command({"ip", "link", "del", host_link_});
  run_or_throw({"ip", "netns", "add", name_});
  run_or_throw({"ip", "link", "add", host_link_, "type", "veth", "peer", "name", peer_link_, "netns", name_});
  run_or_throw({"ip", "addr", "add", prefix + "1/29", "dev", host_link_});
  run_or_throw({"ip", "link", "set", host_link_, "up"});
  run_or_throw({"ip", "-n", name_, "addr", "add", address_ + "/29", "dev", peer_link_});
  run_or_throw({"ip", "-n", name_, "link", "set", peer_link_, "up"});
  run_or_throw({"ip", "-n", name_, "link", "set", "lo", "up"});
  // (nodad: the addresses are usable at once, with no duplicate detection to wait for.)
  run_or_throw({"ip", "addr", "add", prefix6 + "1/64", "dev", host_link_, "nodad"});
  run_or_throw({"ip", "-n", name_, "addr", "add", address6_ + "/64", "dev", peer_link_, "nodad"});
  const auto rule = [](int port, const std::string& verdict) {
    return "add rule inet why502 input tcp dport " + std::to_string(port) + " " + verdict + "; ";
  };
  run_or_throw({"ip", "netns", "exec", name_, "nft",
                "add table inet why502; add chain inet why502 input { type filter hook input priority 0; policy "
                "accept; }; " +
                    rule(kSilentPort, "drop") + rule(kRejectingPort, "reject") +
                    rule(kProhibitingPort, "reject with icmpx type admin-prohibited") +
                    rule(kDistantRejectingPort, "drop") + rule(kDistantProhibitingPort, "drop")});
}

FirewalledHost::~FirewalledHost() {
  run_command({"ip", "link", "del", host_link_});
  run_command({"ip", "netns", "del", name_});
}

DistantFirewall::DistantFirewall(const FirewalledHost& host) {
  const int delay_ms = 20;  // a few hops away
  responder_ = std::make_unique<ChildProcess>(std::vector<std::string>{
      "ip", "netns", "exec", host.netns(), "python3", std::string(WHY502_SOURCE_DIR) + "/tests/backends/distant_firewall.py",
      host.link(), std::to_string(delay_ms),
      std::to_string(FirewalledHost::kDistantRejectingPort) + "=port-unreachable",
      std::to_string(FirewalledHost::kDistantProhibitingPort) + "=admin-prohibited"});
  if (!responder_->wait_for_line("ready", std::chrono::seconds(10)))
    throw std::runtime_error("distant_firewall.py did not start: " + responder_->output());
}

}  // namespace why502::testing
