// What nginx's ngx_log_error_core hands the uprobe: a format string, an errno
// and the log's action, all read from nginx's memory. The input is the errno
// (4 bytes, little-endian), then the format, the action and the peer name,
// separated by NULs.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "attribution/nginx_log_classifier.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int32_t err = 0;
  if (size >= sizeof(err)) {
    std::memcpy(&err, data, sizeof(err));
    data += sizeof(err);
    size -= sizeof(err);
  }
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::string_view fields[3];
  for (std::string_view& field : fields) {
    const size_t nul = rest.find('\0');
    field = rest.substr(0, nul);
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  }
  const auto& [fmt, action, peer] = fields;
  why502::classify_nginx_log(fmt, err, action);
  why502::describe_nginx_log(fmt, err, action, peer);
  return 0;
}
