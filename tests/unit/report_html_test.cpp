// The html report: what the page holds (headline, timeline with its ticks
// and markers, the records table and its filters), its bounds, and that
// nothing from a record can become markup.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "output/html_escape.hpp"
#include "output/report.hpp"
#include "output/report_html_parts.hpp"

namespace why502::test {
namespace {

// 2023-11-14T22:13:20Z at monotonic 0.
constexpr int64_t kEpoch2023 = 1'700'000'000'000'000'000;

Record make(double at_s, Cause cause, const std::string& upstream, int status = 502,
            RecordType type = RecordType::gateway_error) {
  Record r;
  r.type = type;
  r.ts_ns = static_cast<uint64_t>(at_s * 1e9);
  r.pid = 77;
  r.status = status;
  r.cause = cause;
  r.client = "192.0.2.1:40000";
  r.upstream = upstream;
  r.evidence = {std::string(cause_name(cause)) + " on " + upstream, "nginx: something failed", "kernel: more"};
  r.attempts = {Attempt{upstream.empty() ? "x" : upstream, cause, status, 1.5}};
  r.source = RecordSource::uprobe;
  return r;
}

Report finish(std::vector<Record> records, double span_s = 60) {
  Report r;
  r.files = {"incident.w502"};
  r.clock = WallClock(kEpoch2023);
  r.first_ns = kEpoch2023;
  r.last_ns = kEpoch2023 + static_cast<int64_t>(span_s * 1e9);
  r.events = 1234;
  r.records = std::move(records);
  summarise(r);
  return r;
}

// An incident a minute long: a refused storm, some resets, a backend death,
// a full backlog, a no-live-upstreams period, a rate limit, a retry.
Report incident() {
  std::vector<Record> records;
  for (int i = 0; i < 30; ++i) records.push_back(make(5 + i, Cause::refused, "127.0.0.1:9000"));
  for (int i = 0; i < 10; ++i) records.push_back(make(20 + i * 2, Cause::reset, "127.0.0.1:9001"));
  records.push_back(make(12.2, Cause::backend_crashed, "unix:/run/app.sock"));
  records.push_back(make(40.1, Cause::backlog_full, "127.0.0.1:9002"));
  records.push_back(make(40.7, Cause::backlog_full, "127.0.0.1:9002"));
  for (int i = 0; i < 3; ++i) records.push_back(make(50 + i, Cause::no_live_upstreams, "backend", 502));
  Record limited = make(55, Cause::limited, "", 503);
  limited.evidence = {"nginx rejected the request: limit_req zone \"one\""};
  limited.attempts.clear();
  records.push_back(limited);
  records.push_back(make(56, Cause::refused, "127.0.0.1:9000", 200, RecordType::retried));
  return finish(std::move(records));
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

std::string between(const std::string& s, const std::string& from, const std::string& to) {
  const size_t a = s.find(from);
  if (a == std::string::npos) return "";
  const size_t b = s.find(to, a + from.size());
  return b == std::string::npos ? "" : s.substr(a + from.size(), b - a - from.size());
}

// Walks every tag of the page (skipping the inline style and script) and
// returns what is wrong: a tag or attribute the report does not write, an
// attribute that loads something, a '<' that is not a tag.
std::string foreign_markup(const std::string& page) {
  static const std::set<std::string> tags = {
      "html",  "head", "meta",   "title", "style",   "body",    "p",      "h1",     "h2",    "section", "dl",
      "dt",    "dd",   "strong", "b",     "code",    "span",    "time",   "svg",    "g",     "rect",    "line",
      "text",  "path", "circle", "div",   "button",  "label",   "select", "option", "input", "table",   "thead",
      "tbody", "tr",   "th",     "td",    "details", "summary", "ul",     "ol",     "li",    "script"};
  static const std::set<std::string> attributes = {"lang",
                                                   "charset",
                                                   "id",
                                                   "class",
                                                   "hidden",
                                                   "datetime",
                                                   "data-t",
                                                   "data-fmt",
                                                   "data-base",
                                                   "data-cause",
                                                   "data-upstream",
                                                   "data-status",
                                                   "data-type",
                                                   "style",
                                                   "width",
                                                   "height",
                                                   "viewbox",
                                                   "role",
                                                   "aria-label",
                                                   "aria-pressed",
                                                   "type",
                                                   "title",
                                                   "value",
                                                   "placeholder",
                                                   "x",
                                                   "y",
                                                   "x1",
                                                   "y1",
                                                   "x2",
                                                   "y2",
                                                   "cx",
                                                   "cy",
                                                   "r",
                                                   "d",
                                                   "fill",
                                                   "fill-opacity",
                                                   "stroke",
                                                   "stroke-dasharray",
                                                   "stroke-opacity",
                                                   "text-anchor"};
  std::string problems;
  size_t at = 0;
  while ((at = page.find('<', at)) != std::string::npos) {
    if (page.compare(at, 15, "<!DOCTYPE html>") == 0) {
      at += 15;
      continue;
    }
    size_t i = at + 1;
    if (i < page.size() && page[i] == '/') ++i;
    std::string name;
    while (i < page.size() && std::isalnum(static_cast<unsigned char>(page[i]))) name += page[i++];
    if (!tags.count(name)) {
      problems += "tag <" + name + "> at " + std::to_string(at) + ": " + page.substr(at, 60) + "\n";
      at = i;
      continue;
    }
    // Attributes: name, or name="value" (values never hold a quote: they are escaped).
    while (i < page.size() && page[i] != '>') {
      if (std::isspace(static_cast<unsigned char>(page[i])) || page[i] == '/') {
        ++i;
        continue;
      }
      std::string attribute;
      while (i < page.size() && page[i] != '=' && page[i] != '>' && !std::isspace(static_cast<unsigned char>(page[i])))
        attribute += static_cast<char>(std::tolower(static_cast<unsigned char>(page[i++])));
      if (!attributes.count(attribute)) problems += "attribute " + attribute + " in <" + name + ">\n";
      if (i < page.size() && page[i] == '=') {
        if (page[i + 1] != '"') {
          problems += "unquoted attribute " + attribute + "\n";
          break;
        }
        i = page.find('"', i + 2) + 1;
      }
    }
    at = i;
    if ((name == "script" || name == "style") && page[at - 2] != '/') {
      const size_t end = page.find("</" + name + ">", at);
      if (end == std::string::npos) return problems + "unclosed <" + name + ">\n";
      at = end + name.size() + 3;
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------

TEST(ReportHtml, HeadlineNamesTheWindowTotalsTopCauseAndUpstream) {
  const std::string page = report_html(incident());
  const std::string headline = between(page, "<section id=\"headline\">", "</section>");
  ASSERT_FALSE(headline.empty()) << page;
  // 30 refused + 10 reset + 1 crash + 2 backlog + 3 no-live + 1 limited = 47 gateway errors.
  EXPECT_NE(headline.find("<strong>47 gateway errors</strong> in 50.0 s"), std::string::npos) << headline;
  EXPECT_NE(headline.find("<strong>63.8 %</strong> refused"), std::string::npos) << headline;  // 30/47
  EXPECT_NE(headline.find("<strong>63.8 %</strong> on 127.0.0.1:9000"), std::string::npos) << headline;
  EXPECT_NE(headline.find("Incident window</dt><dd><time datetime=\"2023-11-14T22:13:25.000000Z\""), std::string::npos)
      << headline;
  EXPECT_NE(headline.find(">2023-11-14T22:14:15.000000Z</time> (50.0 s)"), std::string::npos) << headline;
  EXPECT_NE(headline.find("502: 46, 503: 1"), std::string::npos) << headline;
  EXPECT_NE(headline.find("1 retried"), std::string::npos) << headline;
  // The first and the last error, with their evidence; the last one had no upstream.
  EXPECT_NE(between(headline, "First error</dt>", "</dd>").find("refused</span> on 127.0.0.1:9000: refused on"),
            std::string::npos)
      << headline;
  EXPECT_NE(between(headline, "Last error</dt>", "</dd>").find("503 "), std::string::npos) << headline;
  EXPECT_NE(between(headline, "Last error</dt>", "</dd>").find("limited</span> (no upstream): nginx rejected"),
            std::string::npos)
      << headline;
  EXPECT_NE(page.find("<title>why502: 47 gateway errors from 2023-11-14T22:13:25Z</title>"), std::string::npos);
}

TEST(ReportHtml, NoErrorsSaysSo) {
  const std::string page = report_html(finish({}));
  EXPECT_NE(page.find("No gateway errors in this recording."), std::string::npos) << page;
  EXPECT_NE(page.find(">no gateway errors</text>"), std::string::npos);
  EXPECT_NE(page.find("<p>No records.</p>"), std::string::npos);
  EXPECT_EQ(foreign_markup(page), "");
}

TEST(ReportHtml, TimelineHasTimeAndValueTicksAndABarPerCausePerSecond) {
  const std::string page = report_html(incident());
  const std::string svg = between(page, "<svg id=\"timeline\"", "</svg>");
  ASSERT_FALSE(svg.empty());
  // 22:13:25 to 22:14:15 with 5 % margins: 22:13:22 … 22:14:19, ticks every 10 s.
  for (const char* tick :
       {">22:13:30</text>", ">22:13:40</text>", ">22:13:50</text>", ">22:14:00</text>", ">22:14:10</text>"})
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  EXPECT_EQ(count(svg, "class=\"utc\""), count(svg, "class=\"local\" data-t="));
  EXPECT_NE(svg.find("class=\"local\" data-t=\"1700000010000\" data-fmt=\"s\""), std::string::npos) << svg;
  // The peak second has two errors (a refused and a reset): value ticks 0, 1, 2.
  for (const char* tick :
       {"text-anchor=\"end\">0</text>", "text-anchor=\"end\">1</text>", "text-anchor=\"end\">2</text>"})
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  EXPECT_EQ(svg.find("text-anchor=\"end\">3</text>"), std::string::npos);
  EXPECT_NE(svg.find(">errors per second</text>"), std::string::npos);
  // One rect per (second, cause) with its count on hover; the retried record is not a bar.
  EXPECT_EQ(count(svg, "<rect data-cause=\"refused\""), 30u);
  EXPECT_EQ(count(svg, "<rect data-cause=\"reset\""), 10u);
  EXPECT_NE(svg.find("<title>22:13:25 UTC: 1 refused (1 in all)</title>"), std::string::npos) << svg;
  EXPECT_NE(svg.find("<title>22:13:40 UTC: 1 reset (2 in all)</title>"), std::string::npos) << svg;
  // The legend: one toggle per cause with its colour and count.
  const std::string legend = between(page, "<div class=\"legend\" id=\"legend\">", "</div>");
  EXPECT_EQ(count(legend, "<button type=\"button\" data-cause="), 6u) << legend;
  EXPECT_NE(legend.find("data-cause=\"refused\" aria-pressed=\"true\""), std::string::npos);
  EXPECT_NE(legend.find("background:#d62728\"></span>refused 30</button>"), std::string::npos) << legend;
}

TEST(ReportHtml, DeathsFullQueuesAndUpstreamChangesAreMarked) {
  const std::string page = report_html(incident());
  const std::string svg = between(page, "<svg id=\"timeline\"", "</svg>");
  EXPECT_EQ(count(svg, "<g class=\"marker death\""), 1u);
  EXPECT_NE(svg.find("backend died (backend_crashed), 22:13:32 UTC: 1 error on unix:/run/app.sock"), std::string::npos)
      << svg;
  // Two backlog_full errors in one second: one mark that counts both.
  EXPECT_EQ(count(svg, "<g class=\"marker queue\""), 1u);
  EXPECT_NE(svg.find("queue full (backlog_full), 22:14:00 UTC: 2 errors on 127.0.0.1:9002"), std::string::npos);
  // no_live_upstreams at 50, 51, 52 s: one period, begin and end.
  EXPECT_EQ(count(svg, "<g class=\"period\">"), 1u);
  EXPECT_NE(svg.find("no live upstreams in backend: from 2023-11-14 22:14:10 UTC to 2023-11-14 22:14:12 UTC, 3 errors"),
            std::string::npos)
      << svg;
  // A lane per upstream, the most failing first, with its first and last error.
  EXPECT_EQ(count(svg, "<g class=\"lane\">"), 5u);
  EXPECT_LT(svg.find("<title>127.0.0.1:9000: 30 errors, first 2023-11-14 22:13:25 UTC, last 2023-11-14 22:13:54 UTC"),
            svg.find("<title>127.0.0.1:9001: 10 errors"));
  EXPECT_EQ(svg.find("<title>-:"), std::string::npos) << "no lane for records without an upstream";
  EXPECT_EQ(count(svg, "<circle class=\"first\""), 5u);
  EXPECT_EQ(count(svg, "<circle class=\"last\""), 5u);
  // The key explains each kind of mark present.
  for (const char* key : {"a backend died", "a queue was full", "no live upstream", "lanes: each upstream"})
    EXPECT_NE(page.find(key), std::string::npos) << key;
}

TEST(ReportHtml, RecordsTableHasEveryRecordFilterControlsAndFullEvidence) {
  const Report r = incident();
  const std::string page = report_html(r);
  const std::string table = between(page, "<table id=\"records\">", "</table>");
  ASSERT_FALSE(table.empty());
  EXPECT_EQ(count(table, "<tr class=\"rec\""), r.records.size());
  EXPECT_EQ(count(table, "<details><summary>"), r.records.size());
  EXPECT_NE(page.find("<span id=\"shown\">48</span> of 48 shown"), std::string::npos);
  EXPECT_EQ(page.find("id=\"capped\""), std::string::npos);
  // Time order: the first row is the first refused (5 s), a row has its whole story.
  const std::string first_row = between(table, "<tbody>\n", "</tr>");
  EXPECT_NE(
      first_row.find("<tr class=\"rec\" data-cause=\"refused\" data-upstream=\"127.0.0.1:9000\" data-status=\"502\" "
                     "data-type=\"gateway_error\"><td><time datetime=\"2023-11-14T22:13:25.000000Z\" "
                     "data-t=\"1700000005000\">2023-11-14T22:13:25.000000Z</time></td><td>502</td>"),
      std::string::npos)
      << first_row;
  EXPECT_NE(first_row.find("<td>192.0.2.1:40000</td><td>127.0.0.1:9000</td>"), std::string::npos) << first_row;
  EXPECT_NE(first_row.find("<summary>refused on 127.0.0.1:9000</summary><ul class=\"evidence\"><li>nginx: something "
                           "failed</li><li>kernel: more</li></ul><ol class=\"attempts\"><li>127.0.0.1:9000 refused "
                           "502 1.500 ms</li></ol>"),
            std::string::npos)
      << first_row;
  // No upstream is "-", a retried record is marked as such.
  EXPECT_NE(table.find("data-cause=\"limited\" data-upstream=\"-\" data-status=\"503\""), std::string::npos);
  EXPECT_NE(table.find("<td>200 <span class=\"type\">retried</span></td>"), std::string::npos);
  // The filters offer what the rows hold, with counts.
  EXPECT_NE(
      between(page, "<select id=\"f-cause\">", "</select>").find("<option value=\"refused\">refused (31)</option>"),
      std::string::npos);
  EXPECT_NE(between(page, "<select id=\"f-upstream\">", "</select>").find("<option value=\"-\">- (none) (1)</option>"),
            std::string::npos);
  EXPECT_NE(between(page, "<select id=\"f-status\">", "</select>").find("<option value=\"200\">200 (1)</option>"),
            std::string::npos);
  EXPECT_NE(page.find("<input id=\"f-text\" type=\"search\""), std::string::npos);
  // Summaries by cause and by upstream, with shares of the 47 errors.
  EXPECT_NE(between(page, "<table id=\"by-cause\">", "</table>")
                .find("refused</span></td><td class=\"num\">30</td><td "
                      "class=\"num\">63.8 %</td>"),
            std::string::npos);
  EXPECT_NE(between(page, "<table id=\"by-upstream\">", "</table>").find("<tr><td>-</td><td class=\"num\">1</td>"),
            std::string::npos);
}

TEST(ReportHtml, BigRecordingsStayBounded) {
  // A day of errors, one every 20 s: 4320 records.
  std::vector<Record> records;
  for (int i = 0; i < 4320; ++i)
    records.push_back(make(i * 20.0, i % 7 ? Cause::refused : Cause::reset, "10.0.0.1:80"));
  const Report r = finish(std::move(records), 86400);
  const std::string page = report_html(r);
  EXPECT_EQ(count(page, "<tr class=\"rec\""), 2000u);
  EXPECT_NE(page.find("The first 2000 of 4320 records are listed"), std::string::npos);
  // 24 h in at most 480 bars: 5-minute buckets (288), hourly-ish ticks with dates.
  EXPECT_EQ(count(page, "<g class=\"bucket\""), 289u);  // the margins add a bucket
  EXPECT_NE(page.find(">errors per 5 min</text>"), std::string::npos);
  EXPECT_NE(page.find("Each bar is 5 min: the timeline has at most 480 bars."), std::string::npos);
  EXPECT_NE(page.find(">11-15 00:00</text>"), std::string::npos);
  EXPECT_LT(page.size(), 3'000'000u);
}

TEST(ReportHtml, LoadsNothingAndTheScriptHoldsNoData) {
  const std::string page = report_html(incident());
  for (const char* loads : {"src=", "href=", "@import", "url(", "http:", "https:", "<link", "<iframe", "<img"})
    EXPECT_EQ(page.find(loads), std::string::npos) << loads;
  EXPECT_EQ(count(page, "<script"), 1u);
  EXPECT_EQ(between(page, "<script>", "</script>"), report_page::kScript);
  EXPECT_EQ(between(page, "<style>", "</style>"), report_page::kStyle);
  EXPECT_EQ(foreign_markup(page), "");
}

TEST(ReportHtml, HostileStringsFromRecordsStayText) {
  const std::string script = "<script>alert(1)</script>", img = "\"'><img src=x onerror=alert(2)>";
  std::vector<Record> records;
  Record a = make(5, Cause::refused, script);
  a.client = img;
  a.evidence = {img, script, "x\" onmouseover=\"alert(3)"};
  a.attempts = {Attempt{script, Cause::refused, 502, 1}};
  a.nginx_error = img;
  a.request = "GET /" + script + " HTTP/1.1";
  Record b = make(6, Cause::backend_crashed, img);
  b.evidence = {script};
  Record c = make(7, Cause::no_live_upstreams, script);
  records = {a, b, c};
  Report r = finish(std::move(records));
  r.files = {img};
  r.cut_off = true;
  r.cut_off_note = script;
  const std::string page = report_html(r);
  EXPECT_EQ(foreign_markup(page), "");
  EXPECT_EQ(count(page, "<script"), 1u);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("\" onmouseover"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find("&quot;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;"), std::string::npos);
  // In attributes too: the filter's value and the row's data-upstream.
  EXPECT_NE(page.find("data-upstream=\"&lt;script&gt;alert(1)&lt;/script&gt;\""), std::string::npos);
  EXPECT_NE(page.find("<option value=\"&quot;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;\">"), std::string::npos);
}

TEST(HtmlEscape, EntitiesForMarkupAndVisibleBytesForWhatIsNotText) {
  EXPECT_EQ(html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(html_escape("café ✓ 𝄞"), "café ✓ 𝄞");  // valid UTF-8 passes
  EXPECT_EQ(html_escape(std::string("nul\0bell\x07\x7f", 10)), "nul\\x00bell\\x07\\x7f");
  EXPECT_EQ(html_escape("\xff\xfe ok"), "\\xff\\xfe ok");
  EXPECT_EQ(html_escape("\xc3"), "\\xc3");                             // truncated sequence
  EXPECT_EQ(html_escape("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(html_escape("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a surrogate
  EXPECT_EQ(html_escape("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(html_escape("\xe2\x9c<"), "\\xe2\\x9c&lt;");               // a cut sequence never swallows markup
}

}  // namespace
}  // namespace why502::test
