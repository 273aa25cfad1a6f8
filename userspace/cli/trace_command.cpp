#include "cli/trace_command.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include "cli/private_output.hpp"
#include "output/record_sink.hpp"

namespace why502 {

void add_trace_command(CLI::App& app, TraceOptions& o) {
  CLI::App* trace = app.add_subcommand("trace", "Print one record per gateway error, live");
  trace->add_option("--format", o.format, "text or json (JSON Lines); default: text on a terminal, else json")
      ->check(CLI::IsMember({"text", "json"}));
  trace->add_option("-o,--output", o.output, "Write records to this file instead of stdout (created 0600)");
  add_live_options(*trace, o.live);
}

int run_trace(const TraceOptions& options) {
  std::ofstream file;
  if (!options.output.empty()) open_private_output(file, options.output, std::ios::trunc);
  std::ostream& out = options.output.empty() ? std::cout : file;
  std::string format = options.format;
  if (format.empty()) format = options.output.empty() && isatty(STDOUT_FILENO) ? "text" : "json";
  const WallClock clock;
  auto sink = format == "text" ? make_text_sink(out, clock) : make_json_sink(out, clock);

  LiveHooks hooks;
  hooks.on_record = [&](const Record& r) { sink->write(r); };
  hooks.on_records_delivered = [&] { sink->flush(); };
  run_live(options.live, hooks);
  out.flush();
  return 0;
}

}  // namespace why502
