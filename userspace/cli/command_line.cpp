#include "cli/command_line.hpp"

#include <CLI/CLI.hpp>
#include <ostream>

#include "common/text.hpp"
#include "why502_version.hpp"

namespace why502 {

std::string version_line() { return std::string("why502 ") + WHY502_VERSION + " (commit " + WHY502_COMMIT + ")"; }

void define_command_line(CLI::App& app, CommandLine& line) {
  app.require_subcommand(1);
  app.set_version_flag("--version", version_line());
  add_trace_command(app, line.trace);
  add_record_command(app, line.record);
  add_report_command(app, line.report);
  add_top_command(app, line.top);
  add_serve_command(app, line.serve);
  add_doctor_command(app, line.doctor);
}

ParsedCommandLine parse_command_line(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  ParsedCommandLine parsed;
  CommandLine& line = parsed.line;
  CLI::App app{"why502: why did nginx answer 502/503/504? Per request, from the kernel."};
  define_command_line(app, line);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    parsed.exit_status = app.exit(e, out, err);
    return parsed;
  } catch (const CLI::ParseError& e) {
    err << "why502: " << one_line(e.what()) << " (see why502 --help)\n";
    parsed.exit_status = kUsageExit;
    return parsed;
  }
  for (const CLI::App* sub : app.get_subcommands()) line.command = sub->get_name();
  parsed.run = !line.command.empty();
  parsed.exit_status = parsed.run ? 0 : kUsageExit;
  return parsed;
}

}  // namespace why502
