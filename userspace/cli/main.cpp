// why502: tells why nginx answered 502/503/504, per request, from the kernel.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/record_command.hpp"
#include "cli/report_command.hpp"
#include "cli/serve_command.hpp"
#include "cli/top_command.hpp"
#include "cli/trace_command.hpp"
#include "common/fatal_error.hpp"

namespace {
constexpr int kUsageExit = 2;
}

int main(int argc, char** argv) {
  CLI::App app{"why502: why did nginx answer 502/503/504? Per request, from the kernel."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "why502 0.1.0");
  why502::TraceOptions trace;
  why502::add_trace_command(app, trace);
  why502::RecordOptions record;
  why502::add_record_command(app, record);
  why502::ReportOptions report;
  why502::add_report_command(app, report);
  why502::TopOptions top;
  why502::add_top_command(app, top);
  why502::ServeOptions serve;
  why502::add_serve_command(app, serve);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "why502: %s (see why502 --help)\n", e.what());
    return kUsageExit;
  }
  try {
    if (app.got_subcommand("trace")) return why502::run_trace(trace);
    if (app.got_subcommand("record")) return why502::run_record(record);
    if (app.got_subcommand("report")) return why502::run_report(report);
    if (app.got_subcommand("top")) return why502::run_top(top);
    if (app.got_subcommand("serve")) return why502::run_serve(serve);
  } catch (const why502::FatalError& e) {
    std::fprintf(stderr, "why502: %s\n", e.what());
    return kUsageExit;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "why502: internal error: %s\n", e.what());
    return 1;
  }
  return kUsageExit;
}
