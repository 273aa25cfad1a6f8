// --anonymise-clients: client addresses cut down before anything sees them.
#pragma once

#include <cstdint>
#include <span>

#include "events/event.hpp"

namespace why502 {

// IPv4 to its /24, IPv6 to its /48. The port stays: it tells connections of
// one network apart (the engine joins by them) and says nothing of a person.
void anonymise_address(w5_addr& addr);
// Every address an event carries that may be a client's: the connecting end
// of every TCP connection (the client's, and nginx's own towards upstreams).
// Listening ends stay: upstreams, nginx's listeners.
void anonymise_clients(Event& event);
// The wire bytes of an event (for recordings of the anonymised events).
std::span<const uint8_t> event_bytes(const Event& event);

}  // namespace why502
