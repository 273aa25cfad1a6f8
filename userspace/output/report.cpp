#include "output/report.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>

#include "output/record_sink.hpp"

namespace why502 {
namespace {

std::string counts_json(const std::map<std::string, uint64_t>& counts) {
  std::string out = "{";
  for (const auto& [k, v] : counts) out += (out.size() > 1 ? "," : "") + json_quote(k) + ":" + std::to_string(v);
  return out + "}";
}

std::string when(const std::optional<int64_t>& ns) {
  return ns ? format_rfc3339_us(*ns) : "-";
}

}  // namespace

double recording_seconds(const Report& r) {
  if (!r.first_ns || !r.last_ns) return 0;
  return static_cast<double>(*r.last_ns - *r.first_ns) / 1e9;
}

std::string format_duration(double seconds) {
  char buf[48];
  if (seconds < 10)
    snprintf(buf, sizeof(buf), "%.3f s", seconds);
  else if (seconds < 60)
    snprintf(buf, sizeof(buf), "%.1f s", seconds);
  else if (seconds < 3600)
    snprintf(buf, sizeof(buf), "%d min %d s", static_cast<int>(seconds) / 60, static_cast<int>(seconds) % 60);
  else
    snprintf(buf, sizeof(buf), "%lld h %d min", static_cast<long long>(seconds) / 3600,
             static_cast<int>(static_cast<long long>(seconds) % 3600 / 60));
  return buf;
}

uint64_t skipped_bytes(const Report& r) {
  uint64_t total = 0;
  for (const SkippedBytes& s : r.skipped) total += s.bytes;
  return total;
}

std::string upstream_label(const Record& record) { return record.upstream.empty() ? "-" : record.upstream; }

std::string skipped_note(const SkippedBytes& s) {
  return s.file + ": skipped " + std::to_string(s.bytes) + " bytes at offset " + std::to_string(s.offset) + " (" +
         s.problem + ")";
}

void summarise(Report& r) {
  std::map<std::string, uint64_t> evidence;
  for (const Record& rec : r.records) {
    ++r.by_type[std::string(record_type_name(rec.type))];
    if (rec.type != RecordType::gateway_error) continue;
    const std::string cause(cause_name(rec.cause));
    ++r.by_cause[cause];
    ++r.by_status[std::to_string(rec.status)];
    ++r.by_upstream[upstream_label(rec)];
    ++r.per_second[r.clock.to_realtime_ns(rec.ts_ns) / 1'000'000'000][cause];
    for (size_t i = 0; i < rec.evidence.size() && i < 2; ++i) ++evidence[rec.evidence[i]];
  }
  r.top_evidence.assign(evidence.begin(), evidence.end());
  std::sort(r.top_evidence.begin(), r.top_evidence.end(),
            [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  if (r.top_evidence.size() > 10) r.top_evidence.resize(10);
}

std::string report_text(const Report& r) {
  std::ostringstream out;
  out << "recording: ";
  for (const auto& f : r.files) out << f << ' ';
  out << "\nfrom " << when(r.first_ns) << " to " << when(r.last_ns) << " (" << format_duration(recording_seconds(r))
      << ", " << r.events << " events)\n";
  if (r.cut_off) out << "warning: " << r.cut_off_note << "\n";
  if (!r.skipped.empty()) {
    out << "warning: " << skipped_bytes(r) << " corrupt bytes skipped in " << r.skipped.size()
        << (r.skipped.size() == 1 ? " region" : " regions") << "; what came after is reported:\n";
    for (const SkippedBytes& s : r.skipped) out << "  " << skipped_note(s) << "\n";
  }
  const std::string_view gateway_error = record_type_name(RecordType::gateway_error);
  const auto counted = r.by_type.find(std::string(gateway_error));
  const uint64_t errors = counted != r.by_type.end() ? counted->second : 0;
  out << "gateway errors: " << errors;
  for (const auto& [type, n] : r.by_type)
    if (type != gateway_error) out << ", " << type << ": " << n;
  out << "\n";
  if (recording_seconds(r) > 0) {
    char rate[32];
    snprintf(rate, sizeof(rate), "%.2f", static_cast<double>(errors) / recording_seconds(r));
    out << "errors per second (average): " << rate << "\n";
  }
  auto section = [&](const char* title, const std::map<std::string, uint64_t>& counts) {
    out << "\nby " << title << ":\n";
    std::vector<std::pair<std::string, uint64_t>> sorted(counts.begin(), counts.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& [k, v] : sorted) out << "  " << v << "\t" << k << "\n";
  };
  section("cause", r.by_cause);
  section("status", r.by_status);
  section("upstream", r.by_upstream);
  out << "\ntop evidence:\n";
  for (const auto& [line, n] : r.top_evidence) out << "  " << n << "\t" << line << "\n";
  if (!r.per_second.empty()) {
    out << "\nerrors per second:\n";
    for (const auto& [second, causes] : r.per_second) {
      uint64_t total = 0;
      for (const auto& [c, n] : causes) total += n;
      out << "  " << format_rfc3339_us(second * 1'000'000'000).substr(0, 19) << "Z  " << total;
      for (const auto& [c, n] : causes) out << "  " << c << "=" << n;
      out << "\n";
    }
  }
  return out.str();
}

std::string report_json(const Report& r) {
  std::ostringstream out;
  out << "{\"files\":[";
  for (size_t i = 0; i < r.files.size(); ++i) out << (i ? "," : "") << json_quote(r.files[i]);
  out << "],\"started\":" << (r.first_ns ? json_quote(format_rfc3339_us(*r.first_ns)) : "null")
      << ",\"ended\":" << (r.last_ns ? json_quote(format_rfc3339_us(*r.last_ns)) : "null")
      << ",\"events\":" << r.events << ",\"cut_off\":" << (r.cut_off ? "true" : "false");
  if (r.cut_off) out << ",\"cut_off_note\":" << json_quote(r.cut_off_note);
  out << ",\"skipped_bytes\":" << skipped_bytes(r) << ",\"skipped\":[";
  for (size_t i = 0; i < r.skipped.size(); ++i)
    out << (i ? "," : "") << "{\"file\":" << json_quote(r.skipped[i].file) << ",\"offset\":" << r.skipped[i].offset
        << ",\"bytes\":" << r.skipped[i].bytes << ",\"problem\":" << json_quote(r.skipped[i].problem) << "}";
  out << "]";
  out << ",\"by_type\":" << counts_json(r.by_type) << ",\"by_cause\":" << counts_json(r.by_cause)
      << ",\"by_status\":" << counts_json(r.by_status) << ",\"by_upstream\":" << counts_json(r.by_upstream)
      << ",\"top_evidence\":[";
  for (size_t i = 0; i < r.top_evidence.size(); ++i)
    out << (i ? "," : "") << "{\"evidence\":" << json_quote(r.top_evidence[i].first)
        << ",\"count\":" << r.top_evidence[i].second << "}";
  out << "],\"per_second\":[";
  bool first = true;
  for (const auto& [second, causes] : r.per_second) {
    out << (first ? "" : ",") << "{\"second\":" << json_quote(format_rfc3339_us(second * 1'000'000'000))
        << ",\"by_cause\":" << counts_json(causes) << "}";
    first = false;
  }
  out << "],\"records\":[";
  for (size_t i = 0; i < r.records.size(); ++i) out << (i ? "," : "") << record_to_json(r.records[i], r.clock);
  out << "]}\n";
  return out.str();
}

std::optional<int64_t> parse_rfc3339(const std::string& text) {
  tm t{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &t);
  if (!rest) return std::nullopt;
  // strptime takes any year up to 9999, but nanoseconds in an int64_t end in
  // 2262 (and begin in 1677): keep a day's margin for the fraction and zone.
  constexpr int64_t kMaxSeconds = INT64_MAX / 1'000'000'000 - 86'400;
  const int64_t seconds = static_cast<int64_t>(timegm(&t));
  if (seconds > kMaxSeconds || seconds < -kMaxSeconds) return std::nullopt;
  int64_t ns = seconds * 1'000'000'000;
  if (*rest == '.') {
    ++rest;
    int64_t scale = 100'000'000;
    while (*rest >= '0' && *rest <= '9') {
      ns += (*rest - '0') * scale;
      scale /= 10;
      ++rest;
    }
  }
  if (*rest == 'Z' && rest[1] == '\0') return ns;
  int sign = 0, hh = 0, mm = 0;
  if ((*rest == '+' || *rest == '-') && sscanf(rest + 1, "%2d:%2d", &hh, &mm) == 2 && hh >= 0 && hh <= 23 &&
      mm >= 0 && mm <= 59) {
    sign = *rest == '+' ? 1 : -1;
    return ns - sign * (hh * 3600LL + mm * 60LL) * 1'000'000'000;
  }
  return std::nullopt;
}

}  // namespace why502
