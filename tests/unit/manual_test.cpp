// The man page and the bash completion must not drift from the command line:
// every command and every flag CLI11 knows appears in both.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command_line.hpp"

namespace why502 {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every flag of app and its commands, as typed: "--pid", "-o".
std::vector<std::string> flags_of(const CLI::App& app) {
  std::vector<std::string> flags;
  for (const CLI::Option* o : app.get_options()) {
    for (const std::string& name : o->get_lnames()) flags.push_back("--" + name);
    for (const std::string& name : o->get_snames()) flags.push_back("-" + name);
  }
  return flags;
}

// roff writes a hyphen as \-.
std::string in_roff(const std::string& flag) {
  std::string out;
  for (char c : flag) out += c == '-' ? "\\-" : std::string(1, c);
  return out;
}

TEST(Manual, EveryCommandAndFlagIsInTheManPageAndTheCompletion) {
  CLI::App app;
  CommandLine line;
  define_command_line(app, line);
  const std::string man = read(WHY502_SOURCE_DIR "/packaging/why502.8");
  const std::string completion = read(WHY502_SOURCE_DIR "/packaging/why502.bash-completion");
  ASSERT_FALSE(man.empty());
  ASSERT_FALSE(completion.empty());
  int checked = 0;
  for (const std::string& flag : flags_of(app)) {
    EXPECT_NE(man.find(in_roff(flag)), std::string::npos) << flag << " is not in why502(8)";
    EXPECT_NE(completion.find(flag), std::string::npos) << flag << " is not completed";
    ++checked;
  }
  for (const CLI::App* command : app.get_subcommands({})) {
    EXPECT_NE(man.find(".B why502 " + command->get_name()), std::string::npos) << command->get_name();
    EXPECT_NE(man.find(".B " + command->get_name() + "\n"), std::string::npos) << command->get_name();
    EXPECT_NE(completion.find(command->get_name() + ")"), std::string::npos) << command->get_name();
    for (const std::string& flag : flags_of(*command)) {
      EXPECT_NE(man.find(in_roff(flag)), std::string::npos) << command->get_name() << " " << flag
                                                            << " is not in why502(8)";
      EXPECT_NE(completion.find(flag), std::string::npos) << command->get_name() << " " << flag << " is not completed";
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
}

}  // namespace
}  // namespace why502
