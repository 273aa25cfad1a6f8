// why502: tells why nginx answered 502/503/504, per request, from the kernel.
#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/command_line.hpp"
#include "common/fatal_error.hpp"
#include "common/text.hpp"

int main(int argc, char** argv) {
  const why502::ParsedCommandLine parsed = why502::parse_command_line(argc, argv, std::cout, std::cerr);
  if (!parsed.run) return parsed.exit_status;
  const why502::CommandLine& line = parsed.line;
  try {
    if (line.command == "trace") return why502::run_trace(line.trace);
    if (line.command == "record") return why502::run_record(line.record);
    if (line.command == "report") return why502::run_report(line.report);
    if (line.command == "top") return why502::run_top(line.top);
    if (line.command == "serve") return why502::run_serve(line.serve);
    if (line.command == "doctor") return why502::run_doctor(line.doctor);
  } catch (const why502::FatalError& e) {
    std::fprintf(stderr, "why502: %s\n", why502::one_line(e.what()).c_str());
    return why502::kUsageExit;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "why502: internal error: %s\n", why502::one_line(e.what()).c_str());
    return 1;
  }
  return why502::kUsageExit;
}
