// Finding nginx: running processes (from /proc) and binaries to attach to.
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace why502 {

struct NginxProcess {
  pid_t pid = 0;
  pid_t ppid = 0;
  std::string exe;  // /proc/PID/exe: opens the binary even after it was replaced on disk
  dev_t dev = 0;
  ino_t ino = 0;
};

// Binaries by device and inode, as stat() gives them.
using BinaryInodes = std::set<std::pair<dev_t, ino_t>>;

// Every nginx process (master and workers): those whose command is nginx,
// and those running one of also_binaries whatever their command (a fork named
// by --nginx-binary: Angie, OpenResty, Tengine, freenginx).
std::vector<NginxProcess> find_nginx_processes(const BinaryInodes& also_binaries = {});

// The process if it is nginx: its command is nginx, or it runs an nginx
// binary under another name (checked by the binary's contents, as
// --nginx-binary is); else the error says why not.
Result<NginxProcess> nginx_process(pid_t pid);

// The device and inode of each path that stat() reads.
BinaryInodes inodes_of(const std::vector<std::string>& paths);

// The parent pid in a /proc/PID/stat line; 0 when the line does not parse.
pid_t parent_pid_in_stat(const std::string& stat);

// Whether path is an nginx binary to attach to (the error says why not): a
// readable ELF file holding nginx's version string ("nginx version: ", which
// nginx -v prints and every build embeds, stripped or not).
Result<void> check_nginx_binary(const std::string& path);

// "nginx" on PATH, or in the usual sbin directories (root's PATH may lack them).
std::optional<std::string> find_nginx_on_path();

}  // namespace why502
