#include "host/socket_file.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "host/file_text.hpp"

namespace why502 {
namespace {

void copy_text(char* out, size_t size, std::string_view text) {
  const size_t n = std::min(size - 1, text.size());
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

}  // namespace

std::optional<Credentials> credentials_in(std::istream& in) {
  Credentials c;
  bool uid = false, gid = false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    // "Uid:\treal\teffective\tsaved\tfs": the effective one decides access.
    if (key == "Uid:" || key == "Gid:") {
      uint32_t real = 0, effective = 0;
      if (!(fields >> real >> effective)) return std::nullopt;
      (key == "Uid:" ? c.uid : c.gid) = effective;
      (key == "Uid:" ? uid : gid) = true;
    } else if (key == "Groups:") {
      for (uint32_t g = 0; fields >> g;) c.groups.push_back(g);
    }
  }
  if (!uid || !gid) return std::nullopt;
  return c;
}

std::string name_of_id(std::istream& in, uint32_t id) {
  std::string line;
  while (std::getline(in, line)) {
    // name:password:id:...
    const size_t first = line.find(':');
    const size_t second = first == std::string::npos ? first : line.find(':', first + 1);
    const size_t third = second == std::string::npos ? second : line.find(':', second + 1);
    if (third == std::string::npos) continue;
    if (line.substr(second + 1, third - second - 1) == std::to_string(id)) return line.substr(0, first);
  }
  return {};
}

bool mode_allows(uint32_t mode, uint32_t owner, uint32_t group, const Credentials& who, char what) {
  if (who.uid == 0) return true;  // (CAP_DAC_OVERRIDE, which a root worker has)
  const uint32_t bit = what == 'x' ? 1 : 2;
  if (who.uid == owner) return mode & (bit << 6);
  if (who.gid == group || std::find(who.groups.begin(), who.groups.end(), group) != who.groups.end())
    return mode & (bit << 3);
  return mode & bit;
}

std::optional<w5_socket_file> SocketFileProber::judge(const std::string& root, std::string_view socket_path,
                                                      const Credentials& worker) {
  if (socket_path.empty() || socket_path[0] != '/') return std::nullopt;
  w5_socket_file e{};
  e.h.type = W5_EV_SOCKET_FILE;
  e.h.size = sizeof(e);
  e.worker_uid = worker.uid;
  e.worker_gid = worker.gid;
  // Each directory on the way needs search permission, the socket write
  // permission: the first that is refused is the one to name. (Symbolic
  // links are followed by stat(), as connect() follows them.)
  std::string_view judged = socket_path;
  struct stat st{};
  bool denied = false;
  for (size_t slash = socket_path.find('/', 1); !denied; slash = socket_path.find('/', slash + 1)) {
    const bool last = slash == std::string_view::npos;
    const std::string_view part = last ? socket_path : socket_path.substr(0, slash);
    if (stat((root + std::string(part)).c_str(), &st) != 0) return std::nullopt;
    judged = part;
    denied = !mode_allows(st.st_mode, st.st_uid, st.st_gid, worker, last ? 'w' : 'x');
    if (last) break;
  }
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mode = st.st_mode;
  e.denied = denied;
  copy_text(e.path, sizeof(e.path), judged);
  return e;
}

std::optional<w5_socket_file> SocketFileProber::probe(pid_t worker, std::string_view peer, uint64_t ts_ns) {
  constexpr std::string_view kUnix = "unix:";
  if (peer.substr(0, kUnix.size()) != kUnix) return std::nullopt;
  if (!pacing_.due({worker, std::string(peer)}, ts_ns)) return std::nullopt;

  const std::string proc = "/proc/" + std::to_string(worker);
  std::ifstream status(proc + "/status");
  const std::optional<Credentials> creds = credentials_in(status);
  if (!creds) return std::nullopt;
  // The worker's root: a container's socket path is its own.
  std::optional<w5_socket_file> e = judge(proc + "/root", peer.substr(kUnix.size()), *creds);
  if (!e) return std::nullopt;
  e->h.ts_ns = ts_ns;
  e->h.tgid = e->h.tid = static_cast<uint32_t>(worker);
  // Names as the worker's own system gives them (passwd read once for both users).
  const auto name = [](const std::string& text, uint32_t id) {
    std::istringstream in(text);
    return name_of_id(in, id);
  };
  const std::string passwd = read_text(proc + "/root/etc/passwd");
  copy_text(e->worker_user, sizeof(e->worker_user), name(passwd, creds->uid));
  copy_text(e->user, sizeof(e->user), name(passwd, e->uid));
  copy_text(e->group, sizeof(e->group), name(read_text(proc + "/root/etc/group"), e->gid));
  copy_text(e->peer, sizeof(e->peer), peer);
  return e;
}

}  // namespace why502
