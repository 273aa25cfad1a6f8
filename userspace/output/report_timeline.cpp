// The report's timeline: stacked bars of gateway errors by cause over real
// time ticks (UTC drawn here, local filled in by the page's script), with the
// moments a postmortem looks for marked on it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <set>
#include <sstream>
#include <vector>

#include "output/html_escape.hpp"
#include "output/report_html_parts.hpp"

namespace why502::report_page {
namespace {

constexpr int kWidth = 960, kLeft = 56, kRight = 16;
constexpr int kMarkerRow = 6;  // triangles and diamonds sit above the plot
constexpr int kPlotTop = 28, kPlotHeight = 200, kPlotBottom = kPlotTop + kPlotHeight;
constexpr int kUtcRow = kPlotBottom + 14, kLocalRow = kPlotBottom + 28;
constexpr int kLanesTop = kPlotBottom + 40, kLaneHeight = 22;
constexpr size_t kMaxLanes = 8;
constexpr int64_t kMaxBuckets = 480;  // bars at least ~1.8 px wide; bounds the page
constexpr size_t kMaxPeriods = 100;   // no-live-upstreams shadings
constexpr int64_t kNs = 1'000'000'000;

// Round steps for buckets and ticks, in seconds.
constexpr int64_t kSteps[] = {1,    2,    5,    10,    15,    30,    60,    120,    300,    600,    900,
                              1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000};

// The smallest round step that cuts span_s into at most at_most pieces,
// counting the one a start off the step's grid adds.
int64_t round_step(int64_t span_s, int64_t at_most) {
  for (int64_t step : kSteps)
    if ((span_s + step - 1) / step + 1 <= at_most) return step;
  return span_s / (at_most - 1) + 1;
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

std::string px(double v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

std::string utc(int64_t seconds, const char* format) {
  const time_t t = static_cast<time_t>(seconds);
  tm parts{};
  gmtime_r(&t, &parts);
  char buf[48];
  strftime(buf, sizeof(buf), format, &parts);
  return buf;
}

std::string utc_time(int64_t wall_ns) { return utc(floor_div(wall_ns, kNs), "%Y-%m-%d %H:%M:%S UTC"); }

std::string span_text(int64_t seconds) {
  if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + " h";
  if (seconds % 60 == 0) return std::to_string(seconds / 60) + " min";
  return std::to_string(seconds) + " s";
}

// Whole seconds [start, end) on the x axis, cut in buckets of bucket_s.
struct Axis {
  int64_t start_s = 0, end_s = 10, bucket_s = 1;
  double x_s(double wall_s) const {
    return kLeft +
           (wall_s - static_cast<double>(start_s)) * (kWidth - kLeft - kRight) / static_cast<double>(end_s - start_s);
  }
  double x(int64_t wall_ns) const { return x_s(static_cast<double>(wall_ns) / 1e9); }
  int64_t bucket_of(int64_t wall_ns) const { return floor_div(floor_div(wall_ns, kNs), bucket_s) * bucket_s; }
  double bar_width() const { return x_s(static_cast<double>(start_s + bucket_s)) - x_s(static_cast<double>(start_s)); }
};

// Centred on the records (all types), a little margin either side, at least
// ten seconds wide: the incident, not hours of quiet recording around it.
Axis axis_for(const Report& r) {
  std::optional<int64_t> lo, hi;
  for (const Record& rec : r.records) {
    const int64_t wall = r.clock.to_realtime_ns(rec.ts_ns);
    if (!lo || wall < *lo) lo = wall;
    if (!hi || wall > *hi) hi = wall;
  }
  if (!lo) {
    lo = r.first_ns;
    hi = r.last_ns;
  }
  Axis a;
  if (!lo) return a;
  const double lo_s = static_cast<double>(*lo) / 1e9, hi_s = static_cast<double>(*hi) / 1e9;
  const double pad = std::max(1.0, (hi_s - lo_s) * 0.05);
  a.start_s = static_cast<int64_t>(std::floor(lo_s - pad));
  a.end_s = static_cast<int64_t>(std::floor(hi_s + pad)) + 1;
  if (a.end_s - a.start_s < 10) {
    a.start_s -= (10 - (a.end_s - a.start_s)) / 2;
    a.end_s = a.start_s + 10;
  }
  a.bucket_s = round_step(a.end_s - a.start_s, kMaxBuckets);
  a.start_s = floor_div(a.start_s, a.bucket_s) * a.bucket_s;
  a.end_s = floor_div(a.end_s + a.bucket_s - 1, a.bucket_s) * a.bucket_s;
  return a;
}

// A vertical scale with round ticks: 0, step, 2·step … up to top ≥ peak.
struct Scale {
  uint64_t step = 1, top = 1;
  double y(double n) const { return kPlotBottom - n * kPlotHeight / static_cast<double>(top); }
};

Scale scale_for(uint64_t peak) {
  Scale s;
  for (uint64_t magnitude = 1;; magnitude *= 10) {
    for (uint64_t m : {1, 2, 5})
      if ((peak + m * magnitude - 1) / (m * magnitude) <= 5) {
        s.step = m * magnitude;
        s.top = std::max<uint64_t>(1, (peak + s.step - 1) / s.step) * s.step;
        return s;
      }
  }
}

void axes(std::ostringstream& out, const Axis& a, const Scale& s) {
  const int64_t span = a.end_s - a.start_s;
  const int64_t tick = round_step(span, 8);
  // Labels: seconds for short ticks, the date once ticks are a day or the view spans days.
  const char* format = span > 86400 || tick >= 86400 ? "%m-%d %H:%M" : tick < 60 ? "%H:%M:%S" : "%H:%M";
  const char* local_format = span > 86400 || tick >= 86400 ? "d" : tick < 60 ? "s" : "m";
  out << "<g class=\"axes\">\n";
  for (uint64_t v = 0; v <= s.top; v += s.step) {
    const std::string y = px(s.y(static_cast<double>(v)));
    out << "<line x1=\"" << kLeft << "\" y1=\"" << y << "\" x2=\"" << kWidth - kRight << "\" y2=\"" << y
        << "\" stroke=\"" << (v ? "#e6e6e6" : "#444") << "\"/><text x=\"" << kLeft - 6 << "\" y=\"" << px(s.y(v) + 4)
        << "\" text-anchor=\"end\">" << v << "</text>\n";
  }
  for (int64_t t = floor_div(a.start_s + tick - 1, tick) * tick; t <= a.end_s; t += tick) {
    // A label that would run into the captions on the left or off the right is left out.
    const double half_label = 3.3 * static_cast<double>(utc(t, format).size());
    if (a.x_s(static_cast<double>(t)) - half_label < kLeft - 6 || a.x_s(static_cast<double>(t)) + half_label > kWidth)
      continue;
    const std::string x = px(a.x_s(static_cast<double>(t)));
    out << "<line x1=\"" << x << "\" y1=\"" << kPlotBottom << "\" x2=\"" << x << "\" y2=\"" << kPlotBottom + 4
        << "\" stroke=\"#444\"/><text class=\"utc\" x=\"" << x << "\" y=\"" << kUtcRow << "\" text-anchor=\"middle\">"
        << utc(t, format) << "</text><text class=\"local\" data-t=\"" << t * 1000 << "\" data-fmt=\"" << local_format
        << "\" x=\"" << x << "\" y=\"" << kLocalRow << "\" text-anchor=\"middle\"></text>\n";
  }
  out << "<text x=\"4\" y=\"" << kUtcRow << "\">UTC</text><text id=\"local-caption\" x=\"4\" y=\"" << kLocalRow
      << "\">local</text>\n<text x=\"4\" y=\"" << kPlotTop - 10 << "\">errors per "
      << (a.bucket_s == 1 ? "second" : span_text(a.bucket_s)) << "</text>\n</g>\n";
}

void bars(std::ostringstream& out, const std::map<int64_t, std::map<std::string, uint64_t>>& buckets, const Axis& a,
          const Scale& s) {
  const double width = std::max(a.bar_width() - (a.bar_width() > 4 ? 1 : 0), 1.0);
  out << "<g class=\"bars\">\n";
  for (const auto& [start, causes] : buckets) {
    uint64_t total = 0;
    for (const auto& [cause, n] : causes) total += n;
    const std::string when = a.bucket_s == 1 ? utc(start, "%H:%M:%S UTC")
                                             : utc(start, "%H:%M:%S") + "–" + utc(start + a.bucket_s, "%H:%M:%S UTC");
    // data-base: where the stack starts, so the script can re-stack when a cause is hidden.
    out << "<g class=\"bucket\" data-base=\"" << kPlotBottom << "\">";
    double y = kPlotBottom;
    for (const auto& [cause, n] : causes) {
      const double h = kPlotBottom - s.y(static_cast<double>(n));
      y -= h;
      out << "<rect data-cause=\"" << html_escape(cause) << "\" x=\"" << px(a.x_s(static_cast<double>(start)))
          << "\" y=\"" << px(y) << "\" width=\"" << px(width) << "\" height=\"" << px(h) << "\" fill=\""
          << cause_colour(cause) << "\"><title>" << when << ": " << n << ' ' << html_escape(cause) << " (" << total
          << " in all)</title></rect>";
    }
    out << "</g>\n";
  }
  out << "</g>\n";
}

// Backend deaths and full queues, one mark per bucket and cause: a line
// through the plot and a symbol above it. Retried records count too: a
// backend that died is worth seeing even when nginx recovered.
void event_markers(std::ostringstream& out, const Report& r, const Axis& a) {
  struct Mark {
    uint64_t count = 0;
    std::set<std::string> upstreams;
    std::string evidence;
  };
  std::map<std::pair<std::string, int64_t>, Mark> marks;
  for (const Record& rec : r.records) {
    if (rec.cause != Cause::backend_crashed && rec.cause != Cause::backlog_full && rec.cause != Cause::fd_exhausted)
      continue;
    Mark& m = marks[{std::string(cause_name(rec.cause)), a.bucket_of(r.clock.to_realtime_ns(rec.ts_ns))}];
    ++m.count;
    if (m.upstreams.size() < 5) m.upstreams.insert(upstream_label(rec));
    if (m.evidence.empty() && !rec.evidence.empty()) m.evidence = rec.evidence.front();
  }
  out << "<g class=\"markers\">\n";
  for (const auto& [key, m] : marks) {
    const auto& [cause, start] = key;
    const bool death = cause == "backend_crashed";
    const double x = a.x_s(static_cast<double>(start) + static_cast<double>(a.bucket_s) / 2);
    std::string upstreams;
    for (const std::string& u : m.upstreams) upstreams += (upstreams.empty() ? "" : ", ") + u;
    out << "<g class=\"marker " << (death ? "death" : "queue") << "\" data-cause=\"" << cause << "\"><title>"
        << (death ? "backend died" : "queue full") << " (" << cause << "), " << utc(start, "%H:%M:%S UTC") << ": "
        << m.count << " error" << (m.count == 1 ? "" : "s") << " on " << html_escape(upstreams) << " — "
        << html_escape(m.evidence) << "</title><line x1=\"" << px(x) << "\" y1=\"" << kPlotTop << "\" x2=\"" << px(x)
        << "\" y2=\"" << kPlotBottom << "\" stroke=\"" << cause_colour(cause)
        << "\" stroke-dasharray=\"3,3\" stroke-opacity=\"0.7\"/>";
    if (death)
      out << "<path d=\"M" << px(x - 6) << ',' << kMarkerRow << "h12l-6,12z\" fill=\"#000\"/>";
    else
      out << "<path d=\"M" << px(x) << ',' << kMarkerRow << "l6,6l-6,6l-6,-6z\" fill=\"" << cause_colour(cause)
          << "\"/>";
    out << "</g>\n";
  }
  out << "</g>\n";
}

// Periods when nginx had no live upstream in a group: errors of
// no_live_upstreams close together (within two buckets or 10 s) make one.
void no_live_periods(std::ostringstream& out, const Report& r, const Axis& a) {
  std::map<std::string, std::vector<int64_t>> times;
  for (const Record& rec : r.records)
    if (rec.type == RecordType::gateway_error && rec.cause == Cause::no_live_upstreams)
      times[upstream_label(rec)].push_back(r.clock.to_realtime_ns(rec.ts_ns));
  const int64_t gap = std::max<int64_t>(2 * a.bucket_s, 10) * kNs;
  size_t drawn = 0;
  out << "<g class=\"no-live\">\n";
  for (auto& [group, ts] : times) {
    std::sort(ts.begin(), ts.end());
    for (size_t i = 0; i < ts.size() && drawn < kMaxPeriods;) {
      size_t j = i;
      while (j + 1 < ts.size() && ts[j + 1] - ts[j] <= gap) ++j;
      const double x1 = a.x(ts[i]), x2 = std::max(a.x(ts[j]), x1 + 3);
      out << "<g class=\"period\"><title>no live upstreams in " << html_escape(group) << ": from " << utc_time(ts[i])
          << " to " << utc_time(ts[j]) << ", " << j - i + 1 << " errors</title><rect x=\"" << px(x1) << "\" y=\""
          << kPlotTop << "\" width=\"" << px(x2 - x1) << "\" height=\"" << kPlotHeight << "\" fill=\""
          << cause_colour("no_live_upstreams") << "\" fill-opacity=\"0.15\"/><rect x=\"" << px(x1) << "\" y=\""
          << kMarkerRow + 4 << "\" width=\"" << px(x2 - x1) << "\" height=\"4\" fill=\""
          << cause_colour("no_live_upstreams") << "\"/></g>\n";
      ++drawn;
      i = j + 1;
    }
  }
  out << "</g>\n";
}

// One lane per upstream (the most failing first): a tick in each bucket it
// failed in, from its first error to its last.
size_t upstream_lanes(std::ostringstream& out, const Report& r, const ErrorSpans& spans, const Axis& a) {
  std::vector<std::pair<std::string, const Occurrences*>> upstreams;
  for (const auto& [u, occ] : spans.by_upstream)
    if (u != "-") upstreams.emplace_back(u, &occ);
  std::stable_sort(upstreams.begin(), upstreams.end(),
                   [](const auto& x, const auto& y) { return x.second->count > y.second->count; });
  const size_t lanes = std::min(upstreams.size(), kMaxLanes);
  std::map<std::string, std::set<int64_t>> failing;
  for (size_t i = 0; i < lanes; ++i) failing[upstreams[i].first];
  for (const Record& rec : r.records)
    if (rec.type == RecordType::gateway_error)
      if (auto it = failing.find(upstream_label(rec)); it != failing.end())
        it->second.insert(a.bucket_of(r.clock.to_realtime_ns(rec.ts_ns)));
  out << "<g class=\"lanes\">\n";
  for (size_t i = 0; i < lanes; ++i) {
    const auto& [u, occ] = upstreams[i];
    const int top = kLanesTop + static_cast<int>(i) * kLaneHeight, mid = top + 15;
    const double x1 = a.x(occ->first_ns), x2 = a.x(occ->last_ns);
    out << "<g class=\"lane\"><title>" << html_escape(u) << ": " << occ->count << " errors, first "
        << utc_time(occ->first_ns) << ", last " << utc_time(occ->last_ns) << "</title><text x=\"" << kLeft << "\" y=\""
        << top + 8 << "\">" << html_escape(u) << " — " << occ->count << (occ->count == 1 ? " error" : " errors")
        << "</text><line x1=\"" << px(x1) << "\" y1=\"" << mid << "\" x2=\"" << px(x2) << "\" y2=\"" << mid
        << "\" stroke=\"#888\"/>";
    for (int64_t start : failing[u])
      out << "<rect x=\"" << px(a.x_s(static_cast<double>(start))) << "\" y=\"" << mid - 3 << "\" width=\""
          << px(std::max(a.bar_width(), 1.0)) << "\" height=\"6\" fill=\"#555\"/>";
    out << "<circle class=\"first\" cx=\"" << px(x1) << "\" cy=\"" << mid
        << "\" r=\"4\" fill=\"#fff\" stroke=\"#000\"/>"
        << "<circle class=\"last\" cx=\"" << px(x2) << "\" cy=\"" << mid << "\" r=\"4\" fill=\"#000\"/></g>\n";
  }
  if (upstreams.size() > lanes)
    out << "<text x=\"" << kLeft << "\" y=\"" << kLanesTop + static_cast<int>(lanes) * kLaneHeight + 10 << "\">+"
        << upstreams.size() - lanes << " more upstreams (see the table below)</text>\n";
  out << "</g>\n";
  return lanes + (upstreams.size() > lanes ? 1 : 0);
}

std::string legend(const Report& r, const std::string& svg) {
  std::ostringstream out;
  out << "<div class=\"legend\" id=\"legend\">";
  for (const auto& [cause, n] : r.by_cause)
    out << "<button type=\"button\" data-cause=\"" << html_escape(cause) << "\" aria-pressed=\"true\" title=\"show or "
        << "hide " << html_escape(cause) << "\"><span class=\"sw\" style=\"background:" << cause_colour(cause)
        << "\"></span>" << html_escape(cause) << " " << n << "</button>";
  out << "</div>\n<p class=\"key\">";
  if (svg.find("class=\"marker death\"") != std::string::npos)
    out << "<span><b class=\"k-death\">▼</b> a backend died (backend_crashed)</span>";
  if (svg.find("class=\"marker queue\"") != std::string::npos)
    out << "<span><b class=\"k-queue\">◆</b> a queue was full (backlog_full, fd_exhausted)</span>";
  if (svg.find("class=\"period\"") != std::string::npos)
    out << "<span><b class=\"k-nolive\">▬</b> nginx had no live upstream (no_live_upstreams)</span>";
  if (svg.find("class=\"lane\"") != std::string::npos)
    out << "<span>lanes: each upstream's errors from its first <b>○</b> to its last <b>●</b></span>";
  out << "<span>Hover a bar for its count; click a cause to hide or show it.</span></p>\n";
  return out.str();
}

}  // namespace

std::string timeline_html(const Report& r, const ErrorSpans& spans) {
  const Axis a = axis_for(r);
  std::map<int64_t, std::map<std::string, uint64_t>> buckets;
  uint64_t peak = 0;
  for (const auto& [second, causes] : r.per_second)
    for (const auto& [cause, n] : causes) buckets[floor_div(second, a.bucket_s) * a.bucket_s][cause] += n;
  for (const auto& [start, causes] : buckets) {
    uint64_t total = 0;
    for (const auto& [cause, n] : causes) total += n;
    peak = std::max(peak, total);
  }
  const Scale s = scale_for(peak);

  std::ostringstream body;
  no_live_periods(body, r, a);
  axes(body, a, s);
  bars(body, buckets, a, s);
  event_markers(body, r, a);
  if (buckets.empty())
    body << "<text x=\"" << (kWidth / 2) << "\" y=\"" << kPlotTop + kPlotHeight / 2
         << "\" text-anchor=\"middle\">no gateway errors</text>\n";
  const size_t lanes = upstream_lanes(body, r, spans, a);
  const int height = lanes ? kLanesTop + static_cast<int>(lanes) * kLaneHeight + 4 : kLocalRow + 8;
  const std::string svg = body.str();

  std::ostringstream out;
  out << "<svg id=\"timeline\" width=\"" << kWidth << "\" height=\"" << height << "\" viewBox=\"0 0 " << kWidth << ' '
      << height << "\" role=\"img\" aria-label=\"gateway errors per " << span_text(a.bucket_s) << " by cause\">\n"
      << svg << "</svg>\n";
  out << legend(r, svg);
  if (a.bucket_s > 1)
    out << "<p class=\"note\">Each bar is " << span_text(a.bucket_s) << ": the timeline has at most " << kMaxBuckets
        << " bars.</p>\n";
  return out.str();
}

}  // namespace why502::report_page
