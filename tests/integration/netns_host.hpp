// A host of our own in a network namespace, joined to this one by a veth
// pair, whose firewall drops incoming SYNs to a port: a peer that never
// answers, without sending a packet anywhere but to it.
#pragma once

#include <string>
#include <vector>

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

class SilentHost {
 public:
  SilentHost();  // creates the namespace, the link and the drop rule
  ~SilentHost();
  SilentHost(const SilentHost&) = delete;
  SilentHost& operator=(const SilentHost&) = delete;

  const std::string& address() const { return address_; }  // e.g. 10.250.17.2
  // An address on the same link that no host answers ARP for: EHOSTUNREACH.
  const std::string& absent_address() const { return absent_address_; }
  static constexpr int kSilentPort = 81;

 private:
  std::string name_;
  std::string host_link_;
  std::string address_;
  std::string absent_address_;
};

}  // namespace why502::testing
