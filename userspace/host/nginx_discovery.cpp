#include "host/nginx_discovery.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace why502 {
namespace {

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

pid_t parent_of(pid_t pid) { return parent_pid_in_stat(read_first_line("/proc/" + std::to_string(pid) + "/stat")); }

}  // namespace

pid_t parent_pid_in_stat(const std::string& stat) {
  // "pid (comm) state ppid ..." — comm may hold spaces and ')', so the fields
  // are counted from the last ')'. The line may be cut anywhere.
  const auto close = stat.rfind(')');
  if (close == std::string::npos || stat.size() - close < 5 || stat.compare(close, 2, ") ") != 0 ||
      stat[close + 3] != ' ')
    return 0;
  const char* first = stat.data() + close + 4;
  const char* last = stat.data() + stat.size();
  pid_t ppid = 0;
  const auto [end, error] = std::from_chars(first, last, ppid);
  if (error != std::errc() || (end != last && *end != ' ') || ppid < 0) return 0;
  return ppid;
}

namespace {

// The process and the binary it runs, whatever it is; the error says why
// not when it is gone or its binary cannot be read.
Result<NginxProcess> process_running(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  NginxProcess p;
  p.pid = pid;
  p.ppid = parent_of(pid);
  p.exe = dir + "/exe";
  struct stat st{};
  if (stat(p.exe.c_str(), &st) != 0) return Error{"cannot read the binary of nginx process " + std::to_string(pid)};
  p.dev = st.st_dev;
  p.ino = st.st_ino;
  return p;
}

}  // namespace

Result<NginxProcess> nginx_process(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  const std::string comm = read_first_line(dir + "/comm");
  if (comm.empty()) return Error{"no process with pid " + std::to_string(pid)};
  // A fork under another name is known by its binary, as --nginx-binary is.
  if (comm != "nginx" && !check_nginx_binary(dir + "/exe"))
    return Error{"process " + std::to_string(pid) + " is '" + comm + "', not nginx"};
  return process_running(pid);
}

std::vector<NginxProcess> find_nginx_processes(const BinaryInodes& also_binaries) {
  std::vector<NginxProcess> found;
  DIR* proc = opendir("/proc");
  if (!proc) return found;
  while (dirent* entry = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    const std::string comm = read_first_line("/proc/" + std::string(entry->d_name) + "/comm");
    if (comm.empty() || (comm != "nginx" && also_binaries.empty())) continue;
    Result<NginxProcess> p = process_running(static_cast<pid_t>(pid));
    if (p && (comm == "nginx" || also_binaries.count({p->dev, p->ino}))) found.push_back(std::move(p).value());
  }
  closedir(proc);
  return found;
}

BinaryInodes inodes_of(const std::vector<std::string>& paths) {
  BinaryInodes inodes;
  for (const std::string& path : paths) {
    struct stat st{};
    if (stat(path.c_str(), &st) == 0) inodes.insert({st.st_dev, st.st_ino});
  }
  return inodes;
}

Result<void> check_nginx_binary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  struct stat st{};
  if (!in || stat(path.c_str(), &st) != 0) return Error{std::string("cannot read it: ") + std::strerror(errno)};
  if (S_ISDIR(st.st_mode)) return Error{"a directory, not an nginx binary"};
  std::string bytes;
  bytes.resize(static_cast<size_t>(st.st_size));
  if (!S_ISREG(st.st_mode) || !in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    return Error{"cannot read it as a file"};
  if (bytes.compare(0, 4, "\x7f" "ELF") != 0) return Error{"not an ELF file, so not an nginx binary"};
  if (bytes.find("nginx version: ") == std::string::npos)
    return Error{"an ELF file without nginx's version string, so not an nginx binary"};
  return {};
}

std::optional<std::string> find_nginx_on_path() {
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  path += ":/usr/sbin:/usr/local/sbin:/sbin";
  std::istringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/nginx";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

}  // namespace why502
