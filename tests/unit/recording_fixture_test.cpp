// A recording made by why502 before the header named its wire version
// (tests/fixtures/README.md): `report` must read it forever, and say of it
// what the golden files say, which nginx's access log of that run backs up.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/report_command.hpp"

#include "output/record_sink.hpp"
#include "output/report.hpp"
#include "recording/reader.hpp"
#include "recording/replay.hpp"
#include "recording/verify.hpp"
#include "recording/writer.hpp"

namespace why502::recording {
namespace {

const std::string kFixtures = std::string(WHY502_SOURCE_DIR) + "/tests/fixtures/";
// The name the golden files were made with (`why502 report` run in tests/fixtures).
const std::string kName = "format1_wire1.w502";

std::string text_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Replayed {
  Report report;
  std::vector<std::string> live;
};

Replayed replay_fixture() {
  const Result<Contents> read = read_file(kFixtures + kName, {.strict = true});
  EXPECT_TRUE(read.ok()) << read.error();
  Replay replay;
  const Result<void> added = replay.add(kName, read.value());
  EXPECT_TRUE(added.ok()) << added.error();
  Replayed out{replay.finish(std::nullopt, std::nullopt), replay.live_records()};
  return out;
}

TEST(RecordingFixture, Format1HeaderReadsAsWireVersion1) {
  const Result<Contents> read = read_file(kFixtures + kName, {.strict = true});
  ASSERT_TRUE(read.ok()) << read.error();
  EXPECT_EQ(read->format_version, 1u);
  EXPECT_EQ(read->wire_version, 1u);
  EXPECT_EQ(read->events.size(), 42u);
  EXPECT_EQ(read->records.size(), 9u);
  EXPECT_FALSE(read->truncated);
  EXPECT_TRUE(read->skipped.empty());
}

TEST(RecordingFixture, ReportTextIsTheGoldenOne) {
  EXPECT_EQ(report_text(replay_fixture().report), text_of(kFixtures + "format1_wire1.report.txt"));
}

TEST(RecordingFixture, ReportJsonIsTheGoldenOne) {
  EXPECT_EQ(report_json(replay_fixture().report), text_of(kFixtures + "format1_wire1.report.json"));
}

TEST(RecordingFixture, ReplayedRecordsAreThoseReportedLive) {
  const Replayed r = replay_fixture();
  std::vector<std::string> replayed;
  for (const Record& rec : r.report.records) replayed.push_back(record_to_json(rec, r.report.clock));
  const Verification v = compare_records(r.live, replayed);
  EXPECT_EQ(v.same, 9u);
  EXPECT_TRUE(v.differences.empty()) << v.differences.front();
}

// The access log line per client port: "127.0.0.1 PORT STATUS "UPSTREAMS" URI".
TEST(RecordingFixture, EveryGatewayErrorIsOneOfNginxsAndTheirClientsMatch) {
  std::map<std::string, std::pair<int, std::string>> by_client;  // "127.0.0.1:PORT" → status, URI
  std::istringstream log(text_of(kFixtures + "format1_wire1.access.log"));
  std::string ip, port, upstream, uri;
  int status = 0;
  size_t errors_in_log = 0;
  while (log >> ip >> port >> status) {
    std::getline(log >> std::ws, upstream, ' ');
    while (upstream.back() != '"' && log) {  // "a, b": the upstream list has spaces
      std::string more;
      log >> more;
      upstream += " " + more;
    }
    log >> uri;
    by_client[ip + ":" + port] = {status, uri};
    if (status >= 500) ++errors_in_log;
  }
  ASSERT_EQ(errors_in_log, 8u);
  const std::map<std::string, std::string> cause_of_uri = {
      {"/refused", "refused"},      {"/reset", "reset"},          {"/says502", "upstream_status"},
      {"/close", "closed_early"},   {"/slow", "slow_backend"},    {"/segv", "backend_crashed"},
      {"/retry", "refused"}};
  const Report report = replay_fixture().report;
  size_t gateway_errors = 0;
  for (const Record& r : report.records) {
    auto line = by_client.find(r.client);
    ASSERT_NE(line, by_client.end()) << "record for a client nginx did not log: " << r.client;
    EXPECT_EQ(std::string(cause_name(r.cause)), cause_of_uri.at(line->second.second)) << r.client;
    if (r.type == RecordType::gateway_error) {
      ++gateway_errors;
      EXPECT_EQ(r.status, line->second.first) << r.client;
    } else {
      EXPECT_EQ(r.type, RecordType::retried);
      EXPECT_EQ(line->second.first, 200) << r.client;
    }
  }
  EXPECT_EQ(gateway_errors, errors_in_log);
}

// `report --verify` through the report command: the fixture's live records
// are what its events give again (exit 0); a recording whose live record says
// another cause than the replay is named, field by field (exit 1).
TEST(RecordingFixture, ReportVerifyNamesWhatDiffersFromTheLiveRecords) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("why502-verify-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  ReportOptions options;
  options.verify = true;
  options.files = {kFixtures + kName};
  options.output = (dir / "same.txt").string();
  EXPECT_EQ(run_report(options), 0);
  EXPECT_EQ(text_of(options.output), "verify: 9 records reported live, 9 replayed, 9 the same\n");

  // The same events, with the first live record (a refused one) saying reset.
  const Result<Contents> read = read_file(kFixtures + kName);
  ASSERT_TRUE(read.ok()) << read.error();
  const std::string doctored = (dir / "doctored.w502").string();
  std::string first_live = read->records[0];
  const std::string refused = "\"cause\":\"refused\"";
  ASSERT_NE(first_live.find(refused), std::string::npos) << first_live;
  first_live.replace(first_live.find(refused), refused.size(), "\"cause\":\"reset\"");
  {
    Writer w(doctored, read->clock_offset_ns);
    for (const auto& e : read->events) w.add_event(e);
    w.add_record(first_live);
    for (size_t i = 1; i < read->records.size(); ++i) w.add_record(read->records[i]);
  }
  options.files = {doctored};
  options.output = (dir / "differs.txt").string();
  EXPECT_EQ(run_report(options), 1);
  EXPECT_EQ(text_of(options.output),
            "differs: \"2026-12-01T23:13:57.785764Z\" pid 14030 client \"127.0.0.1:50874\": "
            "cause live \"reset\", replayed \"refused\"\n"
            "verify: 9 records reported live, 9 replayed, 8 the same; they differ\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace why502::recording
