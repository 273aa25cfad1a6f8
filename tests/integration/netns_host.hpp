// A host of our own in a network namespace, joined to this one by a veth
// pair, whose firewall drops incoming SYNs to a port: a peer that never
// answers, without sending a packet anywhere but to it.
#pragma once

#include <string>

namespace why502::testing {

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
