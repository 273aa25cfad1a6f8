#include "host/kernel_config.hpp"

#include <sys/utsname.h>
#include <zlib.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace why502 {
namespace {

// The whole of /proc/config.gz (about 40 KiB of text), or "".
std::string read_gzip_file(const char* path) {
  gzFile file = gzopen(path, "rb");
  if (!file) return "";
  std::string text;
  char buffer[16384];
  int n = 0;
  while ((n = gzread(file, buffer, sizeof(buffer))) > 0) text.append(buffer, static_cast<size_t>(n));
  const bool failed = n < 0;
  gzclose(file);
  return failed ? "" : text;
}

}  // namespace

uint32_t hz_in_config(std::istream& config) {
  constexpr std::string_view kKey = "CONFIG_HZ=";
  std::string line;
  while (std::getline(config, line)) {
    if (!line.starts_with(kKey)) continue;
    const std::string_view value = std::string_view(line).substr(kKey.size());
    uint32_t hz = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), hz);
    if (error != std::errc() || end != value.data() + value.size()) return 0;
    return hz >= 24 && hz <= 48000 ? hz : 0;
  }
  return 0;
}

uint32_t kernel_hz() {
  if (std::string text = read_gzip_file("/proc/config.gz"); !text.empty()) {
    std::istringstream config(text);
    if (uint32_t hz = hz_in_config(config)) return hz;
  }
  utsname name{};
  if (uname(&name) != 0) return 0;
  std::ifstream config(std::string("/boot/config-") + name.release);
  return config ? hz_in_config(config) : 0;
}

}  // namespace why502
