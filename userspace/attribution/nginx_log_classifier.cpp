#include "attribution/nginx_log_classifier.hpp"

#include <cerrno>

#include "common/text.hpp"

namespace why502 {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

Cause connect_errno_cause(int err) {
  switch (err) {
    case ECONNREFUSED:
    case ENOENT:
    case EACCES:
      return Cause::refused;
    case EAGAIN:
      return Cause::backlog_full;  // a unix listener's queue is full
    case ETIMEDOUT:
      return Cause::connect_timeout;
    case EPERM:  // a local policy denied the connect()
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
      return Cause::unreachable;
    case EMFILE:
    case ENFILE:
      return Cause::fd_exhausted;
    case ECONNRESET:
      return Cause::reset;
    case EADDRNOTAVAIL:
      return Cause::ports_exhausted;  // no free local port toward that address
    default:
      return Cause::unknown;
  }
}

Cause io_errno_cause(int err) {
  switch (err) {
    case ECONNRESET:
      return Cause::reset;
    case EPIPE:
      return Cause::closed_early;
    default:
      return connect_errno_cause(err);
  }
}

}  // namespace

std::optional<LoggedFailure> classify_nginx_log(std::string_view fmt, int err, std::string_view action) {
  if (starts_with(fmt, "connect() failed") || starts_with(fmt, "connect() to ")) {
    LoggedFailure f{connect_errno_cause(err), true};
    // nginx names the peer when connect() itself failed; when the error came
    // later (SO_ERROR), it does not.
    const bool at_once = starts_with(fmt, "connect() to ");
    // What nginx's errno alone leaves for the operator to guess, and the
    // usual fix. (Immediate failures: a unix socket's, or a local refusal.)
    switch (err) {
      case EACCES:
        // (The format does not say which: nginx logs any connect() that
        // fails at once as "connect() to %V failed".)
        f.meaning =
            "the kernel denied nginx's worker permission to connect (EACCES), so the backend may well be up: for a "
            "unix socket, the socket file's owner and mode or a directory above it keep nginx's user out (php-fpm: "
            "listen.owner, listen.group, listen.mode); for TCP, SELinux (the httpd_can_network_connect boolean), "
            "another security policy or a `prohibit` route to the address (`ip route get ADDRESS`) forbids the "
            "connection";
        f.meaning_leads = true;
        break;
      case EPERM:
        f.meaning =
            "the kernel denied nginx's connect() (EPERM) before any packet left: a security policy (a cgroup BPF "
            "program, seccomp, SELinux) forbids it";
        f.meaning_leads = true;
        break;
      case ENOENT:
        f.meaning = "there is no socket file at that path: the backend is not running, or listens at another path";
        break;
      case ENETUNREACH:
      case EHOSTUNREACH:
        // (Later, the error came from the network: ICMP, or no ARP answer.)
        if (at_once)
          f.meaning =
              "the kernel has no route to it from nginx's network namespace, so no packet left (`ip route get "
              "ADDRESS` there): no default route, an `unreachable` route, or, for an IPv6 address, no IPv6 route "
              "at all (a name that resolves to IPv6 on a host without IPv6 routing)";
        break;
      default:
        break;
    }
    return f;
  }
  // proxy_bind (fastcgi_bind, ...) to an address this host lacks.
  if (starts_with(fmt, "bind(") && contains(fmt, ") failed"))
    return LoggedFailure{Cause::unknown, true,
                         err == EADDRNOTAVAIL
                             ? "a configuration error: proxy_bind names an address this host does not have, so nginx "
                               "cannot bind its end of the upstream connection to it"
                             : "nginx could not bind its end of the upstream connection to the proxy_bind address",
                         true};
  if (starts_with(fmt, "socket() failed") || contains(fmt, "worker_connections are not enough"))
    return LoggedFailure{Cause::fd_exhausted, true};
  if (starts_with(fmt, "upstream timed out")) {
    if (contains(action, "connecting")) return LoggedFailure{Cause::connect_timeout, true};
    // Not a response late: the request's bytes stayed unread (an upload to a
    // backend busy elsewhere, or one that never accept()ed the connection).
    if (contains(action, "sending request"))
      return LoggedFailure{Cause::slow_backend, true,
                           "the backend stopped reading the request: nginx could not send the rest of it within "
                           "proxy_send_timeout (fastcgi_send_timeout, uwsgi_send_timeout, ...)",
                           false, true};
    return LoggedFailure{Cause::slow_backend, true};
  }
  if (starts_with(fmt, "upstream prematurely closed"))
    return LoggedFailure{Cause::closed_early, true};
  // An HTTP/2 upstream (proxy_http_version 2, grpc_pass): its frames name
  // the failure; the error code is the message's argument.
  if (starts_with(fmt, "upstream rejected request with error")) return LoggedFailure{Cause::h2_stream_reset, true};
  if (starts_with(fmt, "upstream sent goaway")) return LoggedFailure{Cause::h2_goaway, true};
  // The commonest rejected answer, and one the backend's own log calls a success.
  if (starts_with(fmt, "upstream sent too big header"))
    return LoggedFailure{Cause::invalid_response, true,
                         "the response header did not fit in proxy_buffer_size (fastcgi_buffer_size, "
                         "uwsgi_buffer_size, ...): many or large headers, often Set-Cookie; raise the buffer size or "
                         "have the backend send less"};
  if (starts_with(fmt, "upstream sent") || starts_with(fmt, "upstream response") ||
      contains(fmt, "invalid FastCGI") || contains(fmt, "unexpected FastCGI"))
    return LoggedFailure{Cause::invalid_response, true};
  if (starts_with(fmt, "no live upstreams")) return LoggedFailure{Cause::no_live_upstreams, true};
  if (contains(fmt, "could not be resolved")) return LoggedFailure{Cause::dns_failure, true};
  // proxy_pass (fastcgi_pass, ...) with a variable naming a host that no
  // upstream{} block defines: nginx resolves it per request, and cannot
  // without a resolver.
  if (starts_with(fmt, "no resolver defined"))
    return LoggedFailure{Cause::dns_failure, true,
                         "no resolver is configured: a host in proxy_pass given by a variable is resolved per "
                         "request, which needs a `resolver` directive (or an upstream{} block of that name)"};
  // The backend is up and answered the handshake: nginx refused its
  // certificate (proxy_ssl_verify on), which its own log rarely says.
  if (starts_with(fmt, "upstream SSL certificate verify error"))
    return LoggedFailure{Cause::tls_failure, true,
                         "nginx did not accept the upstream's certificate (proxy_ssl_verify on): expired, "
                         "self-signed, or from a CA missing from proxy_ssl_trusted_certificate, as nginx's words "
                         "say; renew the certificate or trust its CA"};
  if (starts_with(fmt, "upstream SSL certificate does not match"))
    return LoggedFailure{Cause::tls_failure, true,
                         "the upstream's certificate does not name the host nginx checks (proxy_ssl_name, by "
                         "default the host in proxy_pass); without proxy_ssl_server_name on nginx sends no SNI, so "
                         "a server with several certificates may present another one"};
  if (contains(action, "SSL handshaking") || contains(fmt, "upstream SSL certificate") ||
      starts_with(fmt, "SSL_do_handshake"))
    return LoggedFailure{Cause::tls_failure, true};
  if (starts_with(fmt, "limiting requests") || starts_with(fmt, "limiting connections"))
    return LoggedFailure{Cause::limited, false};
  // recv(), send(), writev(), readv(), sendfile() and friends failing with an errno.
  if (err != 0 && contains(fmt, "() failed") && contains(action, "upstream"))
    return LoggedFailure{io_errno_cause(err), true};
  return std::nullopt;
}

std::string describe_nginx_log(std::string_view fmt, int err, std::string_view action, std::string_view peer) {
  // Fill in the one argument our formats carry: the peer name (a resolver
  // failure names the host being resolved, which the event does not carry).
  std::string text;
  // This runs for every error nginx logs: room for the whole line at once.
  text.reserve(fmt.size() + peer.size() + action.size() + 64);
  if (const size_t arg = fmt.find("%V"); arg != std::string_view::npos)
    append(text, fmt.substr(0, arg), peer.empty() ? "the upstream host" : peer, fmt.substr(arg + 2));
  else
    append(text, fmt);
  if (err != 0) append(text, " (", Decimal(err), ": ", errno_text(err), ")");
  if (!action.empty()) append(text, " while ", action);
  return text;
}

}  // namespace why502
