#include "events/cgroup_path.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

namespace why502 {
namespace {

bool is_hex_id(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool lists_controller(std::string_view controllers, std::string_view wanted) {
  while (!controllers.empty()) {
    const size_t comma = controllers.find(',');
    if (controllers.substr(0, comma) == wanted) return true;
    if (comma == std::string_view::npos) break;
    controllers.remove_prefix(comma + 1);
  }
  return false;
}

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    if (slash != 0) parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

// A container runtime's scope or directory name: "docker-ID.scope",
// "cri-containerd-ID.scope", ...; the runtime's name and ID.
std::string container_in(std::string_view part, std::string_view previous) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kPrefixes{{
      {"docker-", "docker"}, {"cri-containerd-", "containerd"}, {"crio-", "cri-o"}, {"libpod-", "podman"},
      {"containerd-", "containerd"}}};
  std::string_view name = part;
  if (name.ends_with(".scope")) name.remove_suffix(6);
  for (const auto& [prefix, runtime] : kPrefixes)
    if (name.starts_with(prefix) && is_hex_id(name.substr(prefix.size())))
      return std::string(runtime) + ":" + std::string(name.substr(prefix.size(), 12));
  // cgroupfs drivers: /docker/ID, /kubepods/.../podUID/ID.
  if (is_hex_id(name)) {
    const std::string_view runtime = previous == "docker" || previous == "libpod_parent" ? "docker" : "container";
    return std::string(previous == "libpod_parent" ? "podman" : runtime) + ":" + std::string(name.substr(0, 12));
  }
  return "";
}

}  // namespace

ProcessCgroups cgroups_in(std::istream& in) {
  ProcessCgroups c;
  std::string line;
  while (std::getline(in, line)) {
    // ID:CONTROLLERS:PATH; the path may itself hold colons.
    const size_t first = line.find(':');
    const size_t second = first == std::string::npos ? std::string::npos : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string_view controllers = std::string_view(line).substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (path.empty() || path[0] != '/') continue;
    if (line.compare(0, first, "0") == 0 && controllers.empty())
      c.unified = std::move(path);
    else if (controllers == "name=systemd")
      c.systemd = std::move(path);
    else if (lists_controller(controllers, "cpu")) {
      c.cpu = std::move(path);
      c.has_v1_cpu = true;
    }
  }
  return c;
}

std::string service_cgroup_path(const ProcessCgroups& c) {
  for (const std::string* path : {&c.unified, &c.systemd, &c.cpu})
    if (!path->empty() && *path != "/") return *path;
  for (const std::string* path : {&c.unified, &c.systemd, &c.cpu})
    if (!path->empty()) return *path;
  return "";
}

std::string service_of_cgroup(std::string_view path) {
  const std::vector<std::string_view> parts = components(path);
  // The innermost name wins: a container inside a service's slice is the container.
  for (size_t i = parts.size(); i-- > 0;) {
    if (std::string c = container_in(parts[i], i > 0 ? parts[i - 1] : ""); !c.empty()) return c;
  }
  for (size_t i = parts.size(); i-- > 0;) {
    const std::string_view part = parts[i];
    if (part.ends_with(".service") || part.ends_with(".scope")) return std::string(part);
  }
  for (size_t i = parts.size(); i-- > 0;) {
    // kubepods-burstable-pod<UID>.slice (systemd driver) or pod<UID> (cgroupfs).
    std::string_view part = parts[i];
    if (part.ends_with(".slice")) part.remove_suffix(6);
    const size_t dash = part.rfind("-pod");
    const size_t pod = part.starts_with("pod") ? 0 : dash == std::string_view::npos ? dash : dash + 1;
    if (pod == std::string_view::npos || path.find("kubepods") == std::string_view::npos) continue;
    std::string uid(part.substr(pod + 3));
    if (uid.empty()) continue;
    std::replace(uid.begin(), uid.end(), '_', '-');  // the systemd driver escapes the UID's dashes
    return "pod:" + uid;
  }
  return "";
}

std::string cgroup_short_form(std::string_view path) {
  std::string service = service_of_cgroup(path);
  return service.empty() ? std::string(path) : service;
}

}  // namespace why502
