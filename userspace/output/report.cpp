#include "output/report.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>

#include "output/record_sink.hpp"

namespace why502 {
namespace {

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string counts_json(const std::map<std::string, uint64_t>& counts) {
  std::string out = "{";
  for (const auto& [k, v] : counts) out += (out.size() > 1 ? "," : "") + json_quote(k) + ":" + std::to_string(v);
  return out + "}";
}

std::string when(const std::optional<int64_t>& ns) {
  return ns ? format_rfc3339_us(*ns) : "-";
}

// A fixed colour per cause, so the timeline reads the same in every report.
const char* cause_colour(const std::string& cause) {
  static const std::map<std::string, const char*> colours = {
      {"refused", "#d62728"},       {"reset", "#ff7f0e"},        {"closed_early", "#bcbd22"},
      {"slow_backend", "#1f77b4"},  {"connect_timeout", "#17becf"}, {"invalid_response", "#9467bd"},
      {"upstream_status", "#8c564b"}, {"no_live_upstreams", "#e377c2"}, {"backlog_full", "#7f7f7f"},
      {"fd_exhausted", "#2ca02c"},  {"backend_crashed", "#000000"}, {"unreachable", "#aec7e8"},
      {"dns_failure", "#ffbb78"},   {"tls_failure", "#98df8a"},  {"limited", "#c5b0d5"},
      {"unknown", "#c7c7c7"}};
  auto it = colours.find(cause);
  return it == colours.end() ? "#c7c7c7" : it->second;
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

void summarise(Report& r) {
  std::map<std::string, uint64_t> evidence;
  for (const Record& rec : r.records) {
    ++r.by_type[rec.type];
    if (rec.type != "gateway_error") continue;
    const std::string cause(cause_name(rec.cause));
    ++r.by_cause[cause];
    ++r.by_status[std::to_string(rec.status)];
    ++r.by_upstream[rec.upstream.empty() ? "-" : rec.upstream];
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
  const uint64_t errors = r.by_type.count("gateway_error") ? r.by_type.at("gateway_error") : 0;
  out << "gateway errors: " << errors;
  for (const auto& [type, n] : r.by_type)
    if (type != "gateway_error") out << ", " << type << ": " << n;
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

std::string report_html(const Report& r) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>why502 report</title>\n"
      << "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
      << "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#eee}"
      << ".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}</style></head><body>\n";
  out << "<h1>why502: gateway errors</h1>\n<p>Recording " << html_escape(r.files.empty() ? "" : r.files[0]) << ", from "
      << html_escape(when(r.first_ns)) << " to " << html_escape(when(r.last_ns)) << " ("
      << format_duration(recording_seconds(r)) << ", " << r.events << " events).</p>\n";
  if (r.cut_off) out << "<p><strong>Warning:</strong> " << html_escape(r.cut_off_note) << "</p>\n";

  // Timeline: one stacked bar per second, coloured by cause.
  const int width = 900, height = 240, left = 50, bottom = 30;
  uint64_t peak = 1;
  for (const auto& [s, causes] : r.per_second) {
    uint64_t total = 0;
    for (const auto& [c, n] : causes) total += n;
    peak = std::max(peak, total);
  }
  const int64_t t0 = r.first_ns ? *r.first_ns / 1'000'000'000 : 0;
  const int64_t t1 = r.last_ns ? *r.last_ns / 1'000'000'000 : t0;
  const double seconds = static_cast<double>(std::max<int64_t>(t1 - t0 + 1, 1));
  const double bar = (width - left - 10) / seconds;
  out << "<h2>Errors per second, by cause</h2>\n<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\""
      << width << "\" height=\"" << height << "\" role=\"img\">\n"
      << "<rect x=\"0\" y=\"0\" width=\"" << width << "\" height=\"" << height << "\" fill=\"#fff\"/>\n"
      << "<line x1=\"" << left << "\" y1=\"" << height - bottom << "\" x2=\"" << width - 10 << "\" y2=\""
      << height - bottom << "\" stroke=\"#444\"/>\n<line x1=\"" << left << "\" y1=\"10\" x2=\"" << left << "\" y2=\""
      << height - bottom << "\" stroke=\"#444\"/>\n<text x=\"5\" y=\"20\" font-size=\"11\">" << peak
      << "/s</text>\n<text x=\"" << left << "\" y=\"" << height - 8 << "\" font-size=\"11\">"
      << html_escape(when(r.first_ns)) << "</text>\n";
  for (const auto& [second, causes] : r.per_second) {
    double y = height - bottom;
    const double x = left + (second - t0) * bar;
    for (const auto& [cause, n] : causes) {
      const double h = (height - bottom - 10) * static_cast<double>(n) / static_cast<double>(peak);
      y -= h;
      out << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << std::max(bar - 1, 1.0) << "\" height=\"" << h
          << "\" fill=\"" << cause_colour(cause) << "\"><title>" << html_escape(cause) << ": " << n
          << "</title></rect>\n";
    }
  }
  out << "</svg>\n<div class=\"legend\">";
  for (const auto& [cause, n] : r.by_cause)
    out << "<span style=\"background:" << cause_colour(cause) << "\"></span>" << html_escape(cause) << " (" << n << ")";
  out << "</div>\n";

  // One table per upstream: its errors by cause and a sample of evidence.
  out << "<h2>By upstream</h2>\n";
  for (const auto& [upstream, total] : r.by_upstream) {
    out << "<h3>" << html_escape(upstream) << " — " << total << " errors</h3>\n<table><tr><th>cause</th><th>count</th>"
        << "<th>example evidence</th></tr>\n";
    std::map<std::string, std::pair<uint64_t, std::string>> rows;
    for (const Record& rec : r.records) {
      if (rec.type != "gateway_error" || (rec.upstream.empty() ? "-" : rec.upstream) != upstream) continue;
      auto& row = rows[std::string(cause_name(rec.cause))];
      ++row.first;
      if (row.second.empty() && !rec.evidence.empty()) row.second = rec.evidence.size() > 1 ? rec.evidence[1] : rec.evidence[0];
    }
    for (const auto& [cause, row] : rows)
      out << "<tr><td>" << html_escape(cause) << "</td><td>" << row.first << "</td><td>" << html_escape(row.second)
          << "</td></tr>\n";
    out << "</table>\n";
  }
  out << "<h2>Top evidence</h2>\n<table><tr><th>count</th><th>evidence</th></tr>\n";
  for (const auto& [line, n] : r.top_evidence)
    out << "<tr><td>" << n << "</td><td>" << html_escape(line) << "</td></tr>\n";
  out << "</table>\n</body></html>\n";
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
