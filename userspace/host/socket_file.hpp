// Why an nginx worker may not connect to a unix socket (EACCES, most often a
// php-fpm socket whose listen.owner/listen.mode leave nginx's user out): the
// first part of the socket's path that the worker's user may not pass, its
// owner and mode, and that user, read in nginx's own mount namespace
// (/proc/PID/root). Read on that error only, at most once a second per
// worker and socket.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/read_pacing.hpp"
#include "why502_wire.h"

namespace why502 {

// A process's effective user and groups (/proc/PID/status).
struct Credentials {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  // supplementary
};
std::optional<Credentials> credentials_in(std::istream& proc_pid_status);

// The name of id in an /etc/passwd or /etc/group (the first and third
// fields); empty when none.
std::string name_of_id(std::istream& passwd_or_group, uint32_t id);

// What a file's mode bits let who do: "x" to search a directory, "w" to
// connect to a socket (root passes all).
bool mode_allows(uint32_t mode, uint32_t owner, uint32_t group, const Credentials& who, char what);

class SocketFileProber {
 public:
  // The socket file behind peer ("unix:/run/php.sock"), or the first
  // directory above it that worker may not search, as an event stamped
  // ts_ns; nullopt when peer is no unix socket, the worker is gone, nothing
  // of the path could be read, or it was read less than a second ago.
  std::optional<w5_socket_file> probe(pid_t worker, std::string_view peer, uint64_t ts_ns);

  // The same below root (a directory standing for nginx's "/"), for the
  // credentials given: the file system part of probe(), apart from /proc.
  static std::optional<w5_socket_file> judge(const std::string& root, std::string_view socket_path,
                                             const Credentials& worker);

 private:
  OncePerSecond<std::pair<pid_t, std::string>> pacing_;  // (worker, peer)
};

}  // namespace why502
