#include "attribution/socket_file_evidence.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <string_view>

#include "common/text.hpp"
#include "events/address.hpp"

namespace why502 {
namespace {

// "www-data" when the worker's /etc/passwd names the id, else "33".
std::string name_or_id(std::string_view name, uint32_t id) {
  return name.empty() ? std::to_string(id) : std::string(name);
}

}  // namespace

std::string describe_socket_file(const w5_socket_file& f) {
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", f.mode & 07777u);
  const bool directory = S_ISDIR(f.mode);
  const std::string_view user = wire_view(f.worker_user);
  const std::string worker = user.empty() ? concat("uid ", Decimal(f.worker_uid), ", gid ", Decimal(f.worker_gid))
                                          : concat(user, " (uid ", Decimal(f.worker_uid), ", gid ",
                                                   Decimal(f.worker_gid), ")");
  const std::string file = concat(directory ? "the directory " : "the socket file ", wire_view(f.path), " is ",
                                  name_or_id(wire_view(f.user), f.uid), ":", name_or_id(wire_view(f.group), f.gid),
                                  ", mode ", std::string_view(mode));
  if (!f.denied)
    return concat(file, ", which lets nginx's worker (", worker,
                  ") in: something else denies it (an ACL, AppArmor or SELinux)");
  return concat(file, "; nginx's worker runs as ", worker, " and may not ",
                directory ? "pass through it (no search permission)" : "connect to it (no write permission)");
}

}  // namespace why502
