#include "host/nginx_build_info.hpp"

#include <algorithm>
#include <string_view>

#include "host/elf_symbols.hpp"

namespace why502 {
namespace {

// Finds the NUL-terminated string of rodata that starts with prefix; out gets
// it without the prefix and its trailing newline. False if there is none.
bool find_literal(std::string_view rodata, std::string_view prefix, std::string& out) {
  for (size_t at = rodata.find(prefix); at != std::string_view::npos; at = rodata.find(prefix, at + 1)) {
    if (at != 0 && rodata[at - 1] != '\0') continue;  // only a literal's start, not a tail
    const size_t end = rodata.find('\0', at);
    if (end == std::string_view::npos) return false;
    out.assign(rodata.substr(at + prefix.size(), end - at - prefix.size()));
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return true;
  }
  return false;
}

// Splits like a POSIX shell: whitespace separates, '…' and "…" quote.
std::vector<std::string> split_shell_words(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char c : line) {
    if (quote) {
      if (c == quote) quote = 0;
      else word += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

bool is_static_feature(const std::string& argument) {
  if (argument.rfind("--with", 0) != 0) return false;
  // Options with a value: a path, compiler flags, or a module built as a .so.
  return argument.find('=') == std::string::npos;
}

}  // namespace

bool NginxBuildInfo::has(const std::string& argument) const {
  return std::find(arguments.begin(), arguments.end(), argument) != arguments.end();
}

NginxBuildInfo parse_nginx_build_info(const std::string& rodata) {
  NginxBuildInfo info;
  std::string version_line;
  if (find_literal(rodata, "nginx version: ", version_line)) {
    // "nginx/1.31.4" or "nginx/1.31.4 (build name)".
    const std::string name = version_line.substr(0, version_line.find(' '));
    const size_t slash = name.find('/');
    info.server = name.substr(0, slash);
    if (slash != std::string::npos) info.version = name.substr(slash + 1);
  }
  if (find_literal(rodata, "configure arguments:", info.configure)) {
    if (!info.configure.empty() && info.configure.front() == ' ') info.configure.erase(0, 1);
    info.arguments = split_shell_words(info.configure);
    for (const std::string& a : info.arguments)
      if (is_static_feature(a)) info.features.push_back(a);
    std::sort(info.features.begin(), info.features.end());
  }
  return info;
}

Result<NginxBuildInfo> read_nginx_build_info(const std::string& binary_path) {
  const Result<std::string> rodata = read_elf_section(binary_path, ".rodata");
  if (!rodata) return Error{rodata.error()};
  return parse_nginx_build_info(rodata.value());
}

unsigned nginx_version_number(const std::string& version) {
  unsigned parts[3] = {};
  size_t part = 0;
  bool digit_seen = false;
  for (char c : version) {
    if (c >= '0' && c <= '9') {
      parts[part] = parts[part] * 10 + static_cast<unsigned>(c - '0');
      if (parts[part] > 999) return 0;
      digit_seen = true;
    } else if (c == '.' && digit_seen && part < 2) {
      ++part;
      digit_seen = false;
    } else {
      return 0;
    }
  }
  if (part != 2 || !digit_seen) return 0;
  return parts[0] * 1000000 + parts[1] * 1000 + parts[2];
}

}  // namespace why502
