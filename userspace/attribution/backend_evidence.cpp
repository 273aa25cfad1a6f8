#include "attribution/backend_evidence.hpp"

#include <cstdio>

#include "common/text.hpp"
#include "events/address.hpp"
#include "events/cgroup_path.hpp"

namespace why502 {
namespace {

std::string ms(uint64_t ns) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.0f ms", static_cast<double>(ns) / 1e6);
  return text;
}

std::string seconds(uint64_t ns) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f s", static_cast<double>(ns) / 1e9);
  return text;
}

std::string percent(uint64_t part, uint64_t whole) {
  return std::to_string(whole == 0 ? 0 : (part * 100 + whole / 2) / whole) + "%";
}

std::string who(const w5_backend_state& b) {
  std::string s = concat("backend pid ", Decimal(b.pid), " (", wire_view(b.comm), ")");
  if (b.threads > 1)
    s += concat(", thread ", Decimal(b.tid), " (", wire_view(b.thread_comm), ") of its ", Decimal(b.threads), ",");
  return s;
}

std::string call_name(const w5_backend_state& b) {
  const std::string_view name = wire_view(b.syscall_name);
  return name.empty() ? concat("system call ", Decimal(b.syscall_nr)) : concat(name, "()");
}

// A unix connection: to a server's path, or accepted on the backend's own
// (from nginx's worker, the event's tgid, or another client).
std::string waited_on_unix_socket(const w5_backend_state& b) {
  const std::string_view path = wire_view(b.wait_path);
  const std::string holder =
      b.wait_listener_pid ? concat(wire_view(b.wait_listener_comm), ", pid ", Decimal(b.wait_listener_pid)) : "";
  if (b.wait_server_side != W5_SERVER_SIDE)
    return concat(" on a unix socket connection to ", path, holder.empty() ? "" : concat(" (", holder, ")"));
  if (b.wait_listener_pid != 0 && b.wait_listener_pid == b.h.tgid)
    return " on nginx's connection itself (reading the request or writing the response)";
  return concat(" on a connection accepted on its unix socket ", path,
                holder.empty() ? "" : concat(" (from ", holder, ")"));
}

// What a backend none of whose threads was blocked on one descriptor waited
// for: an answer on a connection it opened.
std::string awaited_answer(const w5_backend_state& b) {
  std::string s = concat("it had sent on its own connection to ", format_endpoint(b.wait_remote));
  if (b.wait_listener_pid != 0)
    s += concat(" (", wire_view(b.wait_listener_comm), ", pid ", Decimal(b.wait_listener_pid), ")");
  return s + " after nginx's request, and had no answer from it when nginx gave up";
}

// What the thread waited on, " on …" or "".
std::string waited_on(const w5_backend_state& b) {
  if (b.wait_kind == W5_WAIT_FILE) return concat(" on ", wire_view(b.wait_path));
  if (b.wait_kind == W5_WAIT_UNIX_SOCKET) return waited_on_unix_socket(b);
  if (b.wait_kind != W5_WAIT_SOCKET) return "";
  const bool nginx_connection = b.wait_remote.family == b.upstream_local.family &&
                                b.wait_remote.port == b.upstream_local.port && b.wait_local.port == b.upstream.port;
  if (nginx_connection) return " on nginx's connection itself (reading the request or writing the response)";
  std::string s = concat(" on a connection to ", format_endpoint(b.wait_remote));
  if (b.wait_listener_pid != 0)
    s += concat(" (", wire_view(b.wait_listener_comm), ", pid ", Decimal(b.wait_listener_pid), ")");
  else if (b.wait_server_side == W5_SERVER_SIDE)
    s += " (a client of the backend)";
  return s;
}

std::string doing(const w5_backend_state& b) {
  const std::string_view name = wire_view(b.syscall_name);
  switch (static_cast<char>(b.state)) {
    case 0: return "had exited by the time why502 looked";
    case 'T': return "was stopped (SIGSTOP or job control): it runs no code until it is sent SIGCONT";
    case 't': return "was stopped under a debugger (ptrace): it runs no code until the debugger lets it";
    case 'Z': return "had exited (a zombie its parent has not reaped)";
    case 'X': return "was exiting";
    case 'R': return "was running or runnable, not waiting in a system call";
    case 'D':
      return concat("was in uninterruptible sleep (D: waiting on the disk or another kernel resource)",
                    b.syscall_nr >= 0 ? concat(" in ", call_name(b), waited_on(b)) : "");
    default: break;
  }
  if (b.syscall_nr < 0) return "was asleep in the kernel, not in a system call";
  if (name == "futex") return "had been blocked in futex(): waiting for a lock or for another thread";
  // (A poll of one connection or file says what it waited on, below.)
  const bool one_descriptor =
      b.wait_kind == W5_WAIT_SOCKET || b.wait_kind == W5_WAIT_FILE || b.wait_kind == W5_WAIT_UNIX_SOCKET;
  const bool polls_one =
      one_descriptor && (name == "poll" || name == "ppoll" || name == "select" || name == "pselect6");
  if (!polls_one && (name == "poll" || name == "ppoll" || name == "select" || name == "pselect6" ||
                     name == "epoll_wait" || name == "epoll_pwait" || name == "epoll_pwait2"))
    return concat("had been blocked in ", call_name(b), ": waiting for any of its descriptors (idle, or waiting on "
                  "something it polls)");
  if (name == "nanosleep" || name == "clock_nanosleep") return concat("was sleeping in ", call_name(b));
  if (name == "accept" || name == "accept4")
    return concat("had been blocked in ", call_name(b), ": waiting for new connections, not serving this one");
  if (name == "wait4" || name == "waitid") return concat("was waiting for a child process in ", call_name(b));
  return concat("had been blocked in ", call_name(b), waited_on(b));
}

std::string cgroup_named(const w5_backend_state& b) {
  const std::string_view path = wire_view(b.cgroup);
  if (path.empty()) return "its cgroup";
  const std::string service = service_of_cgroup(path);
  return service.empty() ? concat("its cgroup ", path) : concat("its cgroup ", path, " (", service, ")");
}

// Over what the CPU figures were measured: most of nginx's wait (read while
// the request waited), or a short sample once nginx had given up.
std::string sample_window(const w5_backend_state& b) {
  if (b.sample_in_wait) return concat("of the last ", seconds(b.sample_ns), " of nginx's wait");
  return concat("of a ", ms(b.sample_ns), " sample as nginx gave up");
}

std::string throttling(const w5_backend_state& b) {
  std::string s = concat(cgroup_named(b), " was CPU-throttled in ", Decimal(b.throttled_periods), " of ",
                         Decimal(b.periods), " CFS periods ", sample_window(b), " (", ms(b.throttled_ns),
                         " throttled)");
  if (b.quota_us > 0)
    s += concat("; quota ", ms(static_cast<uint64_t>(b.quota_us) * 1000), " of CPU per ", ms(b.period_us * 1000));
  if (b.total_periods > 0)
    s += concat("; since it was made: ", Decimal(b.total_throttled_periods), " of ", Decimal(b.total_periods),
                " periods throttled, ", seconds(b.total_throttled_ns), " in all");
  return s;
}

std::string cpu_share(const w5_backend_state& b) {
  return concat("the thread was on CPU ", percent(b.run_ns, b.sample_ns), " ", sample_window(b),
                " (runnable but waiting for a CPU ", percent(b.runqueue_ns, b.sample_ns), ")");
}

}  // namespace

std::vector<std::string> describe_backend_state(const w5_backend_state& b, std::string_view peer) {
  std::vector<std::string> lines;
  switch (b.found) {
    case W5_BACKEND_REMOTE:
      lines.push_back(concat("the backend ", peer, " is not on this host: what it was doing cannot be read here"));
      return lines;
    case W5_BACKEND_NOT_FOUND:
      lines.push_back(concat("no process of this host holds the backend's end of nginx's connection to ", peer,
                             " or listens there"));
      return lines;
    case W5_BACKEND_NOT_ACCEPTED:
      lines.push_back(concat("the backend never accept()ed nginx's connection: it waits in the accept queue of ",
                             format_endpoint(b.upstream),
                             b.pid ? concat(", whose owner ", who(b), " ", doing(b)) : std::string()));
      break;
    case W5_BACKEND_LISTENER:
      lines.push_back(concat("the listener on ", format_endpoint(b.upstream), " belongs to ", who(b), ", which ",
                             doing(b)));
      break;
    case W5_BACKEND_HOLDER:
      lines.push_back(concat(who(b), " ", doing(b), " when nginx gave up"));
      if (b.wait_kind == W5_WAIT_AWAITED_SOCKET) lines.push_back(awaited_answer(b));
      if (b.unix_connections > 1)
        lines.push_back(concat("this nginx worker had ", Decimal(b.unix_connections), " connections to ", peer,
                               " open: the backend process above holds one of them, maybe not this request's"));
      break;
    default:
      return lines;
  }
  if (b.sample_ns == 0) return lines;
  // Starved of CPU by its quota says more than the state it was caught in.
  if (b.throttled_periods > 0) lines.insert(lines.begin(), throttling(b));
  if (static_cast<char>(b.state) == 'R' || b.run_ns * 20 >= b.sample_ns) lines.push_back(cpu_share(b));
  return lines;
}

}  // namespace why502
