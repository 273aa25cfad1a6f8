// The attribution engine: joins nginx's view of a request (uprobe events) with
// the kernel's view of its sockets and names the cause of each gateway error.
// It sees only events — no sockets, no libbpf — so it runs in unit tests and
// over recordings exactly as it runs live.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/age_ordered_map.hpp"
#include "attribution/attempt_alignment.hpp"
#include "attribution/held_records.hpp"
#include "attribution/nginx_log_classifier.hpp"
#include "attribution/record.hpp"
#include "attribution/process_deaths.hpp"
#include "attribution/socket_evidence.hpp"
#include "events/event.hpp"

namespace why502 {

struct EngineOptions {
  size_t max_pending_requests = 65536;
  uint64_t request_max_age_ns = 900'000'000'000ull;  // longer than any sane proxy timeout
  uint64_t expectation_max_age_ns = 60'000'000'000ull;
  // Some nginx runs without usable symbols: explain 5xx status lines seen on
  // client sockets from kernel evidence alone.
  bool kernel_only_fallback = false;
  // The status lines nginx writes to clients are traced (not with --lean): a
  // record nginx built an error page for waits briefly for its echo.
  bool client_echo_expected = true;
};

struct EngineStats {
  uint64_t events = 0;
  uint64_t records = 0;    // gateway errors
  uint64_t retried = 0;    // failed attempts nginx recovered from
  uint64_t truncated = 0;  // responses cut off after the header
  uint64_t hidden_by_error_page = 0;  // error pages error_page turned into a non-error
  uint64_t pending_requests = 0;  // requests with failed attempts not (yet) followed by an error response
  // Pending requests dropped, oldest first, because the table was full: a
  // later error page of one of them lacks nginx's words for its attempts.
  uint64_t evicted_requests = 0;
  // Pending requests dropped because their memory or client socket went to a
  // later request: they ended without an error page (nginx recovered, or the
  // client went away).
  uint64_t superseded_requests = 0;
  uint64_t expired_requests = 0;  // older than request_max_age_ns
  // Pending requests read in nginx's memory to be over (W5_EV_REQUEST_ENDED):
  // they ended without an error page.
  uint64_t ended_requests = 0;
};

// A pending request as the liveness check reads it in its worker's memory
// (its address, connection number and c->requests, 0 when unknown).
struct PendingRequestRef {
  uint32_t tgid;
  uint64_t request;
  uint64_t connection;
  uint32_t requests;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {}) : options_(options) {}

  // Feeds one event; appends any records it completes to out.
  void handle(const Event& event, std::vector<Record>& out);
  // Releases records held for their client echo once now_ns (CLOCK_MONOTONIC)
  // is past their deadline: call it when no event came for a while.
  void flush(uint64_t now_ns, std::vector<Record>& out);
  // At the end of a session or a recording: releases every held record.
  void finish(std::vector<Record>& out);
  EngineStats stats() const;
  // Up to max pending requests last logged at least min_age_ns before now_ns,
  // oldest first: those the liveness check reads (an answer comes back as
  // W5_EV_REQUEST_ENDED events).
  std::vector<PendingRequestRef> pending_older_than(uint64_t now_ns, uint64_t min_age_ns, size_t max) const;
  // Turned on once an nginx without usable symbols is being traced.
  void set_kernel_only_fallback(bool on) { options_.kernel_only_fallback = on; }
  void set_client_echo_expected(bool on) { options_.client_echo_expected = on; }

 private:
  // One request: its address in a worker, and its client connection's number.
  struct RequestKey {
    uint32_t tgid;
    uint64_t request;
    uint64_t connection;
    bool operator==(const RequestKey&) const = default;
  };
  struct RequestKeyHash {
    size_t operator()(const RequestKey& k) const {
      return std::hash<uint64_t>()(k.request) ^ (std::hash<uint64_t>()(k.connection) << 1) ^ k.tgid;
    }
  };
  // A request's memory: one live request at a time.
  struct RequestAddress {
    uint32_t tgid;
    uint64_t request;
    bool operator==(const RequestAddress&) const = default;
  };
  struct RequestAddressHash {
    size_t operator()(const RequestAddress& k) const { return std::hash<uint64_t>()(k.request) ^ k.tgid; }
  };
  struct PendingRequest {
    uint64_t connection = 0;  // the client connection's number
    uint32_t requests = 0;    // c->requests when it was logged; 0 unknown
    uint64_t last_ts_ns = 0;
    uint64_t client_sk = 0;
    w5_addr client{};
    std::vector<LoggedAttempt> failures;
    std::vector<std::string> notes;  // other nginx warnings about this request
    bool limited = false;
    std::string limited_message;
  };
  // By address, least recently logged first (eviction and expiry take from
  // that end). An address holds one request at a time: a request at an
  // address with another connection number means the one before it is gone.
  using PendingRequests = AgeOrderedMap<RequestAddress, PendingRequest, RequestAddressHash>;

  // What every event does first: releases held records past their deadline
  // and, once a second, forgets stale state.
  void begin_event(uint64_t now_ns, std::vector<Record>& out);
  void on_nginx_log(const w5_ngx_log& e, std::vector<Record>& out);
  void on_error_page(const w5_ngx_error_page& e, std::vector<Record>& out);
  void on_client_response(const w5_client_response& e, std::vector<Record>& out);
  void on_upstream_status(const w5_upstream_status& e);
  void expire(uint64_t now_ns);
  const SocketFacts* kernel_facts(const LoggedAttempt& attempt, double attempt_ms) const;
  // The pending request of key, if it is there (and not an earlier one at its address).
  PendingRequest* find_pending(const RequestKey& key);
  // The entry a failure of key goes into, made the newest: what it replaces
  // at its address or on its client socket is superseded; a full table loses
  // its oldest entry.
  PendingRequest& pending_for(const RequestKey& key, uint32_t requests, uint64_t client_sk);
  // Whether a request logged with `requests` can be the pending request p
  // (the same connection is checked apart): one of them does not know.
  static bool same_request_number(const PendingRequest& p, uint32_t requests) {
    return p.requests == 0 || requests == 0 || p.requests == requests;
  }
  void on_request_ended(const w5_request_ended& e);
  // A request on client_sk with connection number `connection`: a request of
  // another connection last seen on that socket ended with its connection.
  void supersede_on_socket(uint32_t tgid, uint64_t client_sk, uint64_t connection);
  void forget(RequestAddress address);
  // What made nginx mark every peer failed, for a no_live_upstreams.
  std::vector<std::string> earlier_failures(uint32_t tgid, uint64_t now_ns) const;
  // A backend death behind a failed attempt: may change the cause; returns
  // the evidence to show first.
  std::vector<std::string> explain_by_death(const LoggedAttempt& failure, double waited_ms, Cause& cause) const;
  // A full accept queue or a backend out of descriptors behind a timeout.
  // The process at the backend's end and what it was doing; sets r's backend cgroup.
  std::vector<std::string> explain_by_backend(const LoggedAttempt& failure, Record& r) const;
  std::vector<std::string> explain_by_listener(const LoggedAttempt& failure, double waited_ms, Cause& cause) const;
  // No free local port toward the upstream (ports_exhausted).
  std::vector<std::string> explain_by_ports(const LoggedAttempt& failure) const;
  // A unix socket nginx's worker may not open (EACCES): what keeps it out.
  std::vector<std::string> explain_by_socket_file(const LoggedAttempt& failure) const;

  EngineOptions options_;
  EngineStats stats_;
  PendingRequests pending_;
  // What waits for the event that takes it, or that a record reads, holds
  // at most kMaxWaiting entries of each kind, the least recently touched let
  // go first (a storm of new keys never drops what is still used).
  static constexpr size_t kMaxWaiting = 4096;
  static constexpr size_t kMaxProcessCgroups = 8192;  // over BackendProber::kMaxProcessesSeen
  template <typename Key, typename Value, typename Hash = std::hash<Key>>
  using Waiting = AgeOrderedMap<Key, Value, Hash>;
  struct PairHash {
    template <typename A, typename B>
    size_t operator()(const std::pair<A, B>& p) const {
      return std::hash<A>()(p.first) * 31 + std::hash<B>()(p.second);
    }
  };
  // --capture-request: the line of a request whose error page comes next.
  Waiting<RequestKey, std::string, RequestKeyHash> request_lines_;
  Waiting<RequestKey, std::string, RequestKeyHash> locations_;  // W5_EV_NGX_LOCATION, for the next page
  // W5_EV_NGX_ERROR_PAGE_TARGET, for the next page.
  Waiting<RequestKey, w5_ngx_error_page_target, RequestKeyHash> error_page_targets_;
  // Requests whose page error_page sent on (their requests count): a later
  // page of one is not sent on again, even once its record was let go.
  Waiting<RequestKey, uint32_t, RequestKeyHash> sent_to_error_page_;
  // The request with failed attempts last seen on each client connection.
  std::unordered_map<SocketKey, RequestKey, SocketKeyHash> request_by_client_;
  // Error-page records held (briefly) until their echo on the client socket.
  HeldRecords held_;
  // A held record's echo: the status line says what the client really got.
  void confirm_echo(Record& held, bool keep_unconfirmed, const w5_client_response& echo, std::vector<Record>& out);
  // A held record no readable status line confirmed: out, or dropped when
  // error_page led its client to a non-error.
  void release_unconfirmed(Record& held, bool keep_unconfirmed, std::vector<Record>& out);
  void emit(Record&& record, std::vector<Record>& out);
  // Per thread: an upstream's own 5xx waiting for the client it goes to.
  std::unordered_map<uint32_t, w5_upstream_status> upstream_5xx_;
  SocketEvidence sockets_;
  ProcessDeaths deaths_;
  // The latest state seen of each local TCP listener, by family and port.
  std::map<std::pair<uint16_t, uint16_t>, w5_listener_state> listeners_;
  // The local ports of each worker's namespace toward an upstream (by
  // nginx's name of it), read when a connect() there found none free.
  Waiting<std::pair<uint32_t, std::string>, w5_port_usage, PairHash> port_usage_;
  // The unix socket files workers could not open (by nginx's name of them),
  // read when nginx logged that.
  Waiting<std::pair<uint32_t, std::string>, w5_socket_file, PairHash> socket_files_;
  // What a FastCGI application wrote to its stderr before its answer (nginx:
  // "FastCGI sent in stderr: ..."), by the worker's upstream socket it came
  // on: PHP's warnings and errors, the reason an application gives for the
  // 5xx it answers, or for hanging. For that request's record.
  struct BackendStderr {
    uint64_t ts_ns = 0;  // the last line's
    RequestKey request{};
    uint64_t client_sk = 0;
    std::vector<std::string> lines;  // nginx's words, at most kMaxStderrLines
  };
  static constexpr size_t kMaxStderrLines = 3;
  Waiting<SocketKey, BackendStderr, SocketKeyHash> backend_stderr_;
  void note_backend_stderr(const w5_ngx_log& e);
  // The lines that came on upstream socket sk, when they belong to the
  // record being made (its connection carries one request at a time).
  std::vector<std::string> take_backend_stderr(uint32_t tgid, uint64_t sk,
                                               const std::function<bool(const BackendStderr&)>& belongs);
  // A pooled upstream connection's history, for the log event that follows it.
  Waiting<RequestKey, w5_upstream_reuse, RequestKeyHash> reuses_;
  // What the backend of a worker's upstream socket was doing, read when
  // nginx timed out on it; and each nginx process's cgroup (touched by each
  // record that names it: a live worker's stays).
  Waiting<std::pair<uint32_t, uint64_t>, w5_backend_state, PairHash> backend_states_;
  Waiting<uint32_t, std::string> process_cgroups_;
  // Per worker: its recent failed attempts, newest last — the evidence behind
  // a later "no live upstreams" (nginx counts max_fails per worker).
  struct PeerFailure {
    uint64_t ts_ns;
    std::string peer;
    Cause cause;
  };
  std::unordered_map<uint32_t, std::deque<PeerFailure>> recent_failures_;  // never an empty deque
  static constexpr uint64_t kRecentFailureNs = 600'000'000'000ull;  // ten minutes
  uint64_t last_expiry_ns_ = 0;
};

}  // namespace why502
