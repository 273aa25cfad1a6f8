// The why502 command line: the input split on NUL bytes is argv (after the
// program name), parsed exactly as main parses it. Nothing ever runs; after a
// successful parse, only the option values each command would interpret are
// parsed too: --rotate, --since/--until, --listen. Every error is one line
// of bounded length, whatever bytes the arguments held.
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command_line.hpp"
#include "cli/metrics_endpoint.hpp"
#include "cli/record_command.hpp"
#include "common/fatal_error.hpp"
#include "common/text.hpp"
#include "output/report.hpp"

namespace {

constexpr size_t kMaxArgs = 64;
// "why502: " + the message (at most 400 bytes, see one_line) + the hint.
constexpr size_t kMaxErrorLine = 512;

// An error as the user sees it: one line, ending in its only newline.
void check_one_line(const std::string& line) {
  if (line.empty()) return;
  if (line.size() > kMaxErrorLine || line.find('\n') != line.size() - 1) __builtin_trap();
}

// parse_size must say exactly what the text says, or nothing: a size that
// wrapped around would rotate recordings at some arbitrary size.
void check_size(const std::string& text) {
  const auto size = why502::parse_size(text);
  if (!size) return;
  unsigned __int128 expected = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) expected = expected * 10 + (text[i] - '0');
  const std::string unit = text.substr(i);
  if (unit == "K" || unit == "k") expected <<= 10;
  if (unit == "M" || unit == "m") expected <<= 20;
  if (unit == "G" || unit == "g") expected <<= 30;
  if (expected != *size) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args{"why502"};
  std::string arg;
  for (size_t i = 0; i < size && args.size() <= kMaxArgs; ++i) {
    if (data[i] != 0) {
      arg += static_cast<char>(data[i]);
      continue;
    }
    args.push_back(std::move(arg));
    arg.clear();
  }
  if (args.size() <= kMaxArgs) args.push_back(std::move(arg));
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());

  std::ostringstream out, err;
  const why502::ParsedCommandLine parsed =
      why502::parse_command_line(static_cast<int>(argv.size()), argv.data(), out, err);
  check_one_line(err.str());
  if (!parsed.run) return 0;
  const why502::CommandLine& line = parsed.line;
  if (line.command == "record" && !line.record.rotate.empty()) check_size(line.record.rotate);
  if (line.command == "report") {
    why502::parse_rfc3339(line.report.since);
    why502::parse_rfc3339(line.report.until);
  }
  if (line.command == "serve") {
    try {
      why502::parse_listen_address(line.serve.listen);
    } catch (const why502::FatalError& e) {
      // A bad --listen: serve says so (as main prints it) and exits 2.
      check_one_line("why502: " + why502::one_line(e.what()) + "\n");
    }
  }
  return 0;
}
