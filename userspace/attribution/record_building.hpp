// How each kind of record is put together once the engine knows what
// happened: the one place that fills a record's header fields, each cause's
// headline, and the order of evidence users read (most decisive first).
// Nothing here looks anything up: the engine passes in what it found.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attribution/attempt_alignment.hpp"
#include "attribution/record.hpp"
#include "attribution/socket_evidence.hpp"
#include "why502_wire.h"

namespace why502 {

// A record of the event h completed (its time and nginx worker), about client.
Record new_record(RecordType type, RecordSource source, const w5_header& h, const w5_addr& client);

// The first line of the evidence: the cause in one sentence.
std::string headline(Cause cause, std::string_view peer, int status);

// What the engine found behind an error page, besides the attempts and cause
// already in its record.
struct GatewayErrorFacts {
  bool has_upstream = false;  // the request had an upstream at all
  uint32_t n_states = 0;      // attempts nginx made (the page carries only the last few)
  // nginx's words for the last attempt; its message and reuse evidence are moved out.
  LoggedAttempt* last_failure = nullptr;
  std::vector<std::string> explained;          // what a death, listener, backend or the ports said
  const SocketFacts* socket_facts = nullptr;   // the kernel's view of the last attempt's socket
  const w5_upstream_status* upstream_5xx = nullptr;  // the upstream's own 5xx, if seen
  bool limited = false;                        // limit_req / limit_conn rejected it
  std::string limited_message;
  std::vector<std::string> notes;              // nginx's other warnings about the request
  std::vector<std::string> earlier_failures;   // behind no_live_upstreams
};
// Appends from's lines to `to`, moving them.
void append_moved(std::vector<std::string>& to, std::vector<std::string>&& from);

// Fills in the evidence (and nginx_error) of a gateway error whose status,
// attempts and cause are set.
void add_gateway_error_evidence(Record& r, GatewayErrorFacts&& facts);

// A failure while reading the body: the client already had the header.
Record truncated_record(const w5_ngx_log& log, Cause cause, std::string message,
                        std::vector<std::string> death_evidence);
// A failure nginx recovered from: response is what the client got instead.
Record retried_record(const std::vector<LoggedAttempt>& failures, const w5_addr& client,
                      const w5_client_response& response);
// An upstream's own 5xx passed on to the client.
Record upstream_status_record(const w5_upstream_status& us, const w5_client_response& client);
// A 5xx status line with no nginx-side explanation: nginx made it without an
// upstream failure (e.g. "return 502"), or its symbols are unavailable
// (fallback) and facts, the worker's recent failed upstream socket if any, are
// all there is.
Record kernel_only_record(const w5_client_response& e, const SocketFacts* facts, bool fallback);

}  // namespace why502
