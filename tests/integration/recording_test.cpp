// Postmortems: record real traffic, then report it — the engine runs again
// over the recorded events and must find what nginx's access log says.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

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
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::free_port());
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

  // HTML: one self-contained page with the timeline.
  Outcome html = report({path, "--format", "html"});
  ASSERT_EQ(html.status, 0);
  EXPECT_NE(html.output.find("<svg id=\"timeline\""), std::string::npos);
  for (const char* loads : {"src=", "href=", "<script", "<link", "@import", "url("})
    EXPECT_EQ(html.output.find(loads), std::string::npos) << "the page must not load anything: " << loads;
  EXPECT_NE(html.output.find("refused"), std::string::npos);

  // Rendered as a reader would see it: the timeline is drawn (bars in the
  // refused and reset colours), the page is not blank, the console is quiet.
  const std::string page = s.dir() + "/report.html";
  ASSERT_EQ(report({path, "--format", "html", "-o", page}).status, 0);
  const Screenshot shot = render_page(page, s.dir() + "/report.png");
  ASSERT_TRUE(shot.ok) << shot.error;
  EXPECT_TRUE(shot.console.empty()) << shot.console.front();
  EXPECT_GT(shot.inked(), 10000u);
  EXPECT_GT(shot.count(0xd62728), 50u) << "no refused bar in the timeline";
  EXPECT_GT(shot.count(0xff7f0e), 20u) << "no reset bar in the timeline";
}

}  // namespace
}  // namespace why502::testing
