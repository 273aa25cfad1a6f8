#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <utility>

#include "output/record_sink.hpp"

namespace why502 {
namespace {

// Runs of characters that need no escape go in whole: JSON strings are most
// of a record, and a push_back per character was most of its cost. A table,
// as the scan itself is then most of it.
constexpr std::array<bool, 256> kNeedsEscape = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
  return table;
}();

bool needs_escape(unsigned char c) { return kNeedsEscape[c]; }

void append_quoted(std::string& out, std::string_view s) {
  // Most strings need no escape: one resize and one copy, not an append per
  // quote (single characters were a fifth of writing a record).
  if (std::none_of(s.begin(), s.end(), [](char c) { return needs_escape(static_cast<unsigned char>(c)); })) {
    const size_t at = out.size();
    out.resize(at + s.size() + 2);
    char* p = out.data() + at;
    p[0] = '"';
    std::memcpy(p + 1, s.data(), s.size());
    p[s.size() + 1] = '"';
    return;
  }
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    size_t plain = i;
    while (plain < s.size() && !needs_escape(static_cast<unsigned char>(s[plain]))) ++plain;
    out.append(s, i, plain - i);
    if (plain == s.size()) break;
    const auto c = static_cast<unsigned char>(s[plain]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        // Bytes from nginx's memory are not trusted to be UTF-8.
        char buf[8];
        snprintf(buf, sizeof(buf), "\\u%04x", c);
        out += buf;
      }
    }
    i = plain + 1;
  }
  out += '"';
}

// Keys are our own names, in need of no escape: put in whole with the
// comma before them, by one resize.
void append_key(std::string& out, std::string_view key) {
  const bool first = out.back() == '{';
  const size_t at = out.size();
  out.resize(at + key.size() + (first ? 3 : 4));
  char* p = out.data() + at;
  if (!first) *p++ = ',';
  *p++ = '"';
  std::memcpy(p, key.data(), key.size());
  p += key.size();
  p[0] = '"';
  p[1] = ':';
}

void append_ms(std::string& out, double ms) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.3f", ms);
  out += buf;
}

// A batch of records goes out in one write: at storm rates a write per few
// records (the stream's own buffer) was a sixth of why502's CPU.
class JsonSink final : public RecordSink {
 public:
  JsonSink(std::ostream& out, WallClock clock) : out_(out), clock_(clock) {}
  ~JsonSink() override { flush(); }
  void write(const Record& record) override {
    append_record_json(pending_, record, clock_);
    pending_ += '\n';
  }
  void flush() override {
    out_.write(pending_.data(), static_cast<std::streamsize>(pending_.size()));
    out_.flush();
    pending_.clear();
  }

 private:
  std::ostream& out_;
  WallClock clock_;
  std::string pending_;
};

}  // namespace

std::string json_quote(std::string_view s) {
  std::string out;
  append_quoted(out, s);
  return out;
}

std::string record_to_json(const Record& r, const WallClock& clock) {
  std::string out;
  append_record_json(out, r, clock);
  return out;
}

void append_record_json(std::string& out, const Record& r, const WallClock& clock) {
  out += '{';
  append_key(out, "type");
  append_quoted(out, record_type_name(r.type));
  append_key(out, "ts");
  append_quoted(out, format_rfc3339_us(clock.to_realtime_ns(r.ts_ns)));
  append_key(out, "pid");
  out += std::to_string(r.pid);
  append_key(out, "status");
  out += r.status != 0 ? std::to_string(r.status) : "null";  // unknown, e.g. a truncated TLS response
  append_key(out, "cause");
  append_quoted(out, cause_name(r.cause));
  append_key(out, "client");
  append_quoted(out, r.client);
  append_key(out, "upstream");
  if (r.upstream.empty())
    out += "null";  // none was involved: limit_req/limit_conn rejected the request first
  else
    append_quoted(out, r.upstream);
  append_key(out, "evidence");
  out += '[';
  for (size_t i = 0; i < r.evidence.size(); ++i) {
    if (i) out += ',';
    append_quoted(out, r.evidence[i]);
  }
  out += ']';
  append_key(out, "attempts");
  out += '[';
  for (size_t i = 0; i < r.attempts.size(); ++i) {
    const Attempt& a = r.attempts[i];
    if (i) out += ',';
    out += '{';
    append_key(out, "upstream");
    append_quoted(out, a.upstream);
    append_key(out, "cause");
    append_quoted(out, cause_name(a.cause));
    append_key(out, "status");
    out += std::to_string(a.status);
    append_key(out, "ms");
    if (a.ms < 0)
      out += "null";
    else
      append_ms(out, a.ms);
    out += '}';
  }
  out += ']';
  if (!r.nginx_error.empty()) {
    append_key(out, "nginx_error");
    append_quoted(out, r.nginx_error);
  }
  if (!r.request.empty()) {
    append_key(out, "request");
    append_quoted(out, r.request);
  }
  if (!r.location.empty()) {
    append_key(out, "location");
    append_quoted(out, r.location);
  }
  // Always present, null when unknown: a consumer can tell "not read" from a missing key.
  for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"nginx_cgroup", &r.nginx_cgroup},
                                   {"nginx_unit", &r.nginx_unit},
                                   {"backend_cgroup", &r.backend_cgroup},
                                   {"backend_unit", &r.backend_unit}}) {
    append_key(out, key);
    if (value->empty())
      out += "null";
    else
      append_quoted(out, *value);
  }
  append_key(out, "source");
  append_quoted(out, record_source_name(r.source));
  out += '}';
}

std::unique_ptr<RecordSink> make_json_sink(std::ostream& out, WallClock clock) {
  return std::make_unique<JsonSink>(out, clock);
}

}  // namespace why502
