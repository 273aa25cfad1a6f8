// The command line, parsed without running anything: what main dispatches on,
// and the option values the commands interpret (--rotate, --listen).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/command_line.hpp"
#include "why502_version.hpp"
#include "cli/metrics_endpoint.hpp"
#include "cli/record_command.hpp"
#include "common/fatal_error.hpp"
#include "common/text.hpp"

namespace why502 {
namespace {

struct Parse {
  ParsedCommandLine parsed;
  std::string out, err;
};

Parse parse(std::vector<const char*> args) {
  args.insert(args.begin(), "why502");
  std::ostringstream out, err;
  Parse p{parse_command_line(static_cast<int>(args.size()), args.data(), out, err), "", ""};
  p.out = out.str();
  p.err = err.str();
  return p;
}

TEST(CommandLine, EachCommandFillsItsOwnOptions) {
  Parse trace = parse({"trace", "--format", "json", "--pid", "12", "--pid", "13", "-vv"});
  ASSERT_TRUE(trace.parsed.run) << trace.err;
  EXPECT_EQ(trace.parsed.line.command, "trace");
  EXPECT_EQ(trace.parsed.line.trace.format, "json");
  EXPECT_EQ(trace.parsed.line.trace.live.pids, (std::vector<pid_t>{12, 13}));
  EXPECT_EQ(trace.parsed.line.trace.live.verbosity, 2);

  Parse report = parse({"report", "a.w502", "a.w502.1", "--format", "html", "--since", "2026-11-21T23:30:00Z"});
  ASSERT_TRUE(report.parsed.run) << report.err;
  EXPECT_EQ(report.parsed.line.command, "report");
  EXPECT_EQ(report.parsed.line.report.files, (std::vector<std::string>{"a.w502", "a.w502.1"}));
  EXPECT_EQ(report.parsed.line.report.since, "2026-11-21T23:30:00Z");

  Parse serve = parse({"serve", "--listen", "[::1]:9600"});
  ASSERT_TRUE(serve.parsed.run) << serve.err;
  EXPECT_EQ(serve.parsed.line.serve.listen, "[::1]:9600");
  EXPECT_EQ(serve.parsed.line.serve.live.max_pending_requests, EngineOptions{}.max_pending_requests);
  Parse small = parse({"serve", "--max-pending", "256", "--lean"});
  ASSERT_TRUE(small.parsed.run) << small.err;
  EXPECT_EQ(small.parsed.line.serve.live.max_pending_requests, 256u);
}

TEST(CommandLine, HelpAndVersionRunNothingAndExitZero) {
  Parse help = parse({"--help"});
  EXPECT_FALSE(help.parsed.run);
  EXPECT_EQ(help.parsed.exit_status, 0);
  EXPECT_NE(help.out.find("trace"), std::string::npos) << help.out;
  Parse version = parse({"--version"});
  EXPECT_FALSE(version.parsed.run);
  EXPECT_EQ(version.parsed.exit_status, 0);
  EXPECT_NE(version.out.find(std::string("why502 ") + WHY502_VERSION + " (commit "), std::string::npos) << version.out;
}

TEST(CommandLine, UsageErrorsAreOneLineAndExitTwo) {
  for (const auto& args : std::vector<std::vector<const char*>>{
           {}, {"trace", "--no-such-flag"}, {"trace", "--format", "xml"}, {"report"}, {"top", "--window", "0"},
           {"serve", "--max-pending", "0"}, {"serve", "--max-pending", "-5"}, {"serve", "--max-pending", "lots"}}) {
    Parse p = parse(args);
    EXPECT_FALSE(p.parsed.run) << p.err;
    EXPECT_EQ(p.parsed.exit_status, kUsageExit);
    EXPECT_EQ(p.err.rfind("why502: ", 0), 0u) << p.err;
    EXPECT_NE(p.err.find("(see why502 --help)\n"), std::string::npos) << p.err;
  }
}

// --duration said its range as 0 to DBL_MAX, 300 digits long.
TEST(CommandLine, ABadDurationSaysWhatAGoodOneIs) {
  for (const char* bad : {"-1", "0", "abc", "1e300", "inf", "nan", "31536001"}) {
    Parse p = parse({"trace", "--duration", bad});
    EXPECT_FALSE(p.parsed.run) << bad;
    EXPECT_EQ(p.parsed.exit_status, kUsageExit);
    EXPECT_EQ(p.err, std::string("why502: --duration: give a number of seconds above 0 and at most 31536000 (a year), "
                                 "not '") + bad + "' (see why502 --help)\n");
  }
  for (const char* good : {"0.5", "60", "31536000"}) EXPECT_TRUE(parse({"record", "-o", "x", "--duration", good}).parsed.run) << good;
}

// Whatever the arguments hold (newlines, escapes, megabytes), the error they
// cause is one line of bounded length.
TEST(CommandLine, AnErrorQuotingTheArgumentsStaysOneLine) {
  const std::string long_arg(100000, 'x');
  for (const std::string& bad : {std::string("--bo\ngus"), std::string("a\nb\r\x1b[2J"), long_arg}) {
    Parse p = parse({"trace", bad.c_str()});
    EXPECT_EQ(p.parsed.exit_status, kUsageExit);
    EXPECT_EQ(std::count(p.err.begin(), p.err.end(), '\n'), 1) << p.err;
    EXPECT_EQ(p.err.back(), '\n');
    EXPECT_LE(p.err.size(), 512u);
    EXPECT_EQ(p.err.find('\x1b'), std::string::npos) << p.err;
  }
}

TEST(OneLine, EscapesControlCharactersAndCutsLongText) {
  EXPECT_EQ(one_line("plain"), "plain");
  EXPECT_EQ(one_line("a\nb\tc\x7f"), "a\\nb\\x09c\\x7f");
  EXPECT_EQ(one_line(std::string(500, 'y'), 10), "yyyyyyy...");
  EXPECT_EQ(one_line(std::string(10, 'y'), 10), "yyyyyyyyyy");
}

TEST(RotateSize, UnitsAndMalformedSizes) {
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("512K"), 512u << 10);
  EXPECT_EQ(parse_size("64M"), 64u << 20);
  EXPECT_EQ(parse_size("2g"), 2ull << 30);
  EXPECT_FALSE(parse_size(""));
  EXPECT_FALSE(parse_size("M"));
  EXPECT_FALSE(parse_size("64MB"));
  EXPECT_FALSE(parse_size("1234567890123456"));  // 16 digits
}

// Found by the command-line fuzzer's check that a size is what its text says:
// 15 digits of gigabytes wrapped around 2^64 into some arbitrary size.
TEST(RotateSize, TooBigIsMalformedNotWrapped) {
  EXPECT_FALSE(parse_size("999999999999999G"));
  EXPECT_FALSE(parse_size("17179869184G"));  // 2^34 GiB = 2^64 bytes
  EXPECT_EQ(parse_size("17179869183G"), 17179869183ull << 30);
  EXPECT_EQ(parse_size("999999999999999"), 999999999999999ull);
}

TEST(ListenAddress, Ipv4AndBracketedIpv6) {
  const ListenAddress v4 = parse_listen_address("127.0.0.1:9502");
  ASSERT_EQ(v4.storage.ss_family, AF_INET);
  EXPECT_EQ(v4.length, sizeof(sockaddr_in));
  EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in*>(&v4.storage)->sin_port), 9502);
  const ListenAddress v6 = parse_listen_address("[::1]:9600");
  ASSERT_EQ(v6.storage.ss_family, AF_INET6);
  EXPECT_EQ(v6.length, sizeof(sockaddr_in6));
  EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in6*>(&v6.storage)->sin6_port), 9600);
}

TEST(ListenAddress, MalformedAddressesSayWhatIsWrong) {
  for (const char* bad : {"9502", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:95x", "localhost:9502", "[::1]",
                          "[]:9502", "::1:9502"}) {
    try {
      parse_listen_address(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const FatalError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(std::string("--listen ") + bad + ": ", 0), 0u) << e.what();
    }
  }
}

}  // namespace
}  // namespace why502
