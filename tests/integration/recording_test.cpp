// Postmortems: record real traffic, then report it — the engine runs again
// over the recorded events and must find what nginx's access log says.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

#include "headless_browser.hpp"
#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using Recordings = RootTest;

struct Outcome {
  int status;
  std::string output;
};

Outcome report(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {WHY502_BINARY, "report"};
  argv.insert(argv.end(), args.begin(), args.end());
  Outcome o{};
  o.output = run_command(argv, &o.status);
  return o;
}

// The JSON document in o.output (stderr warnings may follow it).
nlohmann::json json_of(const Outcome& o) {
  const size_t start = o.output.find('{');
  if (start == std::string::npos) {
    ADD_FAILURE() << "no JSON in: " << o.output;
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(o.output.substr(start, o.output.rfind('}') + 1 - start));
}

TEST_F(Recordings, RecordThenReportFindsEveryError) {
  Scenario s;
  const std::string reset = s.start_backend("reset");
  const std::string says502 = s.start_backend("status502");
  const std::string ok = s.start_backend("ok");
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/reset", "http://" + reset) +
                proxy("/says502", "http://" + says502) + proxy("/refused", "http://" + refused) +
                proxy("/ok", "http://" + ok) + "  }\n");
  const std::string path = s.dir() + "/incident.w502";
  s.start_recorder(path);
  const std::string base = "http://127.0.0.1:{PORT}";
  s.curl({base + "/refused", base + "/ok", base + "/reset", base + "/says502", base + "/refused", base + "/ok"});
  s.stop_recorder();

  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Outcome json = report({path, "--format", "json"});
  ASSERT_EQ(json.status, 0) << json.output;
  const nlohmann::json doc = json_of(json);
  std::vector<nlohmann::json> records(doc["records"].begin(), doc["records"].end());
  EXPECT_EQ(match_records(s.access_log(), records,
                          Causes{{refused, "refused"}, {reset, "reset"}, {says502, "upstream_status"}}),
            "")
      << json.output;
  EXPECT_EQ(doc["by_cause"]["refused"], 2);
  EXPECT_EQ(doc["cut_off"], false);

  Outcome text = report({path});
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("gateway errors: 4"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("refused"), std::string::npos) << text.output;

  // A window that ends before the first error keeps none.
  Outcome none = report({path, "--format", "json", "--until", "2000-01-01T00:00:00Z"});
  ASSERT_EQ(none.status, 0) << none.output;
  EXPECT_TRUE(json_of(none)["records"].empty());

  // Cut off mid-block (as by a power loss): what came before is reported.
  std::vector<char> bytes(std::filesystem::file_size(path));
  std::ifstream(path, std::ios::binary).read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const std::string cut = s.dir() + "/cut.w502";
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 7));
  Outcome partial = report({cut, "--format", "json"});
  ASSERT_EQ(partial.status, 0) << partial.output;
  EXPECT_EQ(json_of(partial)["cut_off"], true);
  // What was reported live is what the recorded events give again.
  Outcome verify = report({path, "--verify"});
  EXPECT_EQ(verify.status, 0) << verify.output;
  EXPECT_NE(verify.output.find("the same\n"), std::string::npos) << verify.output;
  EXPECT_NE(partial.output.find("cut off at offset"), std::string::npos) << partial.output;

  // A flipped byte inside a block: skipped with a warning naming the offset;
  // with --strict, one clear line naming the offset, exit 2.
  const std::string corrupt = s.dir() + "/corrupt.w502";
  bytes[bytes.size() - 20] ^= 0x5a;
  std::ofstream(corrupt, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  Outcome skipped = report({corrupt, "--format", "json"});
  ASSERT_EQ(skipped.status, 0) << skipped.output;
  EXPECT_GT(json_of(skipped)["skipped_bytes"].get<uint64_t>(), 0u) << skipped.output;
  EXPECT_NE(skipped.output.find("why502: warning: " + corrupt + ": skipped "), std::string::npos) << skipped.output;
  Outcome bad = report({corrupt, "--strict"});
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_NE(bad.output.find("offset"), std::string::npos) << bad.output;
  EXPECT_EQ(std::count(bad.output.begin(), bad.output.end(), '\n'), 1) << bad.output;

  // Not a recording at all.
  Outcome random = report({s.dir() + "/nginx.conf"});
  EXPECT_EQ(random.status, 2) << random.output;
  EXPECT_NE(random.output.find("not a why502 recording"), std::string::npos) << random.output;
}

// Rows of the records table the page's script left visible.
size_t visible_rows(const std::string& dom) {
  size_t n = 0;
  for (size_t at = dom.find("<tr class=\"rec\""); at != std::string::npos; at = dom.find("<tr class=\"rec\"", at + 1))
    if (dom.substr(at, dom.find('>', at) - at).find(" hidden") == std::string::npos) ++n;
  return n;
}

// Whether every bar of the timeline stands on the axis or on the bar below
// it, counting only the ones drawn: what a reader sees once a cause is hidden.
std::string stacks_without_gaps(const std::string& dom) {
  const std::regex bucket("<g class=\"bucket\" data-base=\"([0-9.]+)\">(.*?)</g>");
  const std::regex bar("<rect data-cause=\"([a-z_]+)\"[^>]*? y=\"([0-9.]+)\"[^>]*? height=\"([0-9.]+)\"([^>]*)>");
  std::string problems;
  size_t buckets = 0;
  for (std::sregex_iterator b(dom.begin(), dom.end(), bucket), end; b != end; ++b, ++buckets) {
    double top = std::stod((*b)[1]);
    const std::string bars = (*b)[2];
    std::vector<std::pair<double, double>> drawn;  // y, height
    for (std::sregex_iterator r(bars.begin(), bars.end(), bar); r != end; ++r)
      if ((*r)[4].str().find("display: none") == std::string::npos)
        drawn.emplace_back(std::stod((*r)[2]), std::stod((*r)[3]));
    std::sort(drawn.begin(), drawn.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    for (const auto& [y, h] : drawn) {
      if (std::abs(y + h - top) > 0.2)
        problems += "a bar ends at " + std::to_string(y + h) + ", not " + std::to_string(top) + "\n";
      top = y;
    }
  }
  return buckets ? problems : "no bars";
}

// "HH:MM" as minutes past midnight.
int minutes_of(const std::string& hh_mm) { return std::stoi(hh_mm.substr(0, 2)) * 60 + std::stoi(hh_mm.substr(3, 2)); }

// The html report of a real incident, as a reader's browser shows it: one
// file that loads nothing, drawn with its bars and legend, filtered through
// its URL fragment, with local times, and no script error.
TEST_F(Recordings, HtmlReportIsAPageToPasteIntoAPostmortem) {
  Scenario s;
  // The console checks below can fail: a page that logs an error is caught.
  const std::string noisy = s.dir() + "/noisy.html";
  std::ofstream(noisy) << "<!DOCTYPE html><html><body><script>console.error('noisy page')</script></body></html>\n";
  const PageDom noisy_dom = dump_dom(noisy);
  ASSERT_TRUE(noisy_dom.ok) << noisy_dom.error;
  ASSERT_EQ(noisy_dom.console.size(), 1u);
  EXPECT_NE(noisy_dom.console[0].find("noisy page"), std::string::npos) << noisy_dom.console[0];

  const std::string reset = s.start_backend("reset");
  const std::string says502 = s.start_backend("status502");
  const std::string ok = s.start_backend("ok");
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;\n"
                "  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/reset", "http://" + reset) +
                proxy("/says502", "http://" + says502) + proxy("/refused", "http://" + refused) +
                location("/limited", "limit_req zone=one nodelay; proxy_pass http://" + ok + ";") + "  }\n");
  const std::string path = s.dir() + "/incident.w502";
  s.start_recorder(path);
  const std::string base = "http://127.0.0.1:{PORT}";
  EXPECT_EQ(s.curl({base + "/refused", base + "/reset", base + "/says502", base + "/refused", base + "/limited",
                    base + "/limited"}),
            (std::vector<int>{502, 502, 502, 502, 200, 503}));
  s.stop_recorder();

  // The records behind the page: the limited one has no upstream, and says so.
  Outcome json = report({path, "--format", "json"});
  ASSERT_EQ(json.status, 0) << json.output;
  const nlohmann::json doc = json_of(json);
  std::vector<nlohmann::json> records(doc["records"].begin(), doc["records"].end());
  ASSERT_EQ(match_records(s.access_log(), records,
                          Causes{{refused, "refused"}, {reset, "reset"}, {says502, "upstream_status"}, {"", "limited"}}),
            "")
      << json.output;
  for (const auto& r : records)
    if (r["cause"] == "limited") {
      EXPECT_TRUE(r["upstream"].is_null()) << r.dump();
    }

  const std::string page = s.dir() + "/report.html";
  ASSERT_EQ(report({path, "--format", "html", "-o", page}).status, 0);
  std::ifstream in(page);
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* loads : {"src=", "href=", "<link", "@import", "url(", "http:", "https:"})
    EXPECT_EQ(html.find(loads), std::string::npos) << "the page must not load anything: " << loads;
  EXPECT_NE(html.find("<strong>5 gateway errors</strong>"), std::string::npos) << html.substr(0, 4000);
  EXPECT_NE(html.find("<strong>40.0 %</strong> refused"), std::string::npos);

  // Drawn: the timeline's bars and the legend's swatches in the causes' colours, a quiet console.
  const Screenshot shot = render_page(page, s.dir() + "/report.png");
  ASSERT_TRUE(shot.ok) << shot.error;
  EXPECT_TRUE(shot.console.empty()) << shot.console.front();
  EXPECT_GT(shot.inked(), 10000u);
  const size_t refused_px = shot.count(0xd62728), reset_px = shot.count(0xff7f0e);
  EXPECT_GT(refused_px, 2000u) << "no refused bar in the timeline";
  EXPECT_GT(reset_px, 1000u) << "no reset bar in the timeline";
  EXPECT_GT(shot.count(0x8c564b), 1000u) << "no upstream_status bar in the timeline";
  EXPECT_GT(shot.count(0xc5b0d5), 1000u) << "no limited bar in the timeline";

  // The legend toggles a cause off (here through the fragment): its bars go, the others stay.
  const Screenshot without = render_page(page, s.dir() + "/report-off.png", 1200, 1600, "#off=refused");
  ASSERT_TRUE(without.ok) << without.error;
  EXPECT_TRUE(without.console.empty()) << without.console.front();
  EXPECT_LT(without.count(0xd62728) + 2000, refused_px) << "refused bars still drawn";
  EXPECT_GT(without.count(0xff7f0e), reset_px * 9 / 10) << "reset bars went with refused";
  const PageDom restacked = dump_dom(page, "#off=refused");
  ASSERT_TRUE(restacked.ok) << restacked.error;
  EXPECT_EQ(stacks_without_gaps(restacked.html), "");
  EXPECT_NE(restacked.html.find("data-cause=\"refused\" aria-pressed=\"false\""), std::string::npos);

  // Filters, set from the fragment as a shared link would: the rows left visible.
  struct Filter {
    std::string fragment;
    size_t rows;
  };
  for (const Filter& f : {Filter{"", 5}, Filter{"#cause=refused", 2}, Filter{"#status=503", 1},
                          Filter{"#upstream=" + reset, 1}, Filter{"#upstream=-", 1},
                          Filter{"#cause=refused&upstream=" + reset, 0}}) {
    const PageDom dom = dump_dom(page, f.fragment);
    ASSERT_TRUE(dom.ok) << dom.error;
    EXPECT_TRUE(dom.console.empty()) << f.fragment << ": " << dom.console.front();
    EXPECT_NE(dom.html.find("data-script=\"ran\""), std::string::npos) << f.fragment << ": the script did not finish";
    EXPECT_NE(dom.html.find("<p id=\"page-error\" class=\"page-error\" hidden=\"\"></p>"), std::string::npos)
        << f.fragment << ": the page caught a script error";
    EXPECT_EQ(visible_rows(dom.html), f.rows) << f.fragment;
    EXPECT_NE(dom.html.find("<span id=\"shown\">" + std::to_string(f.rows) + "</span>"), std::string::npos)
        << f.fragment;
  }

  // Local time, from the UTC instants in the page: India is UTC+05:30 all year.
  const PageDom india = dump_dom(page, "", "Asia/Kolkata");
  ASSERT_TRUE(india.ok) << india.error;
  const std::regex tick("<text class=\"utc\"[^>]*>(\\d\\d:\\d\\d):\\d\\d</text><text class=\"local\"[^>]*>"
                        "(\\d\\d:\\d\\d):\\d\\d</text>");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(india.html, m, tick)) << india.html.substr(0, 20000);
  EXPECT_EQ((minutes_of(m[2]) - minutes_of(m[1]) + 1440) % 1440, 330) << m[0];
  EXPECT_NE(india.html.find("UTC+05:30"), std::string::npos);
}

}  // namespace
}  // namespace why502::testing
