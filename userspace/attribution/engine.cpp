#include "attribution/engine.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "attribution/keepalive_race.hpp"
#include "attribution/backend_evidence.hpp"
#include "attribution/nginx_log_format.hpp"
#include "attribution/time_window.hpp"
#include "common/text.hpp"
#include "events/address.hpp"
#include "events/cgroup_path.hpp"

namespace why502 {
namespace {

// The request line as nginx holds it, if it looks like one ("GET /x HTTP/1.1"):
// its offset in ngx_http_request_t depends on the build, so what was read is
// checked before it is believed. Longer lines end in "...".
std::string plausible_request_line(const w5_request_line& e) {
  const std::string line = wire_string(e.line);
  size_t method = 0;
  while (method < line.size() && line[method] >= 'A' && line[method] <= 'Z') ++method;
  if (method < 3 || method >= line.size() || line[method] != ' ' || line.size() < method + 2) return "";
  for (char c : line)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return "";
  if (line.size() != std::min<size_t>(e.len, W5_REQUEST_LINE_LEN - 1)) return "";
  return e.len > line.size() ? line + "..." : line;
}

// A location's name as read from nginx's configuration (ngx_http_core_loc_conf_t.name),
// if it looks like one: text without control characters (a wrong offset reads
// anything). Longer names end in "...".
std::string plausible_location(const w5_ngx_location& e) {
  const std::string name = wire_string(e.name);
  if (name.empty() || name.size() != std::min<size_t>(e.len, W5_LOCATION_LEN - 1)) return "";
  for (char c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "";
  return e.len > name.size() ? name + "..." : name;
}

constexpr uint64_t kUnsetMsec = ~0ull;  // nginx's (ngx_msec_t) -1

bool is_unset(uint64_t msec) { return msec == kUnsetMsec; }

std::string upstream_name(const w5_upstream_status& us) {
  if (us.remote.family == 1) return concat("unix:", wire_view(us.unix_path));
  return format_endpoint(us.remote);
}

// The first line of the evidence: the cause in one sentence.
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
    case Cause::unknown:
      break;
  }
  return concat("nginx answered ", Decimal(status), "; no upstream failure explains it");
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

}  // namespace

Cause cause_from_upstream_state(const w5_upstream_state& s) {
  if (!is_unset(s.header_ms) && s.status >= 500) return Cause::upstream_status;
  if (is_unset(s.connect_ms)) {
    if (s.status == 504) return Cause::connect_timeout;
    if (s.status == 502) return Cause::refused;
    return Cause::unknown;
  }
  if (s.status == 504) return Cause::slow_backend;
  if (s.status == 502) return s.bytes_received == 0 ? Cause::closed_early : Cause::invalid_response;
  return Cause::unknown;
}

void Engine::handle(const Event& event, std::vector<Record>& out) {
  std::visit(
      [&](const auto& e) {
        begin_event(e.h.ts_ns, out);
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, w5_ngx_log>) {
          on_nginx_log(e, out);
        } else if constexpr (std::is_same_v<T, w5_ngx_error_page>) {
          on_error_page(e, out);
        } else if constexpr (std::is_same_v<T, w5_client_response>) {
          on_client_response(e, out);
        } else if constexpr (std::is_same_v<T, w5_upstream_status>) {
          on_upstream_status(e);
        } else if constexpr (std::is_same_v<T, w5_sock_evidence>) {
          sockets_.add(e);
        } else if constexpr (std::is_same_v<T, w5_process_death>) {
          deaths_.add_death(e);
        } else if constexpr (std::is_same_v<T, w5_signal>) {
          deaths_.add_signal(e);
        } else if constexpr (std::is_same_v<T, w5_oom_victim>) {
          deaths_.add_oom_victim(e);
        } else if constexpr (std::is_same_v<T, w5_listener_state>) {
          listeners_[{e.addr.family, e.addr.port}] = e;
        } else if constexpr (std::is_same_v<T, w5_port_usage>) {
          if (port_usage_.size() >= 4096) port_usage_.clear();  // each is for the error that follows it
          port_usage_[{e.h.tgid, wire_string(e.peer)}] = e;
        } else if constexpr (std::is_same_v<T, w5_backend_state>) {
          if (backend_states_.size() >= 4096) backend_states_.clear();  // each is for the error that follows it
          backend_states_[{e.h.tgid, e.upstream_sk}] = e;
        } else if constexpr (std::is_same_v<T, w5_process_cgroup>) {
          if (process_cgroups_.size() >= 4096) process_cgroups_.clear();  // read once per process
          process_cgroups_[e.h.tgid] = wire_string(e.cgroup);
        } else if constexpr (std::is_same_v<T, w5_request_line>) {
          if (request_lines_.size() >= 4096) request_lines_.clear();  // each is taken by the next event
          if (std::string line = plausible_request_line(e); !line.empty())
            request_lines_[RequestKey{e.h.tgid, e.request, e.connection}] = std::move(line);
        } else if constexpr (std::is_same_v<T, w5_upstream_reuse>) {
          if (reuses_.size() >= 4096) reuses_.clear();  // each is for the log event that follows it
          reuses_[RequestKey{e.h.tgid, e.request, e.connection}] = e;
        } else if constexpr (std::is_same_v<T, w5_ngx_location>) {
          if (locations_.size() >= 4096) locations_.clear();  // each is taken by the next event
          if (std::string name = plausible_location(e); !name.empty())
            locations_[RequestKey{e.h.tgid, e.request, e.connection}] = std::move(name);
        } else if constexpr (std::is_same_v<T, w5_request_ended>) {
          on_request_ended(e);
        }
      },
      event);
}

void Engine::begin_event(uint64_t now, std::vector<Record>& out) {
  ++stats_.events;
  if (!held_.empty()) flush(now, out);
  if (age_ns(now, last_expiry_ns_) > 1'000'000'000ull) {
    expire(now);
    last_expiry_ns_ = now;
  }
}

void Engine::on_nginx_log(const w5_ngx_log& e, std::vector<Record>& out) {
  const std::string_view fmt = wire_view(e.fmt);
  const std::string_view action = wire_view(e.action);
  const std::string_view peer = wire_view(e.peer);
  auto failure = classify_nginx_log(fmt, e.err, action);
  const bool disabled_note = fmt.starts_with("upstream server temporarily disabled");
  if (!failure && !disabled_note) return;

  std::string message = format_nginx_log(e);
  // A failure while reading the body: the client already has the header (a
  // 2xx, typically) and gets a cut-off response; no error page follows.
  if (failure && failure->is_attempt && action == "reading upstream") {
    Record r;
    r.type = RecordType::truncated;
    r.ts_ns = e.h.ts_ns;
    r.pid = e.h.tgid;
    r.cause = failure->cause;
    const std::vector<std::string> death_evidence = explain_by_death(
        LoggedAttempt{e.h.ts_ns, e.h.tgid, std::string(peer), *failure, message, e.upstream_sk, e.upstream, e.upstream_local, {}},
        -1, r.cause);
    r.client = format_endpoint(e.client);
    r.upstream = peer;
    r.source = RecordSource::uprobe;
    r.evidence.reserve(2 + death_evidence.size());
    r.evidence.push_back(concat("the response was cut off after its header was sent: ", cause_name(r.cause)));
    r.evidence.insert(r.evidence.end(), death_evidence.begin(), death_evidence.end());
    r.evidence.push_back(concat("nginx: ", message));
    r.nginx_error = std::move(message);
    r.attempts.push_back(Attempt{std::string(peer), r.cause, 0, -1});
    ++stats_.truncated;
    emit(std::move(r), out);
    return;
  }
  const RequestKey key{e.h.tgid, e.request, e.connection};
  std::vector<std::string> reuse_evidence;
  if (auto reuse = reuses_.find(key); reuse != reuses_.end()) {
    if (failure && failure->is_attempt && reuse->second.upstream_sk == e.upstream_sk &&
        (failure->cause == Cause::closed_early || failure->cause == Cause::reset)) {
      ReusedConnectionVerdict verdict =
          judge_reused_connection(reuse->second, failure->cause, action == "sending request to upstream");
      if (verdict.race) failure->cause = Cause::keepalive_race;
      reuse_evidence = std::move(verdict.evidence);
    }
    reuses_.erase(reuse);
  }
  PendingRequest& p = pending_for(key, e.requests, e.client_sk);
  p.last_ts_ns = e.h.ts_ns;
  p.client = e.client;
  if (e.client_sk != 0) {
    p.client_sk = e.client_sk;
    request_by_client_[SocketKey{e.h.tgid, e.client_sk}] = key;
  }
  if (!failure) {
    p.notes.push_back(peer.empty() ? concat("nginx: ", message) : concat("nginx: ", message, " (", peer, ")"));
    return;
  }
  if (!failure->is_attempt) {
    p.limited = true;
    p.limited_message = std::move(message);
    return;
  }
  p.failures.push_back(LoggedAttempt{e.h.ts_ns, e.h.tgid, std::string(peer), *failure, std::move(message), e.upstream_sk,
                                     e.upstream, e.upstream_local, std::move(reuse_evidence)});
  if (failure->cause != Cause::no_live_upstreams) {
    auto& recent = recent_failures_[e.h.tgid];
    recent.push_back(PeerFailure{e.h.ts_ns, std::string(peer), failure->cause});
    if (recent.size() > 64) recent.pop_front();
  }
}

void Engine::on_error_page(const w5_ngx_error_page& e, std::vector<Record>& out) {
  PendingRequest p;
  if (e.client_sk != 0) supersede_on_socket(e.h.tgid, e.client_sk, e.connection);
  const RequestAddress address{e.h.tgid, e.request};
  if (PendingRequest* found = pending_.find(address)) {
    if (found->connection == e.connection && same_request_number(*found, e.requests))
      p = std::move(*found);  // its connection number and socket stay readable for forget()
    else
      ++stats_.superseded_requests;  // an earlier request at this address, long gone
    forget(address);
  }
  std::optional<w5_upstream_status> upstream_5xx;
  if (auto it = upstream_5xx_.find(e.h.tid); it != upstream_5xx_.end()) {
    upstream_5xx = it->second;
    upstream_5xx_.erase(it);
  }

  Record r;
  r.ts_ns = e.h.ts_ns;
  r.pid = e.h.tgid;
  r.status = static_cast<int>(e.status);
  r.client = format_endpoint(e.client);
  r.upstream = e.has_upstream ? wire_string(e.peer) : "";
  r.source = RecordSource::uprobe;
  if (!request_lines_.empty()) {
    if (auto it = request_lines_.find(RequestKey{e.h.tgid, e.request, e.connection}); it != request_lines_.end()) {
      r.request = std::move(it->second);
      request_lines_.erase(it);
    }
  }
  if (!locations_.empty()) {
    if (auto it = locations_.find(RequestKey{e.h.tgid, e.request, e.connection}); it != locations_.end()) {
      r.location = std::move(it->second);
      locations_.erase(it);
    }
  }

  // One attempt per entry of r->upstream_states (the last few when there
  // were many). nginx's log lines give the causes of the failed ones. They are
  // aligned from the end: failures left over from an earlier request that
  // reused this request's memory on the same connection (a retried failure
  // the client never saw) sit at the front and are ignored.
  const size_t n_states = std::min<size_t>(e.n_states, W5_MAX_STATES);
  // Nothing logged before the request's upstream attempts began is theirs
  // (with a second of slack for nginx's millisecond clock and queueing).
  uint64_t attempts_ms = 0;
  bool durations_known = e.n_states <= W5_MAX_STATES;
  for (size_t i = 0; i < n_states; ++i) {
    if (is_unset(e.states[i].response_ms)) durations_known = false;
    else attempts_ms += e.states[i].response_ms;
  }
  const uint64_t earliest_ns = durations_known && e.h.ts_ns > (attempts_ms + 1000) * 1'000'000ull
                                   ? e.h.ts_ns - (attempts_ms + 1000) * 1'000'000ull
                                   : 0;
  std::array<LoggedAttempt*, W5_MAX_STATES> logged{};
  size_t unmatched = p.failures.size();
  for (size_t i = n_states; i-- > 0 && unmatched > 0;) {
    if (p.failures[unmatched - 1].ts_ns < earliest_ns) break;
    // nginx names the peer in the state only once connect() got going; a
    // failure before that (no free connection, no socket) leaves it empty.
    const std::string_view state_peer = wire_view(e.states[i].peer);
    if (state_peer.empty() || p.failures[unmatched - 1].peer == state_peer) logged[i] = &p.failures[--unmatched];
  }
  r.attempts.reserve(std::max<size_t>(n_states, 1));
  for (size_t i = 0; i < n_states; ++i) {
    const w5_upstream_state& s = e.states[i];
    Attempt& a = r.attempts.emplace_back();
    a.upstream = logged[i] && s.peer[0] == '\0' ? std::string_view(logged[i]->peer) : wire_view(s.peer);
    a.status = static_cast<int>(s.status);
    a.ms = is_unset(s.response_ms) ? -1 : static_cast<double>(s.response_ms);
    a.cause = logged[i] ? logged[i]->failure.cause : cause_from_upstream_state(s);
  }
  // No states at all (nginx failed before it recorded one): the log is all there is.
  LoggedAttempt* last_failure = n_states > 0 ? logged[n_states - 1] : nullptr;
  if (n_states == 0 && !p.failures.empty()) {
    last_failure = &p.failures.back();
    r.attempts.push_back(Attempt{last_failure->peer, last_failure->failure.cause, 0, -1});
  }

  if (!r.attempts.empty()) {
    r.cause = r.attempts.back().cause;
  } else if (p.limited) {
    r.cause = Cause::limited;
  }
  if (r.cause == Cause::upstream_status || (upstream_5xx && r.cause == Cause::unknown)) {
    r.cause = Cause::upstream_status;
  }
  // A 500 is a gateway error only when opening the upstream connection failed.
  if (r.status == 500 && r.cause != Cause::fd_exhausted && !(last_failure && last_failure->failure.before_connect))
    return;
  if (r.upstream.empty() && !r.attempts.empty()) r.upstream = r.attempts.back().upstream;

  std::vector<std::string> death_evidence;
  if (last_failure && !r.attempts.empty()) {
    if (r.cause == Cause::ports_exhausted) {
      death_evidence = explain_by_ports(*last_failure);  // no connection was made: no backend to blame
    } else {
      death_evidence = explain_by_death(*last_failure, r.attempts.back().ms, r.cause);
      if (death_evidence.empty()) death_evidence = explain_by_listener(*last_failure, r.attempts.back().ms, r.cause);
      if (r.cause == Cause::slow_backend || r.cause == Cause::connect_timeout || r.cause == Cause::backlog_full) {
        std::vector<std::string> backend = explain_by_backend(*last_failure, r);
        death_evidence.insert(death_evidence.end(), std::make_move_iterator(backend.begin()),
                              std::make_move_iterator(backend.end()));
      }
    }
    r.attempts.back().cause = r.cause;
  }
  // Room for the lines of a typical record: headline, nginx's words, what
  // the kernel saw of the socket, one line per attempt when there were several.
  constexpr size_t kTypicalLines = 6;
  r.evidence.reserve(kTypicalLines + death_evidence.size() + p.notes.size() +
                     (r.attempts.size() > 1 ? r.attempts.size() : 0));
  const bool has_meaning = last_failure && !last_failure->failure.meaning.empty();
  if (!e.has_upstream && r.cause == Cause::unknown && !last_failure && !upstream_5xx)
    explain_without_upstream(r);
  else if (r.cause == Cause::slow_backend && last_failure && last_failure->failure.cause != Cause::slow_backend)
    // nginx saw a close or a reset, not its timeout: the death said why.
    r.evidence.push_back(concat("the backend behind ", r.upstream,
                                " was killed by its supervisor for taking too long; nginx saw the connection end"));
  else if (r.cause != Cause::unknown || !has_meaning)  // else what nginx's words mean says it best
    r.evidence.push_back(headline(r.cause, r.upstream, r.status));
  r.evidence.insert(r.evidence.end(), std::make_move_iterator(death_evidence.begin()),
                    std::make_move_iterator(death_evidence.end()));
  if (last_failure)
    r.evidence.insert(r.evidence.end(), std::make_move_iterator(last_failure->reuse_evidence.begin()),
                      std::make_move_iterator(last_failure->reuse_evidence.end()));
  if (has_meaning) r.evidence.emplace_back(last_failure->failure.meaning);
  // p was taken out of pending_: its words can move into the record.
  if (last_failure) {
    r.evidence.push_back(concat("nginx: ", last_failure->message));
    r.nginx_error = std::move(last_failure->message);
    const double last_ms = r.attempts.empty() ? -1 : r.attempts.back().ms;
    if (const SocketFacts* facts = kernel_facts(*last_failure, last_ms))
      SocketEvidence::describe(*facts, last_failure->peer, r.evidence);
  } else if (p.limited) {
    r.evidence.push_back(concat("nginx: ", p.limited_message));
    r.nginx_error = std::move(p.limited_message);
  }
  if (upstream_5xx)
    r.evidence.push_back(
        concat("upstream ", upstream_name(*upstream_5xx), " sent status ", Decimal(upstream_5xx->status)));
  for (std::string& note : p.notes) r.evidence.push_back(std::move(note));
  if (r.cause == Cause::no_live_upstreams) add_no_live_evidence(e.h.tgid, e.h.ts_ns, r);
  const size_t first_attempt = e.n_states > W5_MAX_STATES ? e.n_states - W5_MAX_STATES : 0;
  for (size_t i = 0; r.attempts.size() > 1 && i < r.attempts.size(); ++i) {
    const Attempt& a = r.attempts[i];
    r.evidence.push_back(concat("attempt ", Decimal(first_attempt + i + 1), " of ",
                                Decimal(std::max<size_t>(e.n_states, r.attempts.size())), ": ", a.upstream, " ",
                                cause_name(a.cause)));
  }

  if (e.client_sk == 0 || !options_.client_echo_expected) {
    emit(std::move(r), out);
    return;
  }
  // nginx writes the page at once; a status line seen within this time is its echo.
  constexpr uint64_t kEchoWithinNs = 200'000'000ull;
  held_[SocketKey{e.h.tgid, e.client_sk}].push_back(std::move(r), e.h.ts_ns + kEchoWithinNs);
}

void Engine::emit(Record&& record, std::vector<Record>& out) {
  if (auto it = process_cgroups_.find(record.pid); it != process_cgroups_.end()) {
    record.nginx_cgroup = it->second;
    record.nginx_unit = service_of_cgroup(it->second);
  }
  if (record.type == RecordType::gateway_error) ++stats_.records;
  out.push_back(std::move(record));
}

void Engine::HeldQueue::pop_front() {
  ++front_;
  // Released records are moved-from shells: drop them once they are half the
  // queue, so a socket that always holds some does not grow without bound.
  constexpr size_t kCompactAfter = 16;
  if (front_ >= kCompactAfter && front_ * 2 >= records_.size()) {
    records_.erase(records_.begin(), records_.begin() + static_cast<ptrdiff_t>(front_));
    front_ = 0;
  }
}

void Engine::flush(uint64_t now_ns, std::vector<Record>& out) {
  for (auto it = held_.begin(); it != held_.end();) {
    auto& records = it->second;
    while (!records.empty() && records.front().deadline_ns < now_ns) {
      emit(std::move(records.front().record), out);
      records.pop_front();
    }
    it = records.empty() ? held_.erase(it) : std::next(it);
  }
}

void Engine::finish(std::vector<Record>& out) { flush(~0ull, out); }

// Kernel facts about the attempt's socket: a socket address is reused as soon
// as it is freed, so the facts must name the same peer and fall within the
// attempt's lifetime.
const SocketFacts* Engine::kernel_facts(const LoggedAttempt& attempt, double attempt_ms) const {
  const SocketFacts* facts = sockets_.find(attempt.upstream_sk, attempt.ts_ns);
  if (!facts) return nullptr;
  const w5_addr& a = facts->remote;
  const w5_addr& b = attempt.upstream_addr;
  if (a.family != b.family || a.port != b.port || std::memcmp(a.addr, b.addr, sizeof(a.addr)) != 0) return nullptr;
  const uint64_t window_ns = attempt_window_ns(attempt_ms, 1000, 60'000'000'000ull);
  if (age_ns(attempt.ts_ns, facts->first_ts_ns) > window_ns) return nullptr;
  return facts;
}

Record Engine::upstream_status_record(const w5_upstream_status& us, const w5_client_response& client) const {
  Record r;
  r.ts_ns = client.h.ts_ns;
  r.pid = client.h.tgid;
  r.status = client.status != 0 ? static_cast<int>(client.status) : static_cast<int>(us.status);
  r.cause = Cause::upstream_status;
  r.client = format_endpoint(client.remote);
  r.upstream = upstream_name(us);
  r.source = RecordSource::kernel;
  r.evidence.reserve(2);
  r.evidence.push_back(headline(r.cause, r.upstream, static_cast<int>(us.status)));
  r.evidence.push_back(concat("the status came in the upstream's ",
                              us.proto == W5_PROTO_FASTCGI ? "FastCGI Status header" : "HTTP status line",
                              "; nginx passed it on"));
  r.attempts.push_back(Attempt{r.upstream, Cause::upstream_status, static_cast<int>(us.status), -1});
  return r;
}

void Engine::on_client_response(const w5_client_response& e, std::vector<Record>& out) {
  // The echo of an error page: the status line says what the client really
  // got (error_page may have changed it, even to a success). Unreadable bytes
  // (TLS, HTTP/2) confirm nothing: the record goes out as nginx built it.
  if (auto it = held_.find(SocketKey{e.h.tgid, e.sk}); it != held_.end() && !it->second.empty()) {
    confirm_held(it, e, out);
    return;
  }
  if (auto it = upstream_5xx_.find(e.h.tid); it != upstream_5xx_.end()) {
    Record r = upstream_status_record(it->second, e);
    upstream_5xx_.erase(it);
    // An application's own 500 passed on is an application error, not a gateway error.
    if (r.status != 500) emit(std::move(r), out);
    return;
  }
  // The first readable response after a failed attempt, and not an error:
  // nginx retried and the client never saw the failure. (An unreadable one,
  // TLS or HTTP/2, cannot tell; those failures stay pending.)
  if (e.status != 0 && (e.status < 500 || e.status > 504)) {
    auto by_client = request_by_client_.find(SocketKey{e.h.tgid, e.sk});
    if (by_client != request_by_client_.end()) {
      const RequestKey key = by_client->second;
      if (const PendingRequest* p = find_pending(key); p && !p->failures.empty()) {
        emit(retried_record(*p, e), out);
        ++stats_.retried;
        forget(RequestAddress{key.tgid, key.request});
      }
    }
    return;
  }
  // Unreadable, or a 500: from the kernel alone a 500 cannot be told to be
  // about an upstream, so it is no gateway error here.
  if (e.status == 0 || e.status == 500) return;
  emit(kernel_only_record(e), out);
}

void Engine::confirm_held(HeldRecords::iterator held, const w5_client_response& echo, std::vector<Record>& out) {
  Record& r = held->second.front().record;
  // A record of status 500 was let through: nginx failed to open the upstream connection.
  const bool gateway_status = echo.status == 502 || echo.status == 503 || echo.status == 504 ||
                              (echo.status == 500 && (r.cause == Cause::fd_exhausted || r.status == 500));
  if (echo.status != 0 && !gateway_status) {
    ++stats_.hidden_by_error_page;  // error_page answered with something else: no gateway error
  } else {
    if (echo.status != 0 && static_cast<int>(echo.status) != r.status) {
      r.evidence.push_back(concat("error_page turned nginx's ", Decimal(r.status), " into ", Decimal(echo.status)));
      r.status = static_cast<int>(echo.status);
    }
    emit(std::move(r), out);  // straight from the queue: a Record is costly to move twice
  }
  held->second.pop_front();
  if (held->second.empty()) held_.erase(held);
}

// A 5xx status line with no nginx-side explanation: nginx made it without an
// upstream failure (e.g. "return 502"), or its symbols are unavailable and the
// kernel's view of that worker's sockets is all there is.
Record Engine::kernel_only_record(const w5_client_response& e) {
  Record r;
  r.ts_ns = e.h.ts_ns;
  r.pid = e.h.tgid;
  r.status = static_cast<int>(e.status);
  r.client = format_endpoint(e.remote);
  r.source = RecordSource::kernel;
  // nginx answers right after it gives up on the upstream; a timeout may have
  // started long before, but its last sign (a SYN retransmit) is recent too.
  constexpr uint64_t kWindowNs = 100'000'000;
  const SocketFacts* facts = options_.kernel_only_fallback
                                 ? sockets_.take_recent_failure(e.h.tgid, e.h.ts_ns, r.status == 504 ? 60 * kWindowNs : kWindowNs)
                                 : nullptr;
  if (facts) {
    r.upstream = format_endpoint(facts->remote);
    if (facts->reset_in_syn_sent)
      r.cause = Cause::refused;
    else if (facts->error == EHOSTUNREACH || facts->error == ENETUNREACH)
      r.cause = Cause::unreachable;
    else if (facts->reset_established)
      r.cause = Cause::reset;
    else if (facts->syn_retransmits > 0 && r.status == 504)
      r.cause = Cause::connect_timeout;
  }
  r.evidence.push_back(headline(r.cause, r.upstream, r.status));
  if (options_.kernel_only_fallback)
    r.evidence.push_back("kernel-only view (nginx symbols unavailable): joined by worker and time, not by request");
  if (facts) SocketEvidence::describe(*facts, r.upstream, r.evidence);
  return r;
}

std::vector<std::string> Engine::explain_by_death(const LoggedAttempt& f, double waited_ms, Cause& cause) const {
  const UpstreamConnection conn{f.peer, f.upstream_addr, f.upstream_local, f.upstream_sk};
  std::vector<std::string> evidence;
  if (cause == Cause::refused) {
    // Nothing listens any more: was it there a moment ago?
    constexpr uint64_t kLookbackNs = 600'000'000'000ull;
    const uint64_t since = f.ts_ns > kLookbackNs ? f.ts_ns - kLookbackNs : 0;
    if (const FatalSignal* d = deaths_.holder_of(conn, since, f.ts_ns, true)) {
      char ago[32];
      snprintf(ago, sizeof(ago), "%.1f", static_cast<double>(age_ns(f.ts_ns, d->ts_ns)) / 1e9);
      evidence.push_back(concat("the backend listening on ", f.peer, " was stopped ", ago, " s earlier: ",
                                ProcessDeaths::describe(*d)));
    }
    return evidence;
  }
  if (cause != Cause::reset && cause != Cause::closed_early && cause != Cause::invalid_response &&
      cause != Cause::slow_backend && cause != Cause::unknown)
    return evidence;
  // The death must fall within the attempt (plus slack for nginx's coarse clock).
  const uint64_t window_ns = attempt_window_ns(waited_ms, 2000, 60'000'000'000ull);
  const uint64_t since = f.ts_ns > window_ns ? f.ts_ns - window_ns : 0;
  if (const FatalSignal* d = deaths_.holder_of(conn, since, f.ts_ns, true)) {
    DeathVerdict v = ProcessDeaths::verdict(*d, waited_ms);
    cause = v.cause;
    evidence = std::move(v.evidence);
  }
  return evidence;
}

std::vector<std::string> Engine::explain_by_listener(const LoggedAttempt& f, double waited_ms, Cause& cause) const {
  std::vector<std::string> evidence;
  if (cause != Cause::connect_timeout && cause != Cause::slow_backend) return evidence;
  auto it = listeners_.find({f.upstream_addr.family, f.upstream_addr.port});
  if (it == listeners_.end()) return evidence;
  const w5_listener_state& l = it->second;
  // Read during this attempt (or at its timeout).
  const uint64_t window_ns = attempt_window_ns(waited_ms, 2000, 60'000'000'000ull);
  if (l.h.ts_ns > f.ts_ns + 1'000'000'000ull || age_ns(f.ts_ns, l.h.ts_ns) > window_ns) return evidence;

  const std::string owner = l.owner_pid ? "pid " + std::to_string(l.owner_pid) + " (" + wire_string(l.owner_comm) + ")"
                                        : "no process found";
  const std::string queue = std::to_string(l.queued) + " waiting, backlog " + std::to_string(l.backlog);
  const bool out_of_fds = l.owner_pid != 0 && l.fd_limit != 0 && l.fds_open >= l.fd_limit;
  // The kernel drops SYNs once more than backlog connections wait.
  if (cause == Cause::connect_timeout && l.queued > l.backlog) {
    cause = Cause::backlog_full;
    evidence.push_back("the accept queue of " + format_endpoint(l.addr) + " (owner " + owner + ") was full: " + queue +
                       "; SYNs to it are dropped (TcpExtListenOverflows " + std::to_string(l.listen_overflows) + ")");
  } else if (out_of_fds && l.queued > 0) {
    cause = Cause::fd_exhausted;
    evidence.push_back("backend " + owner + " has " + std::to_string(l.fds_open) + " of its " +
                       std::to_string(l.fd_limit) + " descriptors open: it cannot accept() (EMFILE); " + queue +
                       " on " + format_endpoint(l.addr));
  }
  if (!evidence.empty() && l.owners > 1)
    evidence.push_back(std::to_string(l.owners) + " processes hold that listener");
  return evidence;
}

// Read by the live session when nginx logged the timeout, just before its
// words reached the engine.
std::vector<std::string> Engine::explain_by_backend(const LoggedAttempt& f, Record& r) const {
  auto it = backend_states_.find({f.tgid, f.upstream_sk});
  if (it == backend_states_.end()) return {};
  const w5_backend_state& b = it->second;
  if (b.h.ts_ns > f.ts_ns + 1'000'000'000ull || age_ns(f.ts_ns, b.h.ts_ns) > 5'000'000'000ull) return {};
  if (b.pid != 0 && b.cgroup[0] != '\0') {
    r.backend_cgroup = wire_string(b.cgroup);
    r.backend_unit = service_of_cgroup(r.backend_cgroup);
  }
  return describe_backend_state(b, f.peer);
}

// EADDRNOTAVAIL from connect(): the port range of nginx's namespace and who
// holds its ports toward that upstream, as read (by the live session) when
// nginx logged it.
std::vector<std::string> Engine::explain_by_ports(const LoggedAttempt& f) const {
  std::vector<std::string> evidence;
  auto it = port_usage_.find({f.tgid, f.peer});
  if (it == port_usage_.end()) return evidence;
  const w5_port_usage& u = it->second;
  // Read just before nginx's log line reached the engine.
  if (u.h.ts_ns > f.ts_ns + 1'000'000'000ull || age_ns(f.ts_ns, u.h.ts_ns) > 5'000'000'000ull) return evidence;
  if (u.port_high != 0)
    evidence.push_back(concat("nginx's network namespace has local ports ", Decimal(u.port_low), "-",
                              Decimal(u.port_high), " (", Decimal(u.port_high - u.port_low + 1),
                              ") for outgoing connections (net.ipv4.ip_local_port_range)"));
  evidence.push_back(concat(Decimal(u.established + u.time_wait + u.other), " connections to ", f.peer,
                            " hold a local port: ", Decimal(u.established), " established, ", Decimal(u.time_wait),
                            " in TIME_WAIT, ", Decimal(u.other), " in other states"));
  evidence.push_back("each connection to one address needs its own local port: keep upstream connections alive "
                     "(keepalive in upstream{}, proxy_http_version 1.1, an empty Connection header), widen the "
                     "port range, or spread over more upstream addresses");
  return evidence;
}

// What made nginx mark the peers failed: this worker's last failure on each
// peer within the last ten minutes, newest first.
void Engine::add_no_live_evidence(uint32_t tgid, uint64_t now_ns, Record& r) const {
  constexpr size_t kMaxPeers = 8;
  auto it = recent_failures_.find(tgid);
  if (it == recent_failures_.end()) return;
  std::array<std::string_view, kMaxPeers> seen;
  size_t n_seen = 0;
  for (auto f = it->second.rbegin(); f != it->second.rend() && n_seen < kMaxPeers; ++f) {
    if (age_ns(now_ns, f->ts_ns) > kRecentFailureNs) break;
    if (std::find(seen.begin(), seen.begin() + n_seen, f->peer) != seen.begin() + n_seen) continue;
    seen[n_seen++] = f->peer;
    char ago[32];
    snprintf(ago, sizeof(ago), "%.1f", static_cast<double>(age_ns(now_ns, f->ts_ns)) / 1e9);
    r.evidence.push_back(concat("earlier: ", f->peer, " failed (", cause_name(f->cause), ") ", ago,
                                " s before; nginx marks a peer failed after max_fails such failures"));
  }
}

Record Engine::retried_record(const PendingRequest& p, const w5_client_response& client) const {
  const LoggedAttempt& last = p.failures.back();
  Record r;
  r.type = RecordType::retried;
  r.ts_ns = client.h.ts_ns;
  r.pid = client.h.tgid;
  r.status = static_cast<int>(client.status);
  r.cause = last.failure.cause;
  r.client = format_endpoint(p.client);
  r.upstream = last.peer;
  r.source = RecordSource::uprobe;
  r.nginx_error = last.message;
  r.evidence.reserve(1 + last.reuse_evidence.size() + p.failures.size());
  r.attempts.reserve(p.failures.size());
  r.evidence.push_back(concat("nginx retried after ", cause_name(last.failure.cause), " on ", last.peer,
                              "; the client got ", Decimal(client.status)));
  r.evidence.insert(r.evidence.end(), last.reuse_evidence.begin(), last.reuse_evidence.end());
  for (const LoggedAttempt& f : p.failures) {
    r.evidence.push_back(concat("nginx: ", f.message, " (", f.peer, ")"));
    r.attempts.push_back(Attempt{f.peer, f.failure.cause, 0, -1});
  }
  return r;
}

Engine::PendingRequest* Engine::find_pending(const RequestKey& key) {
  PendingRequest* p = pending_.find(RequestAddress{key.tgid, key.request});
  return p && p->connection == key.connection ? p : nullptr;
}

// Under --lean no response to the client is seen, so a failure nginx
// recovered from has no event of its own to end it. nginx gives two signs
// anyway, on later failures, that are right for HTTP/2 streams and
// subrequests too (several requests at once on one connection): a request's
// memory holds one request at a time, and a client socket one connection.
// (A new request pointer on the same connection proves nothing: it may be
// another stream of the same HTTP/2 connection.)
Engine::PendingRequest& Engine::pending_for(const RequestKey& key, uint32_t requests, uint64_t client_sk) {
  if (client_sk != 0) supersede_on_socket(key.tgid, client_sk, key.connection);
  const RequestAddress address{key.tgid, key.request};
  PendingRequest* existing = pending_.find(address);
  // A later request of the same keepalive connection often gets the memory
  // of the one before it: c->requests tells them apart.
  if (existing && (existing->connection != key.connection || !same_request_number(*existing, requests))) {
    forget(address);
    ++stats_.superseded_requests;
    existing = nullptr;
  }
  if (!existing && !pending_.empty() && pending_.size() >= options_.max_pending_requests) {
    forget(*pending_.oldest_key());
    ++stats_.evicted_requests;
  }
  auto [p, created] = pending_.touch(address);
  if (created) p.connection = key.connection;
  if (p.requests == 0) p.requests = requests;
  return p;
}

void Engine::on_request_ended(const w5_request_ended& e) {
  const RequestAddress address{e.h.tgid, e.request};
  const PendingRequest* p = pending_.find(address);
  // The answer may come after a later request took the address: that one stays.
  if (!p || p->connection != e.connection || !same_request_number(*p, e.requests)) return;
  forget(address);
  ++stats_.ended_requests;
}

std::vector<PendingRequestRef> Engine::pending_older_than(uint64_t now_ns, uint64_t min_age_ns, size_t max) const {
  std::vector<PendingRequestRef> out;
  pending_.for_each_oldest_first([&](const RequestAddress& address, const PendingRequest& p) {
    if (out.size() >= max || age_ns(now_ns, p.last_ts_ns) < min_age_ns) return false;
    out.push_back(PendingRequestRef{address.tgid, address.request, p.connection, p.requests});
    return true;
  });
  return out;
}

void Engine::supersede_on_socket(uint32_t tgid, uint64_t client_sk, uint64_t connection) {
  auto by_client = request_by_client_.find(SocketKey{tgid, client_sk});
  if (by_client == request_by_client_.end() || by_client->second.connection == connection) return;
  // nginx holds a client's socket as long as its connection is open: the
  // socket now serves another connection, so the earlier one was closed.
  const RequestKey earlier = by_client->second;
  request_by_client_.erase(by_client);
  if (find_pending(earlier)) {
    forget(RequestAddress{earlier.tgid, earlier.request});
    ++stats_.superseded_requests;
  }
}

void Engine::forget(RequestAddress address) {
  const PendingRequest* request = pending_.find(address);
  if (!request) return;
  auto by_client = request_by_client_.find(SocketKey{address.tgid, request->client_sk});
  if (by_client != request_by_client_.end() &&
      by_client->second == RequestKey{address.tgid, address.request, request->connection})
    request_by_client_.erase(by_client);
  pending_.erase(address);
}

void Engine::on_upstream_status(const w5_upstream_status& e) { upstream_5xx_[e.h.tid] = e; }

void Engine::expire(uint64_t now) {
  // Oldest first: the walk stops at the first entry still young enough.
  while (const PendingRequest* oldest = pending_.oldest_value()) {
    if (age_ns(now, oldest->last_ts_ns) <= options_.request_max_age_ns) break;
    forget(*pending_.oldest_key());
    ++stats_.expired_requests;
  }
  // Workers come and go with every reload: forget those with no recent failure.
  std::erase_if(recent_failures_,
                [&](const auto& kv) { return age_ns(now, kv.second.back().ts_ns) > kRecentFailureNs; });
  std::erase_if(upstream_5xx_, [&](const auto& kv) {
    return age_ns(now, kv.second.h.ts_ns) > options_.expectation_max_age_ns;
  });
}

EngineStats Engine::stats() const {
  EngineStats s = stats_;
  s.pending_requests = pending_.size();
  return s;
}

}  // namespace why502
