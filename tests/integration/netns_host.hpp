// A host of our own in a network namespace, joined to this one by a veth
// pair (IPv4 and IPv6), whose firewall drops incoming SYNs to a port (a peer
// that never answers) and rejects them with ICMP on two others, as firewalls
// do; without sending a packet anywhere but to it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace why502::testing {

// A network namespace this test owns (as a container has), with its
// loopback up; removed at the end.
class OwnNetns {
 public:
  OwnNetns();
  ~OwnNetns();
  OwnNetns(const OwnNetns&) = delete;
  OwnNetns& operator=(const OwnNetns&) = delete;
  const std::string& name() const { return name_; }
  // Runs argv inside it; throws when it fails.
  void run(const std::vector<std::string>& argv) const;

 private:
  std::string name_;
};

class FirewalledHost {
 public:
  FirewalledHost();  // creates the namespace, the link and the firewall's rules
  ~FirewalledHost();
  FirewalledHost(const FirewalledHost&) = delete;
  FirewalledHost& operator=(const FirewalledHost&) = delete;

  const std::string& address() const { return address_; }    // e.g. 10.250.17.2
  const std::string& address6() const { return address6_; }  // e.g. fd50:0:0:17::2
  // An address on the same link that no host answers ARP for: EHOSTUNREACH.
  const std::string& absent_address() const { return absent_address_; }
  static constexpr int kSilentPort = 81;       // SYNs dropped
  static constexpr int kRejectingPort = 82;    // `reject`: ICMP port unreachable
  static constexpr int kProhibitingPort = 83;  // `reject with icmpx type admin-prohibited`
  static constexpr int kClosedPort = 84;       // no rule, nothing listening: RST
  // SYNs dropped here; a DistantFirewall answers them with ICMP.
  static constexpr int kDistantRejectingPort = 85;    // port unreachable
  static constexpr int kDistantProhibitingPort = 86;  // administratively prohibited

  const std::string& netns() const { return name_; }
  const std::string& link() const { return peer_link_; }  // its end of the veth

 private:
  std::string name_;
  std::string host_link_;
  std::string peer_link_;
  std::string address_;
  std::string address6_;
  std::string absent_address_;
};

// A firewall some hops beyond the host: it answers SYNs to the host's
// distant ports with ICMP after a delay, so the error reaches nginx's socket
// long after connect() returned and outside any nginx process, as it does on
// a real network (a reject rule on the host itself answers within connect()).
class DistantFirewall {
 public:
  explicit DistantFirewall(const FirewalledHost& host);  // ready to answer on return
  DistantFirewall(const DistantFirewall&) = delete;
  DistantFirewall& operator=(const DistantFirewall&) = delete;

 private:
  std::unique_ptr<ChildProcess> responder_;
};

}  // namespace why502::testing
