// Bad input: one clear line on stderr naming the problem, exit status 2.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "child_process.hpp"

namespace why502::testing {
namespace {

struct Outcome {
  int status;
  std::string output;
};

Outcome run_why502(std::vector<std::string> args, std::vector<std::string> prefix = {}) {
  std::vector<std::string> argv = std::move(prefix);
  argv.push_back(WHY502_BINARY);
  argv.insert(argv.end(), args.begin(), args.end());
  Outcome o{};
  o.output = run_command(argv, &o.status);
  return o;
}

void expect_one_line_error(const Outcome& o, const std::string& mentions) {
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_EQ(o.output.rfind("why502: ", 0), 0u) << o.output;
  EXPECT_EQ(std::count(o.output.begin(), o.output.end(), '\n'), 1) << o.output;
  EXPECT_NE(o.output.find(mentions), std::string::npos) << o.output;
}

TEST(Cli, UnknownFlagIsRejected) { expect_one_line_error(run_why502({"trace", "--bogus"}), "--bogus"); }

TEST(Cli, BadFormatIsRejected) { expect_one_line_error(run_why502({"trace", "--format", "xml"}), "xml"); }

TEST(Cli, MissingSubcommandIsRejected) { expect_one_line_error(run_why502({}), "subcommand"); }

TEST(Cli, PidOfAProcessThatIsNotNginx) {
  ASSERT_EQ(geteuid(), 0u);
  expect_one_line_error(run_why502({"trace", "--pid", std::to_string(getpid())}), "not nginx");
}

TEST(Cli, PidThatDoesNotExist) {
  ASSERT_EQ(geteuid(), 0u);
  expect_one_line_error(run_why502({"trace", "--pid", "999999999"}), "no process");
}

TEST(Cli, WithoutPrivilegesSaysWhatIsMissing) {
  ASSERT_EQ(geteuid(), 0u);
  auto o = run_why502({"trace", "--duration", "1"},
                      {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"});
  expect_one_line_error(o, "CAP_BPF");
}

TEST(Cli, UnreadableNginxBinary) {
  ASSERT_EQ(geteuid(), 0u);
  expect_one_line_error(run_why502({"trace", "--nginx-binary", "/nonexistent/nginx"}), "/nonexistent/nginx");
}

TEST(Cli, NonNginxBinaryIsAnError) {
  ASSERT_EQ(geteuid(), 0u);
  expect_one_line_error(run_why502({"trace", "--nginx-binary", "/etc/passwd"}), "/etc/passwd: not an ELF file");
  std::filesystem::remove("/tmp/why502-cli-never.w502");
  expect_one_line_error(run_why502({"record", "-o", "/tmp/why502-cli-never.w502", "--nginx-binary", "/bin/true"}),
                        "/bin/true: an ELF file without nginx's version string");
  EXPECT_FALSE(std::filesystem::exists("/tmp/why502-cli-never.w502")) << "record left an empty recording behind";
  std::filesystem::remove("/tmp/why502-cli-never.w502");
  expect_one_line_error(run_why502({"trace", "--nginx-binary", "/etc"}), "/etc: a directory");
}

TEST(Cli, DurationOutOfRangeSaysTheRange) {
  for (const char* bad : {"-1", "0", "1e400"}) {
    const Outcome o = run_why502({"trace", "--duration", bad});
    expect_one_line_error(o, "--duration: give a number of seconds above 0 and at most 31536000 (a year)");
    EXPECT_LT(o.output.size(), 200u) << o.output;
  }
}

TEST(Cli, TopWithoutATerminalSaysSoOnce) {
  const Outcome o = run_why502({"top"});  // stdin is /dev/null
  expect_one_line_error(o, "top needs a terminal");
  EXPECT_EQ(o.output.find("why502 top"), std::string::npos) << "the program's name twice: " << o.output;
}

// Scratch files for report's bad inputs, removed with the fixture.
class ReportInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("why502-cli-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string fixture() { return std::string(WHY502_SOURCE_DIR) + "/tests/fixtures/format1_wire1.w502"; }
  std::filesystem::path dir_;
};

TEST_F(ReportInput, ADirectory) {
  expect_one_line_error(run_why502({"report", dir_.string()}), dir_.string() + " is a directory: give the recording file");
}

TEST_F(ReportInput, AnEmptyFile) {
  std::ofstream(path("empty.w502")).close();
  expect_one_line_error(run_why502({"report", path("empty.w502")}), "empty file, not a why502 recording");
}

TEST_F(ReportInput, AFileTheUserMayNotReadSaysWhy) {
  ASSERT_EQ(geteuid(), 0u);
  std::filesystem::copy_file(fixture(), path("private.w502"));
  ASSERT_EQ(chmod(path("private.w502").c_str(), 0600), 0);
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  const Outcome o = run_why502({"report", path("private.w502")},
                               {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"});
  expect_one_line_error(o, "cannot open " + path("private.w502") + ": Permission denied (run as a user who may read it");
}

TEST_F(ReportInput, TheFixtureVerifiesAgainstItsLiveRecords) {
  const Outcome o = run_why502({"report", fixture(), "--verify"});
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_EQ(o.output, "verify: 9 records reported live, 9 replayed, 9 the same\n");
}

// A byte flipped inside the fixture's second block (of five): the report
// warns once, names the region and goes on; --strict stops there.
TEST_F(ReportInput, ACorruptBlockIsSkippedUnlessStrict) {
  std::ifstream in(fixture(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t first = bytes.find("BLK1"), second = bytes.find("BLK1", first + 1), third = bytes.find("BLK1", second + 1);
  ASSERT_NE(third, std::string::npos);
  bytes[second + 40] ^= 0x5a;
  std::ofstream(path("corrupt.w502"), std::ios::binary) << bytes;

  const Outcome o = run_why502({"report", path("corrupt.w502")});
  EXPECT_EQ(o.status, 0) << o.output;
  const std::string note = path("corrupt.w502") + ": skipped " + std::to_string(third - second) + " bytes at offset " +
                           std::to_string(second) + " (checksum mismatch)";
  EXPECT_NE(o.output.find("why502: warning: " + note + "; reading on from the next good block\n"), std::string::npos)
      << o.output;
  EXPECT_NE(o.output.find("corrupt bytes skipped in 1 region; what came after is reported:\n  " + note), std::string::npos)
      << o.output;
  EXPECT_NE(o.output.find("gateway errors: "), std::string::npos) << o.output;

  expect_one_line_error(run_why502({"report", path("corrupt.w502"), "--strict"}),
                        "corrupt block (checksum mismatch) at offset " + std::to_string(second));
}

TEST(Cli, DurationStopsTheTraceAndExitsZero) {
  ASSERT_EQ(geteuid(), 0u);
  auto o = run_why502({"trace", "--format", "json", "--duration", "0.5"});
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("ready"), std::string::npos) << o.output;
}

}  // namespace
}  // namespace why502::testing
