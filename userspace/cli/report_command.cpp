#include "cli/report_command.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "attribution/engine.hpp"
#include "events/event.hpp"
#include "common/fatal_error.hpp"
#include "output/report.hpp"
#include "recording/reader.hpp"

namespace why502 {

void add_report_command(CLI::App& app, ReportOptions& o) {
  CLI::App* report = app.add_subcommand("report", "Summarise a recording (re-running the attribution engine)");
  report->add_option("files", o.files, "Recording file(s), in order (FILE FILE.1 … after --rotate)")->required();
  report->add_option("--format", o.format, "text, json (summary and every record) or html (one self-contained page)")
      ->check(CLI::IsMember({"text", "json", "html"}));
  report->add_option("--since", o.since, "Only errors at or after this time (RFC 3339)");
  report->add_option("--until", o.until, "Only errors before this time (RFC 3339)");
  report->add_option("-o,--output", o.output, "Write the report here instead of stdout");
}

int run_report(const ReportOptions& options) {
  std::optional<int64_t> since, until;
  if (!options.since.empty() && !(since = parse_rfc3339(options.since)))
    throw FatalError("--since " + options.since + ": not an RFC 3339 time (e.g. 2026-11-21T23:30:00Z)");
  if (!options.until.empty() && !(until = parse_rfc3339(options.until)))
    throw FatalError("--until " + options.until + ": not an RFC 3339 time (e.g. 2026-11-21T23:30:00Z)");

  Report report;
  // The engine runs again over the raw events: an improved engine re-reads old recordings.
  Engine engine;
  std::vector<Record> records;
  bool have_clock = false;
  for (const std::string& file : options.files) {
    recording::ReadResult read = recording::read_file(file);
    if (!read.ok) throw FatalError(read.error);
    report.files.push_back(file);
    if (!have_clock) {
      report.clock = WallClock(read.contents.clock_offset_ns);
      have_clock = true;
    }
    if (read.contents.truncated) {
      report.cut_off = true;
      report.cut_off_note = file + " was cut off at offset " + std::to_string(read.contents.truncated_at) +
                            " (the recording stopped abruptly); everything before it is reported";
    }
    for (const auto& bytes : read.contents.events) {
      DecodeResult decoded = decode_event(bytes);
      if (!decoded.ok) throw FatalError(file + ": a recorded event is invalid: " + decoded.error);
      const int64_t wall = report.clock.to_realtime_ns(header_of(decoded.event).ts_ns);
      if (!report.first_ns || wall < *report.first_ns) report.first_ns = wall;
      if (!report.last_ns || wall > *report.last_ns) report.last_ns = wall;
      ++report.events;
      engine.handle(decoded.event, records);
    }
  }
  engine.finish(records);
  for (Record& r : records) {
    const int64_t wall = report.clock.to_realtime_ns(r.ts_ns);
    if ((since && wall < *since) || (until && wall >= *until)) continue;
    report.records.push_back(std::move(r));
  }
  summarise(report);

  std::ofstream file;
  if (!options.output.empty()) {
    file.open(options.output, std::ios::out | std::ios::trunc);
    if (!file) throw FatalError("cannot write " + options.output);
  }
  std::ostream& out = options.output.empty() ? std::cout : file;
  if (options.format == "json")
    out << report_json(report);
  else if (options.format == "html")
    out << report_html(report);
  else
    out << report_text(report);
  if (report.cut_off) std::fprintf(stderr, "why502: warning: %s\n", report.cut_off_note.c_str());
  return 0;
}

}  // namespace why502
