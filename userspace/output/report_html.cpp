// The html report: the page an SRE pastes into a postmortem. The numbers and
// records are in the HTML itself (readable without the script, and when
// pasted); the inline script adds local times, filters and cause toggles.
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <set>
#include <sstream>
#include <vector>

#include "output/html_escape.hpp"
#include "output/report_html_parts.hpp"

namespace why502 {
namespace report_page {

void Occurrences::add(const Record& record, int64_t wall_ns) {
  if (!count || wall_ns < first_ns) {
    first_ns = wall_ns;
    first = &record;
  }
  if (!count || wall_ns >= last_ns) {
    last_ns = wall_ns;
    last = &record;
  }
  ++count;
}

ErrorSpans gateway_error_spans(const Report& r) {
  ErrorSpans spans;
  for (const Record& rec : r.records) {
    if (rec.type != RecordType::gateway_error) continue;
    const int64_t wall = r.clock.to_realtime_ns(rec.ts_ns);
    spans.all.add(rec, wall);
    spans.by_cause[std::string(cause_name(rec.cause))].add(rec, wall);
    spans.by_upstream[upstream_label(rec)].add(rec, wall);
  }
  return spans;
}

const char* cause_colour(const std::string& cause) {
  // clang-format off
  static const std::map<std::string, const char*> colours = {
      {"refused", "#d62728"},       {"reset", "#ff7f0e"},        {"closed_early", "#bcbd22"},
      {"slow_backend", "#1f77b4"},  {"connect_timeout", "#17becf"}, {"invalid_response", "#9467bd"},
      {"upstream_status", "#8c564b"}, {"no_live_upstreams", "#e377c2"}, {"backlog_full", "#7f7f7f"},
      {"fd_exhausted", "#2ca02c"},  {"backend_crashed", "#000000"}, {"unreachable", "#aec7e8"},
      {"dns_failure", "#ffbb78"},   {"tls_failure", "#98df8a"},  {"limited", "#c5b0d5"},
      {"ports_exhausted", "#f7b6d2"}, {"keepalive_race", "#dbdb8d"}, {"h2_stream_reset", "#9edae5"},
      {"h2_goaway", "#843c39"},
      {"unknown", "#c7c7c7"}};
  // clang-format on
  auto it = colours.find(cause);
  return it == colours.end() ? "#c7c7c7" : it->second;
}

}  // namespace report_page

namespace {

using report_page::cause_colour;
using report_page::ErrorSpans;
using report_page::Occurrences;

// The records table lists at most this many (the first, in time order): the
// page stays a few megabytes however long the recording.
constexpr size_t kMaxTableRows = 2000;

std::string share(uint64_t part, uint64_t whole) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f %%", whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
  return buf;
}

std::string status_text(const Record& r) { return r.status ? std::to_string(r.status) : "-"; }

// A UTC instant the script also shows in local time.
std::string time_html(int64_t wall_ns) {
  const std::string text = format_rfc3339_us(wall_ns);
  return "<time datetime=\"" + text + "\" data-t=\"" + std::to_string(wall_ns / 1'000'000) + "\">" + text + "</time>";
}

std::string local_html(int64_t wall_ns) {
  return "<span class=\"local\" data-t=\"" + std::to_string(wall_ns / 1'000'000) + "\" data-fmt=\"full\"></span>";
}

// A cause with its colour, kept on one line.
std::string cause_html(const std::string& cause) {
  return std::string("<span class=\"cause\"><span class=\"sw\" style=\"background:") + cause_colour(cause) +
         "\"></span>" + html_escape(cause) + "</span>";
}

template <typename Map>
std::pair<std::string, uint64_t> largest(const Map& counts) {
  std::pair<std::string, uint64_t> best{"", 0};
  for (const auto& [key, n] : counts)
    if (n > best.second) best = {key, n};
  return best;
}

std::string one_error(const Record& rec, int64_t wall_ns) {
  const std::string cause(cause_name(rec.cause));
  return time_html(wall_ns) + " " + local_html(wall_ns) + " — " + status_text(rec) + " " + cause_html(cause) +
         (rec.upstream.empty() ? " (no upstream)" : " on " + html_escape(rec.upstream)) +
         (rec.evidence.empty() ? "" : ": " + html_escape(rec.evidence.front()));
}

void headline(std::ostringstream& out, const Report& r, const ErrorSpans& spans) {
  const Occurrences& all = spans.all;
  out << "<section id=\"headline\">\n";
  if (!all.count) {
    out << "<p class=\"lead\">No gateway errors in this recording";
    if (!r.records.empty()) out << " (" << r.records.size() << " other records: see below)";
    out << ".</p>\n";
  } else {
    const auto [cause, cause_n] = largest(r.by_cause);
    const auto [top_upstream, upstream_n] = largest(r.by_upstream);
    const std::string upstream = top_upstream == "-" ? "no upstream" : top_upstream;
    const double window = static_cast<double>(all.last_ns - all.first_ns) / 1e9;
    out << "<p class=\"lead\"><strong>" << all.count << " gateway error" << (all.count == 1 ? "" : "s")
        << "</strong> in " << format_duration(window) << "; <strong>" << share(cause_n, all.count) << "</strong> "
        << html_escape(cause) << ", <strong>" << share(upstream_n, all.count) << "</strong> on "
        << html_escape(upstream) << ".</p>\n"
        << "<dl class=\"facts\">\n<dt>Incident window</dt><dd>" << time_html(all.first_ns) << " to "
        << time_html(all.last_ns) << " (" << format_duration(window) << ") " << local_html(all.first_ns) << "</dd>\n"
        << "<dt>Errors</dt><dd>" << all.count;
    std::string statuses;
    for (const auto& [status, n] : r.by_status)
      statuses += (statuses.empty() ? "" : ", ") + status + ": " + std::to_string(n);
    out << " (" << html_escape(statuses) << ")";
    std::string others;
    for (const auto& [type, n] : r.by_type)
      if (type != record_type_name(RecordType::gateway_error)) others += (others.empty() ? "" : ", ") + std::to_string(n) + ' ' + type;
    if (!others.empty()) out << "; also " << html_escape(others) << " (not gateway errors; in the records below)";
    out << "</dd>\n<dt>Top cause</dt><dd>" << cause_html(cause) << ": " << cause_n << " of " << all.count << " ("
        << share(cause_n, all.count) << ")</dd>\n<dt>Top upstream</dt><dd>" << html_escape(upstream) << ": "
        << upstream_n << " of " << all.count << " (" << share(upstream_n, all.count)
        << ")</dd>\n<dt>First error</dt><dd>" << one_error(*all.first, all.first_ns) << "</dd>\n<dt>Last error</dt><dd>"
        << one_error(*all.last, all.last_ns) << "</dd>\n</dl>\n";
  }
  if (r.cut_off) out << "<p class=\"warn\"><strong>Warning:</strong> " << html_escape(r.cut_off_note) << "</p>\n";
  if (!r.skipped.empty()) {
    out << "<p class=\"warn\"><strong>Warning:</strong> " << skipped_bytes(r)
        << " corrupt bytes skipped; what came after is reported:</p>\n<ul>\n";
    for (const SkippedBytes& s : r.skipped) out << "<li>" << html_escape(skipped_note(s)) << "</li>\n";
    out << "</ul>\n";
  }
  out << "<p class=\"recording\">Recording ";
  for (size_t i = 0; i < r.files.size(); ++i)
    out << (i ? ", " : "") << "<code>" << html_escape(r.files[i]) << "</code>";
  if (r.first_ns && r.last_ns)
    out << ", from " << time_html(*r.first_ns) << " to " << time_html(*r.last_ns) << " ("
        << format_duration(recording_seconds(r)) << ", " << r.events << " events)";
  out << ".</p>\n</section>\n";
}

void cause_table(std::ostringstream& out, const ErrorSpans& spans) {
  if (spans.by_cause.empty()) return;
  out << "<h2>By cause</h2>\n<table id=\"by-cause\"><thead><tr><th>cause</th><th>errors</th><th>share</th>"
      << "<th>first</th><th>last</th><th>evidence of the first</th></tr></thead><tbody>\n";
  std::vector<std::pair<std::string, const Occurrences*>> rows;
  for (const auto& [cause, occ] : spans.by_cause) rows.emplace_back(cause, &occ);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second->count > b.second->count; });
  for (const auto& [cause, occ] : rows)
    out << "<tr><td>" << cause_html(cause) << "</td><td class=\"num\">" << occ->count << "</td><td class=\"num\">"
        << share(occ->count, spans.all.count) << "</td><td>" << time_html(occ->first_ns) << "</td><td>"
        << time_html(occ->last_ns) << "</td><td>"
        << (occ->first->evidence.empty() ? "" : html_escape(occ->first->evidence.front())) << "</td></tr>\n";
  out << "</tbody></table>\n";
}

void upstream_table(std::ostringstream& out, const Report& r, const ErrorSpans& spans) {
  if (spans.by_upstream.empty()) return;
  std::map<std::string, std::map<std::string, uint64_t>> causes;
  for (const Record& rec : r.records)
    if (rec.type == RecordType::gateway_error) ++causes[upstream_label(rec)][std::string(cause_name(rec.cause))];
  std::vector<std::pair<std::string, const Occurrences*>> rows;
  for (const auto& [u, occ] : spans.by_upstream) rows.emplace_back(u, &occ);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second->count > b.second->count; });
  out << "<h2>By upstream</h2>\n<table id=\"by-upstream\"><thead><tr><th>upstream</th><th>errors</th><th>share</th>"
      << "<th>causes</th><th>first error</th><th>last error</th></tr></thead><tbody>\n";
  for (const auto& [u, occ] : rows) {
    out << "<tr><td>" << html_escape(u) << "</td><td class=\"num\">" << occ->count << "</td><td class=\"num\">"
        << share(occ->count, spans.all.count) << "</td><td>";
    bool first = true;
    for (const auto& [cause, n] : causes[u]) {
      out << (first ? "" : ", ") << cause_html(cause) << ' ' << n;
      first = false;
    }
    out << "</td><td>" << time_html(occ->first_ns) << "</td><td>" << time_html(occ->last_ns) << "</td></tr>\n";
  }
  out << "</tbody></table>\n";
}

std::string options(const std::map<std::string, uint64_t>& values, const std::string& none_label) {
  std::string out = "<option value=\"\">any</option>";
  for (const auto& [v, n] : values)
    out += "<option value=\"" + html_escape(v) + "\">" + html_escape(v == "-" ? none_label : v) + " (" +
           std::to_string(n) + ")</option>";
  return out;
}

void record_row(std::ostringstream& out, const Record& rec, int64_t wall_ns) {
  const std::string cause(cause_name(rec.cause)), upstream = upstream_label(rec);
  out << "<tr class=\"rec\" data-cause=\"" << html_escape(cause) << "\" data-upstream=\"" << html_escape(upstream)
      << "\" data-status=\"" << status_text(rec) << "\" data-type=\"" << html_escape(record_type_name(rec.type)) << "\"><td>"
      << time_html(wall_ns) << "</td><td>" << status_text(rec);
  if (rec.type != RecordType::gateway_error)
    out << " <span class=\"type\">" << html_escape(record_type_name(rec.type)) << "</span>";
  out << "</td><td>" << cause_html(cause) << "</td><td>" << html_escape(rec.client.empty() ? "-" : rec.client)
      << "</td><td>" << html_escape(upstream) << "</td><td><details><summary>"
      << (rec.evidence.empty() ? "(no evidence)" : html_escape(rec.evidence.front())) << "</summary>";
  if (rec.evidence.size() > 1) {
    out << "<ul class=\"evidence\">";
    for (size_t i = 1; i < rec.evidence.size(); ++i) out << "<li>" << html_escape(rec.evidence[i]) << "</li>";
    out << "</ul>";
  }
  if (!rec.attempts.empty()) {
    out << "<ol class=\"attempts\">";
    for (const Attempt& a : rec.attempts) {
      out << "<li>" << html_escape(a.upstream) << ' ' << cause_name(a.cause) << ' ' << a.status;
      if (a.ms >= 0) {
        char ms[32];
        snprintf(ms, sizeof(ms), " %.3f ms", a.ms);
        out << ms;
      }
      out << "</li>";
    }
    out << "</ol>";
  }
  if (!rec.nginx_error.empty()) out << "<p>nginx: " << html_escape(rec.nginx_error) << "</p>";
  if (!rec.request.empty()) out << "<p>request: " << html_escape(rec.request) << "</p>";
  out << "<p class=\"meta\">" << html_escape(record_type_name(rec.type)) << ", nginx worker " << rec.pid << ", seen by "
      << html_escape(rec.source == RecordSource::none ? "-" : record_source_name(rec.source)) << "</p></details></td></tr>\n";
}

void records_table(std::ostringstream& out, const Report& r) {
  out << "<h2>Records</h2>\n";
  if (r.records.empty()) {
    out << "<p>No records.</p>\n";
    return;
  }
  std::vector<size_t> order(r.records.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return r.records[a].ts_ns < r.records[b].ts_ns; });
  if (order.size() > kMaxTableRows) order.resize(kMaxTableRows);
  std::map<std::string, uint64_t> causes, upstreams, statuses;
  for (size_t i : order) {
    ++causes[std::string(cause_name(r.records[i].cause))];
    ++upstreams[upstream_label(r.records[i])];
    ++statuses[status_text(r.records[i])];
  }
  out << "<div class=\"controls\"><label>cause <select id=\"f-cause\">" << options(causes, "-")
      << "</select></label> <label>upstream <select id=\"f-upstream\">" << options(upstreams, "- (none)")
      << "</select></label> <label>status <select id=\"f-status\">" << options(statuses, "- (unknown)")
      << "</select></label> <label>text <input id=\"f-text\" type=\"search\" placeholder=\"evidence, client…\">"
      << "</label> <span class=\"count\"><span id=\"shown\">" << order.size() << "</span> of " << order.size()
      << " shown</span></div>\n";
  if (r.records.size() > kMaxTableRows)
    out << "<p class=\"note\" id=\"capped\">The first " << kMaxTableRows << " of " << r.records.size()
        << " records are listed (the page stays small): <code>why502 report --format json</code> has every one, "
        << "<code>--since</code> and <code>--until</code> narrow the window.</p>\n";
  out << "<table id=\"records\"><thead><tr><th>time (UTC)</th><th>status</th><th>cause</th><th>client</th>"
      << "<th>upstream</th><th>evidence (click for all)</th></tr></thead><tbody>\n";
  for (size_t i : order) record_row(out, r.records[i], r.clock.to_realtime_ns(r.records[i].ts_ns));
  out << "</tbody></table>\n";
}

void top_evidence(std::ostringstream& out, const Report& r) {
  if (r.top_evidence.empty()) return;
  out << "<h2>Top evidence</h2>\n<table id=\"top-evidence\"><thead><tr><th>count</th><th>evidence</th></tr></thead>"
      << "<tbody>\n";
  for (const auto& [line, n] : r.top_evidence)
    out << "<tr><td class=\"num\">" << n << "</td><td>" << html_escape(line) << "</td></tr>\n";
  out << "</tbody></table>\n";
}

}  // namespace

std::string report_html(const Report& r) {
  const ErrorSpans spans = report_page::gateway_error_spans(r);
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>why502: " << spans.all.count
      << " gateway errors";
  if (spans.all.count) out << " from " << format_rfc3339_us(spans.all.first_ns).substr(0, 19) << "Z";
  out << "</title>\n<style>" << report_page::kStyle << "</style></head>\n<body>\n"
      << "<p id=\"page-error\" class=\"page-error\" hidden></p>\n<h1>why502 report: gateway errors</h1>\n";
  headline(out, r, spans);
  out << "<h2>Timeline</h2>\n" << report_page::timeline_html(r, spans);
  cause_table(out, spans);
  upstream_table(out, r, spans);
  records_table(out, r);
  top_evidence(out, r);
  out << "<p class=\"footer\">Made by <code>why502 report --format html</code>: one file, it loads nothing. Times are "
      << "UTC; your browser's local time is shown next to them when scripts run.</p>\n<script>" << report_page::kScript
      << "</script>\n</body></html>\n";
  return out.str();
}

}  // namespace why502
