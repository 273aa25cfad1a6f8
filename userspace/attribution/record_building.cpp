#include "attribution/record_building.hpp"

#include <algorithm>
#include <cerrno>
#include <iterator>

#include "common/text.hpp"
#include "events/address.hpp"

namespace why502 {
namespace {

std::string upstream_name(const w5_upstream_status& us) {
  if (us.remote.family == 1) return concat("unix:", wire_view(us.unix_path));
  return format_endpoint(us.remote);
}

// An error page of a request that never had an upstream, and nothing nginx
// logged: its configuration made the status (`return 502;`, or an error_page
// or try_files naming it). What is known of where: the location's name where
// the binary's layout has r->loc_conf, and the request line when captured.
void explain_without_upstream(Record& r) {
  if (!r.location.empty()) {
    r.evidence.push_back(concat("nginx's configuration returned ", Decimal(r.status), " in location ", r.location,
                                "; no upstream was involved"));
    if (!r.request.empty()) r.evidence.push_back(concat("the request was \"", r.request, "\""));
  } else {
    r.evidence.push_back(concat("nginx's configuration produced the ", Decimal(r.status), " itself (e.g. `return ",
                                Decimal(r.status), ";`): no upstream was involved"));
    if (!r.request.empty())
      r.evidence.push_back(concat("the location matching \"", r.request, "\" answered so"));
    else
      r.evidence.push_back("the request line (and so the location) is shown with --capture-request");
  }
  if (r.status == 503)
    r.evidence.push_back(
        "limit_req / limit_conn answer 503 too, unlogged when their log level is below error_log's");
}

// Where an upstream's own status was read, by the protocol its request armed.
std::string_view status_carrier(uint32_t proto) {
  switch (proto) {
    case W5_PROTO_FASTCGI:
      return "FastCGI Status header";
    case W5_PROTO_HTTP2:
      return "HTTP/2 :status header";
    case W5_PROTO_UWSGI:
      return "uwsgi response (status line or Status header)";
    case W5_PROTO_SCGI:
      return "SCGI response (status line or Status header)";
    default:
      return "HTTP status line";
  }
}

// The cause in one sentence, where the kernel saw who refused: an ICMP answer
// says a firewall (or a router) did, which the cause's headline would not.
std::string headline_with_socket(Cause cause, const SocketFacts* facts, std::string_view peer, int status) {
  const IcmpAnswer icmp = facts ? icmp_answer(*facts) : IcmpAnswer::none;
  if (cause == Cause::refused && (icmp == IcmpAnswer::port_unreachable || icmp == IcmpAnswer::prohibited))
    return concat("connect() to ", peer, " rejected by a firewall: ICMP answered the SYN, not a RST from a host with ",
                  "nothing listening; look at the reject rules on that host and on the way (`nft list ruleset`, ",
                  "`iptables -S`)");
  if (cause == Cause::unreachable && icmp == IcmpAnswer::unreachable_at_once)
    return concat(peer,
                  " is unreachable: the first SYN was rejected at once by ICMP (a firewall's reject rule, or a "
                  "router's), not lost to a host that is down");
  // Seconds of SYNs, then "no route to host": the last hop found no one at
  // that address (no ARP answer).
  if (cause == Cause::unreachable && facts && facts->error == EHOSTUNREACH && facts->syn_retransmits > 0 &&
      !facts->reset_in_syn_sent && !facts->reset_established)
    return concat(peer,
                  " is unreachable: no host answered at that address (a host that is down, or an address no host "
                  "has: nothing answered ARP on its network)");
  return headline(cause, peer, status);
}

}  // namespace

void append_moved(std::vector<std::string>& to, std::vector<std::string>&& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

Record new_record(RecordType type, RecordSource source, const w5_header& h, const w5_addr& client) {
  Record r;
  r.type = type;
  r.source = source;
  r.ts_ns = h.ts_ns;
  r.pid = h.tgid;
  r.client = format_endpoint(client);
  return r;
}

std::string headline(Cause cause, std::string_view peer, int status) {
  switch (cause) {
    case Cause::refused:
      return concat("connect() to ", peer, " refused: nothing accepted the connection");
    case Cause::reset:
      return concat("upstream ", peer, " reset the connection before a full response header");
    case Cause::closed_early:
      return concat("upstream ", peer, " closed the connection before a full response header");
    case Cause::slow_backend:
      return concat("upstream ", peer, " sent no response header within proxy_read_timeout");
    case Cause::connect_timeout:
      return concat("connect() to ", peer, " got no answer within proxy_connect_timeout");
    case Cause::invalid_response:
      return concat("upstream ", peer, " answered, but nginx rejected the response header");
    case Cause::upstream_status:
      return concat("upstream ", peer, " answered ", Decimal(status), " itself");
    case Cause::no_live_upstreams:
      return concat("every peer of ", peer, " was marked failed; no connection was tried");
    case Cause::backlog_full:
      return concat("the listen queue of ", peer, " was full");
    case Cause::fd_exhausted:
      return concat("out of file descriptors while connecting to ", peer);
    case Cause::unreachable:
      return concat(peer, " is unreachable");
    case Cause::dns_failure:
      // Without a resolver nginx fails before it names a peer.
      return peer.empty() ? "nginx could not resolve the upstream's host name"
                          : concat("nginx could not resolve ", peer);
    case Cause::tls_failure:
      return concat("TLS handshake with ", peer, " failed");
    case Cause::limited:
      return "rejected by nginx's own limit_req / limit_conn";
    case Cause::ports_exhausted:
      return concat("no free local port to connect to ", peer, " (EADDRNOTAVAIL)");
    case Cause::backend_crashed:
      return concat("the backend process behind ", peer, " died");
    case Cause::keepalive_race:
      return concat("upstream ", peer, " closed a keepalive connection as nginx reused it");
    case Cause::h2_stream_reset:
      return concat("upstream ", peer, " reset the request's HTTP/2 stream (RST_STREAM) before a full response header");
    case Cause::h2_goaway:
      return concat("upstream ", peer, " closed its HTTP/2 connection (GOAWAY) before a full response header");
    case Cause::unknown:
      break;
  }
  return concat("nginx answered ", Decimal(status), "; no upstream failure explains it");
}

void add_gateway_error_evidence(Record& r, GatewayErrorFacts&& f) {
  LoggedAttempt* const last_failure = f.last_failure;
  // Room for the lines of a typical record: headline, nginx's words, what
  // the kernel saw of the socket, one line per attempt when there were several.
  constexpr size_t kTypicalLines = 6;
  r.evidence.reserve(kTypicalLines + f.explained.size() + f.notes.size() +
                     (r.attempts.size() > 1 ? r.attempts.size() : 0));
  const SocketFacts* socket_facts = last_failure ? f.socket_facts : nullptr;
  // ICMP in reply to the SYN says who refused, which nginx's errno alone
  // leaves open (EACCES would read as a local policy).
  const bool icmp_leads = socket_facts && icmp_answer(*socket_facts) != IcmpAnswer::none &&
                          (r.cause == Cause::refused || r.cause == Cause::unreachable);
  const bool has_meaning = !icmp_leads && last_failure && !last_failure->failure.meaning.empty();
  // What nginx's words mean says it best, in place of the cause's headline.
  const bool meaning_leads = has_meaning && (r.cause == Cause::unknown || last_failure->failure.meaning_leads);
  if (!f.has_upstream && r.cause == Cause::unknown && !last_failure && !f.upstream_5xx)
    explain_without_upstream(r);
  else if (r.cause == Cause::slow_backend && last_failure && last_failure->failure.cause != Cause::slow_backend)
    // nginx saw a close or a reset, not its timeout: the death said why.
    r.evidence.push_back(concat("the backend behind ", r.upstream,
                                " was killed by its supervisor for taking too long; nginx saw the connection end"));
  else if (meaning_leads)
    r.evidence.emplace_back(last_failure->failure.meaning);
  else
    r.evidence.push_back(headline_with_socket(r.cause, socket_facts, r.upstream, r.status));
  append_moved(r.evidence, std::move(f.explained));
  if (last_failure) append_moved(r.evidence, std::move(last_failure->reuse_evidence));
  if (has_meaning && !meaning_leads) r.evidence.emplace_back(last_failure->failure.meaning);
  if (last_failure) {
    r.evidence.push_back(concat("nginx: ", last_failure->message));
    r.nginx_error = std::move(last_failure->message);
    if (socket_facts) SocketEvidence::describe(*socket_facts, last_failure->peer, r.evidence);
  } else if (f.limited) {
    r.evidence.push_back(concat("nginx: ", f.limited_message));
    r.nginx_error = std::move(f.limited_message);
  }
  if (f.upstream_5xx)
    r.evidence.push_back(
        concat("upstream ", upstream_name(*f.upstream_5xx), " sent status ", Decimal(f.upstream_5xx->status)));
  append_moved(r.evidence, std::move(f.notes));
  append_moved(r.evidence, std::move(f.earlier_failures));
  const size_t first_attempt = f.n_states > r.attempts.size() ? f.n_states - r.attempts.size() : 0;
  for (size_t i = 0; r.attempts.size() > 1 && i < r.attempts.size(); ++i) {
    const Attempt& a = r.attempts[i];
    // An attempt the upstream answered below 500 (its X-Accel-Redirect, say,
    // sent the request on to the attempts after it) did not fail.
    const bool answered = a.status >= 100 && a.status < 500 && a.cause == Cause::unknown;
    r.evidence.push_back(concat("attempt ", Decimal(first_attempt + i + 1), " of ",
                                Decimal(std::max<size_t>(f.n_states, r.attempts.size())), ": ", a.upstream, " ",
                                answered ? concat("answered ", Decimal(a.status)) : std::string(cause_name(a.cause))));
  }
}

Record truncated_record(const w5_ngx_log& e, Cause cause, std::string message,
                        std::vector<std::string> death_evidence) {
  Record r = new_record(RecordType::truncated, RecordSource::uprobe, e.h, e.client);
  r.cause = cause;
  r.upstream = wire_view(e.peer);
  r.evidence.reserve(2 + death_evidence.size());
  r.evidence.push_back(concat("the response was cut off after its header was sent: ", cause_name(r.cause)));
  append_moved(r.evidence, std::move(death_evidence));
  r.evidence.push_back(concat("nginx: ", message));
  r.nginx_error = std::move(message);
  r.attempts.push_back(Attempt{r.upstream, r.cause, 0, -1});
  return r;
}

Record retried_record(const std::vector<LoggedAttempt>& failures, const w5_addr& client,
                      const w5_client_response& response) {
  const LoggedAttempt& last = failures.back();
  Record r = new_record(RecordType::retried, RecordSource::uprobe, response.h, client);
  r.status = static_cast<int>(response.status);
  r.cause = last.failure.cause;
  r.upstream = last.peer;
  r.nginx_error = last.message;
  r.evidence.reserve(1 + last.reuse_evidence.size() + failures.size());
  r.attempts.reserve(failures.size());
  r.evidence.push_back(concat("nginx retried after ", cause_name(last.failure.cause), " on ", last.peer,
                              "; the client got ", Decimal(response.status)));
  r.evidence.insert(r.evidence.end(), last.reuse_evidence.begin(), last.reuse_evidence.end());
  for (const LoggedAttempt& f : failures) {
    r.evidence.push_back(concat("nginx: ", f.message, " (", f.peer, ")"));
    r.attempts.push_back(Attempt{f.peer, f.failure.cause, 0, -1});
  }
  return r;
}

Record upstream_status_record(const w5_upstream_status& us, const w5_client_response& client) {
  Record r = new_record(RecordType::gateway_error, RecordSource::kernel, client.h, client.remote);
  r.status = client.status != 0 ? static_cast<int>(client.status) : static_cast<int>(us.status);
  r.cause = Cause::upstream_status;
  r.upstream = upstream_name(us);
  r.evidence.reserve(2);
  r.evidence.push_back(headline(r.cause, r.upstream, static_cast<int>(us.status)));
  if (us.proto == W5_PROTO_TLS)
    r.evidence.push_back(
        "the upstream answered over TLS, which is encrypted: nginx sent this status right after reading that answer, "
        "building no error page and logging no failure, as it passes an upstream's own status on");
  else
    r.evidence.push_back(concat("the status came in the upstream's ", status_carrier(us.proto), "; nginx passed it on"));
  r.attempts.push_back(Attempt{r.upstream, Cause::upstream_status, static_cast<int>(us.status), -1});
  return r;
}

Record kernel_only_record(const w5_client_response& e, const SocketFacts* facts, bool fallback) {
  Record r = new_record(RecordType::gateway_error, RecordSource::kernel, e.h, e.remote);
  r.status = static_cast<int>(e.status);
  if (facts) {
    r.upstream = format_endpoint(facts->remote);
    const IcmpAnswer icmp = icmp_answer(*facts);
    if (facts->reset_in_syn_sent || icmp == IcmpAnswer::port_unreachable || icmp == IcmpAnswer::prohibited)
      r.cause = Cause::refused;
    else if (facts->error == EHOSTUNREACH || facts->error == ENETUNREACH)
      r.cause = Cause::unreachable;
    else if (facts->reset_established)
      r.cause = Cause::reset;
    else if (facts->syn_retransmits > 0 && r.status == 504)
      r.cause = Cause::connect_timeout;
  }
  r.evidence.push_back(headline_with_socket(r.cause, facts, r.upstream, r.status));
  if (fallback)
    r.evidence.push_back("kernel-only view (nginx symbols unavailable): joined by worker and time, not by request");
  else
    // With nginx's symbols, no error page and no failure logged: what sends
    // a 5xx status line that way.
    r.evidence.push_back(concat("nginx built no error page and logged no upstream failure: a `return ",
                                Decimal(r.status),
                                " \"text\"` in its configuration or a module (njs, Lua, perl) answered so, or an "
                                "upstream reached over TLS (proxy_pass https://), whose answers are encrypted, sent "
                                "the status while nginx wrote to another client in between"));
  if (facts) SocketEvidence::describe(*facts, r.upstream, r.evidence);
  return r;
}

}  // namespace why502
