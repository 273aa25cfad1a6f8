#include "host/nginx_format.hpp"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "host/process_memory.hpp"

namespace why502 {

size_t map_read_only_data(pid_t pid) {
  // The binary as the process's own maps name it (in its mount namespace,
  // where a container's overlay gives other device numbers than stat's).
  char exe[4096];
  const std::string proc = "/proc/" + std::to_string(pid);
  const ssize_t n = ::readlink((proc + "/exe").c_str(), exe, sizeof(exe) - 1);
  if (n <= 0) return 0;
  const std::string_view binary(exe, static_cast<size_t>(n));
  std::ifstream maps(proc + "/maps");
  std::vector<char> scratch(64 * 1024);
  size_t mapped = 0;
  for (std::string line; std::getline(maps, line);) {
    // start-end perms offset dev inode path
    uint64_t start = 0, end = 0;
    char perms[5] = {};
    int path_at = 0;
    if (std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " %4s %*s %*s %*s %n", &start, &end, perms, &path_at) != 3 ||
        path_at == 0)
      continue;
    // Read-only data has a mapping of its own, or (linked without
    // -z separate-code, as before binutils 2.31) shares the code's.
    const bool read_only = std::strcmp(perms, "r--p") == 0 || std::strcmp(perms, "r-xp") == 0;
    if (!read_only || std::string_view(line).substr(static_cast<size_t>(path_at)) != binary) continue;
    for (uint64_t at = start; at < end; at += scratch.size()) {
      const size_t len = end - at < scratch.size() ? end - at : scratch.size();
      const size_t got = read_process_memory(static_cast<uint32_t>(pid), at, scratch.data(), len);
      if (got == 0) return mapped;
      mapped += got;
    }
  }
  return mapped;
}

bool read_unread_format(w5_ngx_log& e) {
  // fmt[] and fmt_rest[] hold W5_FMT_LEN - 1 characters each: the format's
  // first 2 * (W5_FMT_LEN - 1) bytes, in one read.
  char text[2 * (W5_FMT_LEN - 1)] = {};
  // (A read cut at a page's end keeps what came.)
  const size_t got = read_process_memory(e.h.tgid, e.fmt_addr, text, sizeof(text));
  const size_t len = ::strnlen(text, got);
  if (len == 0) return false;
  const size_t head = len < W5_FMT_LEN - 1 ? len : W5_FMT_LEN - 1;
  std::memcpy(e.fmt, text, head);
  e.fmt[head] = 0;
  if (len > head) {
    const size_t rest = len - head < W5_FMT_LEN - 1 ? len - head : W5_FMT_LEN - 1;
    std::memcpy(e.fmt_rest, text + head, rest);
    e.fmt_rest[rest] = 0;
  }
  return true;
}

}  // namespace why502
