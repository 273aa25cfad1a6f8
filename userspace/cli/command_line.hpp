// The why502 command line: every command's options and the one parser that
// fills them. Parsing runs nothing, so main can dispatch on the result and
// the command-line fuzzer can parse any argv without side effects.
#pragma once

#include <iosfwd>
#include <string>

#include "cli/doctor_command.hpp"
#include "cli/record_command.hpp"
#include "cli/report_command.hpp"
#include "cli/serve_command.hpp"
#include "cli/top_command.hpp"
#include "cli/trace_command.hpp"

namespace CLI {
class App;
}

namespace why502 {

struct CommandLine {
  std::string command;  // the subcommand given: "trace", "record", "report", "top", "serve" or "doctor"
  TraceOptions trace;
  RecordOptions record;
  ReportOptions report;
  TopOptions top;
  ServeOptions serve;
  DoctorOptions doctor;
};

struct ParsedCommandLine {
  // false: nothing to run (--help, --version, or a usage error already
  // printed); exit with exit_status.
  bool run = false;
  int exit_status = 0;
  CommandLine line;
};

// A usage error: main exits with this, as for every error the user must fix.
inline constexpr int kUsageExit = 2;

// Defines every command and option on app, bound to line: the one list of
// flags that the parser, the man page test and the completion test read.
void define_command_line(CLI::App& app, CommandLine& line);

// "why502 <version> (commit <git describe>)": the version and what it was built from.
std::string version_line();

// Parses argv (argv[0] is the program). --help and --version print to out,
// usage errors print one line to err.
ParsedCommandLine parse_command_line(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace why502
