#include "attribution/http2_errors.hpp"

#include <array>
#include <string>

namespace why502 {
namespace {

struct ErrorCode {
  std::string_view name;
  std::string_view meaning;  // what a backend that sends it is saying
};

// Indexed by error code (RFC 9113 §7).
constexpr std::array<ErrorCode, 14> kErrorCodes = {{
    {"NO_ERROR", "no error: the backend is shutting down or draining (a restart, a deploy, a maximum connection age)"},
    {"PROTOCOL_ERROR", "the backend saw nginx break the HTTP/2 protocol: a bug or an incompatibility between them"},
    {"INTERNAL_ERROR", "the backend hit an internal error: its own log says more about this request"},
    {"FLOW_CONTROL_ERROR", "the backend saw its flow-control window broken"},
    {"SETTINGS_TIMEOUT", "nginx did not acknowledge the backend's SETTINGS in time"},
    {"STREAM_CLOSED", "the backend got a frame on a stream it had closed"},
    {"FRAME_SIZE_ERROR", "the backend got a frame of a size it does not accept"},
    {"REFUSED_STREAM",
     "the backend refused the stream before doing any of its work (at its concurrent-stream limit, or shutting "
     "down): retrying it is safe"},
    {"CANCEL", "the backend cancelled the stream: its handler gave up on it"},
    {"COMPRESSION_ERROR", "the backend could not decode nginx's HPACK header block"},
    {"CONNECT_ERROR", "the backend's connection for a CONNECT request failed"},
    {"ENHANCE_YOUR_CALM", "the backend is limiting nginx (too many requests, streams or resets: its abuse protection)"},
    {"INADEQUATE_SECURITY", "the backend refuses the connection's TLS parameters"},
    {"HTTP_1_1_REQUIRED", "the backend wants HTTP/1.1 for this request (proxy_http_version 1.1)"},
}};

// One line per code, and a last one for a code RFC 9113 does not define.
std::array<std::string, kErrorCodes.size() + 1> lines_for(std::string_view frame) {
  std::array<std::string, kErrorCodes.size() + 1> lines;
  for (size_t code = 0; code < kErrorCodes.size(); ++code)
    lines[code] = std::string(frame) + " error " + std::to_string(code) + ", " + std::string(kErrorCodes[code].name) +
                  ": " + std::string(kErrorCodes[code].meaning);
  lines.back() = std::string(frame) + " with an error code RFC 9113 does not define";
  return lines;
}

}  // namespace

std::string_view http2_error_meaning(Cause cause, uint64_t code) {
  static const auto reset_lines = lines_for("RST_STREAM");
  static const auto goaway_lines = lines_for("GOAWAY");
  const auto& lines = cause == Cause::h2_goaway ? goaway_lines : reset_lines;
  return lines[code < kErrorCodes.size() ? code : kErrorCodes.size()];
}

}  // namespace why502
