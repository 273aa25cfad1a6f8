#include "attribution/engine.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "attribution/backend_evidence.hpp"
#include "attribution/error_page_target.hpp"
#include "attribution/http2_errors.hpp"
#include "attribution/keepalive_race.hpp"
#include "attribution/nginx_log_format.hpp"
#include "attribution/record_building.hpp"
#include "attribution/socket_file_evidence.hpp"
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

// Whether a host read stamped read_ns was made for the failure nginx logged
// at logged_ns: the live session reads as nginx's words go by, so the read
// reaches the engine just before them, and is no older than max_age_ns.
bool read_for_failure(uint64_t read_ns, uint64_t logged_ns, uint64_t max_age_ns = 5'000'000'000ull) {
  return read_ns <= logged_ns + 1'000'000'000ull && age_ns(logged_ns, read_ns) <= max_age_ns;
}

// The read held under key in reads that was made for the failure logged at
// logged_ns; nullptr when there is none.
template <class Reads>
const typename Reads::mapped_type* read_for(const Reads& reads, const typename Reads::key_type& key,
                                            uint64_t logged_ns) {
  const typename Reads::mapped_type* read = reads.find(key);
  return read && read_for_failure(read->h.ts_ns, logged_ns) ? read : nullptr;
}

// Holds value under key in a table of what waits, as its newest entry.
template <class Waiting, class Value>
void hold(Waiting& waiting, const typename Waiting::key_type& key, Value&& value, size_t capacity) {
  waiting.touch(key).value = std::forward<Value>(value);
  waiting.keep_newest(capacity);
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

// The value held under key, taken out; nullopt when there is none.
template <class Map>
std::optional<typename Map::mapped_type> take(Map& map, const typename Map::key_type& key) {
  if (map.empty()) return std::nullopt;  // the usual case: nothing of the kind is waiting
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  std::optional<typename Map::mapped_type> value = std::move(it->second);
  map.erase(it);
  return value;
}

}  // namespace

void Engine::handle(const Event& event, std::vector<Record>& out) {
  std::visit(
      [&](const auto& e) {
        begin_event(e.h.ts_ns, out);
        using T = std::decay_t<decltype(e)>;
        // A worker's cgroup stays while it sends these, the events on which
        // the host reads it once (BackendProber::first_sight, which keeps
        // fewer processes): a live worker's is never let go.
        if constexpr (std::is_same_v<T, w5_ngx_log> || std::is_same_v<T, w5_ngx_error_page> ||
                      std::is_same_v<T, w5_client_response>)
          process_cgroups_.find_and_touch(e.h.tgid);
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
          hold(port_usage_, {e.h.tgid, wire_string(e.peer)}, e, kMaxWaiting);  // for the error that follows it
        } else if constexpr (std::is_same_v<T, w5_socket_file>) {
          hold(socket_files_, {e.h.tgid, wire_string(e.peer)}, e, kMaxWaiting);  // for the error that follows it
        } else if constexpr (std::is_same_v<T, w5_backend_state>) {
          hold(backend_states_, {e.h.tgid, e.upstream_sk}, e, kMaxWaiting);  // for the error that follows it
        } else if constexpr (std::is_same_v<T, w5_process_cgroup>) {
          hold(process_cgroups_, e.h.tgid, wire_string(e.cgroup), kMaxProcessCgroups);  // read once per process
        } else if constexpr (std::is_same_v<T, w5_request_line>) {
          if (std::string line = plausible_request_line(e); !line.empty())  // taken by the next event
            hold(request_lines_, RequestKey{e.h.tgid, e.request, e.connection}, std::move(line), kMaxWaiting);
        } else if constexpr (std::is_same_v<T, w5_upstream_reuse>) {
          hold(reuses_, RequestKey{e.h.tgid, e.request, e.connection}, e, kMaxWaiting);  // for the next log event
        } else if constexpr (std::is_same_v<T, w5_ngx_location>) {
          if (std::string name = plausible_location(e); !name.empty())  // taken by the next event
            hold(locations_, RequestKey{e.h.tgid, e.request, e.connection}, std::move(name), kMaxWaiting);
        } else if constexpr (std::is_same_v<T, w5_ngx_error_page_target>) {
          hold(error_page_targets_, RequestKey{e.h.tgid, e.request, e.connection}, e, kMaxWaiting);  // for the next page
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
  // No failure: what the application wrote to its stderr, for its request's record.
  if (fmt.starts_with("FastCGI sent in stderr")) {
    note_backend_stderr(e);
    return;
  }
  auto failure = classify_nginx_log(fmt, e.err, action);
  // An HTTP/2 upstream's RST_STREAM or GOAWAY: what its error code (the
  // message's one argument) means.
  if (failure && (failure->cause == Cause::h2_stream_reset || failure->cause == Cause::h2_goaway) && e.n_args > 0)
    failure->meaning = http2_error_meaning(failure->cause, e.args[0].word);
  // EADDRNOTAVAIL where no local port ran out: the namespace has no IPv6
  // address to connect from (the port usage read just before says).
  if (failure && failure->cause == Cause::ports_exhausted) {
    const w5_port_usage* usage = read_for(port_usage_, {e.h.tgid, std::string(peer)}, e.h.ts_ns);
    if (usage && (usage->flags & W5_PORTS_NO_SOURCE_ADDRESS)) {
      failure->cause = Cause::unreachable;
      failure->meaning =
          "nginx's network namespace has no IPv6 address to connect to it from (IPv6 is disabled there), so "
          "connect() failed with EADDRNOTAVAIL, though no local port ran out; proxy_pass to localhost tries ::1 "
          "too: name 127.0.0.1 (or an IPv4 upstream), or enable IPv6 in that namespace";
    }
  }
  const bool disabled_note = fmt.starts_with("upstream server temporarily disabled");
  if (!failure && !disabled_note) return;

  std::string message = format_nginx_log(e);
  // A failure while reading the body: the client already has the header (a
  // 2xx, typically) and gets a cut-off response; no error page follows.
  if (failure && failure->is_attempt && action == "reading upstream") {
    Cause cause = failure->cause;
    std::vector<std::string> death_evidence = explain_by_death(
        LoggedAttempt{e.h.ts_ns, e.h.tgid, std::string(peer), *failure, message, e.upstream_sk, e.upstream, e.upstream_local, {}},
        -1, cause);
    ++stats_.truncated;
    emit(truncated_record(e, cause, std::move(message), std::move(death_evidence)), out);
    return;
  }
  const RequestKey key{e.h.tgid, e.request, e.connection};
  std::vector<std::string> reuse_evidence;
  if (const std::optional<w5_upstream_reuse> reuse = reuses_.take(key)) {
    if (failure && failure->is_attempt && reuse->upstream_sk == e.upstream_sk &&
        (failure->cause == Cause::closed_early || failure->cause == Cause::reset)) {
      ReusedConnectionVerdict verdict =
          judge_reused_connection(*reuse, failure->cause, action == "sending request to upstream");
      if (verdict.race) failure->cause = Cause::keepalive_race;
      reuse_evidence = std::move(verdict.evidence);
    }
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

void Engine::note_backend_stderr(const w5_ngx_log& e) {
  if (e.upstream_sk == 0) return;
  const RequestKey request{e.h.tgid, e.request, e.connection};
  auto [note, created] = backend_stderr_.touch(SocketKey{e.h.tgid, e.upstream_sk});
  if (created || note.request != request) note = BackendStderr{.request = request, .client_sk = e.client_sk, .lines = {}};
  note.ts_ns = e.h.ts_ns;
  // nginx logs each STDERR record: the first few say what went wrong.
  if (note.lines.size() < kMaxStderrLines) note.lines.push_back(concat("nginx: ", format_nginx_log(e)));
  backend_stderr_.keep_newest(kMaxWaiting);
}

std::vector<std::string> Engine::take_backend_stderr(uint32_t tgid, uint64_t sk,
                                                     const std::function<bool(const BackendStderr&)>& belongs) {
  const BackendStderr* note = backend_stderr_.find(SocketKey{tgid, sk});
  if (!note || !belongs(*note)) return {};
  return backend_stderr_.take(SocketKey{tgid, sk})->lines;
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
  const std::optional<w5_upstream_status> upstream_5xx = take(upstream_5xx_, e.h.tid);

  // What came just before the page about its request.
  const RequestKey request{e.h.tgid, e.request, e.connection};
  Record r = new_record(RecordType::gateway_error, RecordSource::uprobe, e.h, e.client);
  r.status = static_cast<int>(e.status);
  r.upstream = e.has_upstream ? wire_string(e.peer) : "";
  r.request = request_lines_.take(request).value_or("");
  r.location = locations_.take(request).value_or("");
  std::optional<w5_ngx_error_page_target> error_page = error_page_targets_.take(request);

  LoggedAttempt* last_failure = align_attempts(e, p.failures, r.attempts);

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
      // A socket file nginx may not open: nginx never reached the backend.
      if (r.cause == Cause::refused) death_evidence = explain_by_socket_file(*last_failure);
      if (death_evidence.empty()) death_evidence = explain_by_death(*last_failure, r.attempts.back().ms, r.cause);
      if (death_evidence.empty()) death_evidence = explain_by_listener(*last_failure, r.attempts.back().ms, r.cause);
      if (r.cause == Cause::slow_backend || r.cause == Cause::connect_timeout || r.cause == Cause::backlog_full) {
        std::vector<std::string> backend = explain_by_backend(*last_failure, r);
        death_evidence.insert(death_evidence.end(), std::make_move_iterator(backend.begin()),
                              std::make_move_iterator(backend.end()));
      }
    }
    r.attempts.back().cause = r.cause;
  }
  // p was taken out of pending_: its words can move into the record.
  GatewayErrorFacts facts{.has_upstream = e.has_upstream != 0,
                          .n_states = static_cast<uint32_t>(attempts_in(e)),
                          .last_failure = last_failure,
                          .explained = std::move(death_evidence),
                          .socket_facts = nullptr,
                          .upstream_5xx = upstream_5xx ? &*upstream_5xx : nullptr,
                          .limited = p.limited,
                          .limited_message = std::move(p.limited_message),
                          .notes = std::move(p.notes),
                          .earlier_failures = {}};
  if (last_failure)
    facts.socket_facts = kernel_facts(*last_failure, r.attempts.empty() ? -1 : r.attempts.back().ms);
  // What the application wrote to its stderr on the last attempt's connection.
  if (const uint64_t sk = last_failure ? last_failure->upstream_sk : upstream_5xx ? upstream_5xx->sk : 0)
    append_moved(facts.notes,
                 take_backend_stderr(e.h.tgid, sk, [&](const BackendStderr& note) { return note.request == request; }));
  if (r.cause == Cause::no_live_upstreams) facts.earlier_failures = earlier_failures(e.h.tgid, e.h.ts_ns);
  add_gateway_error_evidence(r, std::move(facts));

  const SocketKey client{e.h.tgid, e.client_sk};
  const PageOf page{e.request, e.connection, e.requests};
  // The page of a request nginx already sent to its error_page (whose
  // target failed too): nginx does not redirect it again (short of
  // recursive_error_pages), so this is the status the client gets.
  const bool sent_on_before = sent_to_error_page_.take(request) == e.requests;
  const bool after_error_page = sent_on_before || held_.holds(client, page);
  if (after_error_page) {
    error_page.reset();
  } else if (error_page) {
    hold(sent_to_error_page_, request, e.requests, kMaxWaiting);  // for a page soon after
  }
  // Where no status line can be read (--lean, TLS, HTTP/2), the error_page
  // that names this status says what the client gets.
  const bool keep_unconfirmed = !error_page || follow_error_page(*error_page, r);
  const bool echo_expected = e.client_sk != 0 && options_.client_echo_expected;
  if (!echo_expected && !error_page && !after_error_page) {
    emit(std::move(r), out);
    return;
  }
  // nginx writes the page (or sends the request on to error_page's target)
  // at once; a status line seen within this time is its echo, and a target
  // failing within it sends another page of the request, which replaces this.
  constexpr uint64_t kEchoWithinNs = 200'000'000ull;
  held_.hold(client, page, std::move(r), e.h.ts_ns + kEchoWithinNs, keep_unconfirmed);
}

void Engine::emit(Record&& record, std::vector<Record>& out) {
  if (const std::string* cgroup = process_cgroups_.find_and_touch(record.pid)) {
    record.nginx_cgroup = *cgroup;
    record.nginx_unit = service_of_cgroup(*cgroup);
  }
  if (record.type == RecordType::gateway_error) ++stats_.records;
  out.push_back(std::move(record));
}

void Engine::flush(uint64_t now_ns, std::vector<Record>& out) {
  held_.take_due(now_ns, [&](Record& r, bool keep_unconfirmed) { release_unconfirmed(r, keep_unconfirmed, out); });
}

void Engine::release_unconfirmed(Record& held, bool keep_unconfirmed, std::vector<Record>& out) {
  if (keep_unconfirmed)
    emit(std::move(held), out);
  else
    ++stats_.hidden_by_error_page;
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

void Engine::on_client_response(const w5_client_response& e, std::vector<Record>& out) {
  // The echo of an error page: the status line says what the client really
  // got (error_page may have changed it, even to a success). Unreadable bytes
  // (TLS, HTTP/2) confirm nothing: the record goes as the location's
  // error_page has it, or as nginx built it.
  if (held_.take_oldest(SocketKey{e.h.tgid, e.sk},
                        [&](Record& held, bool keep_unconfirmed) { confirm_echo(held, keep_unconfirmed, e, out); })) {
    // A TLS upstream's status is told by the send it comes with, this one:
    // nginx built the page itself (proxy_intercept_errors), so it is not
    // the next send's.
    if (auto it = upstream_5xx_.find(e.h.tid); it != upstream_5xx_.end() && it->second.proto == W5_PROTO_TLS)
      upstream_5xx_.erase(it);
    return;
  }
  if (auto it = upstream_5xx_.find(e.h.tid); it != upstream_5xx_.end()) {
    Record r = upstream_status_record(it->second, e);
    // (An application's own words about it, when it wrote any to its stderr.)
    // No request is known here: the lines on that socket for this client,
    // written within a second before the answer was read.
    const uint64_t read_ns = it->second.h.ts_ns;
    append_moved(r.evidence, take_backend_stderr(e.h.tgid, it->second.sk, [&](const BackendStderr& note) {
                   return note.client_sk == e.sk && (note.ts_ns >= read_ns || read_ns - note.ts_ns <= 1'000'000'000ull);
                 }));
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
        emit(retried_record(p->failures, p->client, e), out);
        ++stats_.retried;
        forget(RequestAddress{key.tgid, key.request});
      }
    }
    return;
  }
  // Unreadable, or a 500: from the kernel alone a 500 cannot be told to be
  // about an upstream, so it is no gateway error here.
  if (e.status == 0 || e.status == 500) return;
  // nginx answers right after it gives up on the upstream; a timeout may have
  // started long before, but its last sign (a SYN retransmit) is recent too.
  constexpr uint64_t kWindowNs = 100'000'000;
  const SocketFacts* facts =
      options_.kernel_only_fallback
          ? sockets_.take_recent_failure(e.h.tgid, e.h.ts_ns, e.status == 504 ? 60 * kWindowNs : kWindowNs)
          : nullptr;
  emit(kernel_only_record(e, facts, options_.kernel_only_fallback), out);
}

void Engine::confirm_echo(Record& r, bool keep_unconfirmed, const w5_client_response& echo, std::vector<Record>& out) {
  if (echo.status == 0) {
    release_unconfirmed(r, keep_unconfirmed, out);  // unreadable (TLS, HTTP/2): it confirms nothing
  } else if (!is_gateway_status(static_cast<int>(echo.status), r)) {
    ++stats_.hidden_by_error_page;  // error_page answered with something else: no gateway error
  } else {
    if (static_cast<int>(echo.status) != r.status) {
      r.evidence.push_back(error_page_turned(r.status, static_cast<int>(echo.status)));
      r.status = static_cast<int>(echo.status);
    }
    emit(std::move(r), out);  // straight from the queue: a Record is costly to move twice
  }
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
  if (!read_for_failure(l.h.ts_ns, f.ts_ns, window_ns)) return evidence;

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
  const w5_backend_state* read = read_for(backend_states_, {f.tgid, f.upstream_sk}, f.ts_ns);
  if (!read) return {};
  const w5_backend_state& b = *read;
  if (b.pid != 0 && b.cgroup[0] != '\0') {
    r.backend_cgroup = wire_string(b.cgroup);
    r.backend_unit = service_of_cgroup(r.backend_cgroup);
  }
  std::vector<std::string> lines = describe_backend_state(b, f.peer);
  // What leaves a SYN to another host unanswered, which this host cannot see.
  if (r.cause == Cause::connect_timeout && b.found == W5_BACKEND_REMOTE)
    lines.push_back("nothing answered the SYN: a firewall dropping it (a DROP rule, a cloud security group), a host "
                    "that is down behind a router, or on that host a listener whose accept queue is full");
  return lines;
}

// EADDRNOTAVAIL from connect(): the port range of nginx's namespace and who
// holds its ports toward that upstream, as read (by the live session) when
// nginx logged it.
std::vector<std::string> Engine::explain_by_ports(const LoggedAttempt& f) const {
  std::vector<std::string> evidence;
  const w5_port_usage* read = read_for(port_usage_, {f.tgid, f.peer}, f.ts_ns);
  if (!read) return evidence;
  const w5_port_usage& u = *read;
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

std::vector<std::string> Engine::explain_by_socket_file(const LoggedAttempt& f) const {
  const w5_socket_file* read = read_for(socket_files_, {f.tgid, f.peer}, f.ts_ns);
  if (!read) return {};
  return {describe_socket_file(*read)};
}

// What made nginx mark the peers failed: this worker's last failure on each
// peer within the last ten minutes, newest first.
std::vector<std::string> Engine::earlier_failures(uint32_t tgid, uint64_t now_ns) const {
  constexpr size_t kMaxPeers = 8;
  std::vector<std::string> evidence;
  auto it = recent_failures_.find(tgid);
  if (it == recent_failures_.end()) return evidence;
  std::array<std::string_view, kMaxPeers> seen;
  size_t n_seen = 0;
  for (auto f = it->second.rbegin(); f != it->second.rend() && n_seen < kMaxPeers; ++f) {
    if (age_ns(now_ns, f->ts_ns) > kRecentFailureNs) break;
    if (std::find(seen.begin(), seen.begin() + n_seen, f->peer) != seen.begin() + n_seen) continue;
    seen[n_seen++] = f->peer;
    char ago[32];
    snprintf(ago, sizeof(ago), "%.1f", static_cast<double>(age_ns(now_ns, f->ts_ns)) / 1e9);
    evidence.push_back(concat("earlier: ", f->peer, " failed (", cause_name(f->cause), ") ", ago,
                              " s before; nginx marks a peer failed after max_fails such failures"));
  }
  return evidence;
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
  // An application's stderr is for the answer or the failure that follows it
  // (a timeout's, at most fastcgi_read_timeout later): kept as long as a pending request.
  while (const BackendStderr* oldest = backend_stderr_.oldest_value()) {
    if (age_ns(now, oldest->ts_ns) <= options_.request_max_age_ns) break;
    backend_stderr_.erase(*backend_stderr_.oldest_key());
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
