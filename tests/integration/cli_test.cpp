// Bad input: one clear line on stderr naming the problem, exit status 2.
#include <gtest/gtest.h>
#include <unistd.h>

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

TEST(Cli, DurationStopsTheTraceAndExitsZero) {
  ASSERT_EQ(geteuid(), 0u);
  auto o = run_why502({"trace", "--format", "json", "--duration", "0.5"});
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("ready"), std::string::npos) << o.output;
}

}  // namespace
}  // namespace why502::testing
