#include "cli/report_command.hpp"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include "common/fatal_error.hpp"
#include "output/record_sink.hpp"
#include "output/report.hpp"
#include "recording/reader.hpp"
#include "recording/replay.hpp"
#include "recording/verify.hpp"

namespace why502 {

void add_report_command(CLI::App& app, ReportOptions& o) {
  CLI::App* report = app.add_subcommand("report", "Summarise a recording (re-running the attribution engine)");
  report->add_option("files", o.files, "Recording file(s), in order (FILE FILE.1 … after --rotate)")->required();
  report->add_option("--format", o.format, "text, json (summary and every record) or html (one self-contained page)")
      ->check(CLI::IsMember({"text", "json", "html"}));
  report->add_option("--since", o.since, "Only errors at or after this time (RFC 3339)");
  report->add_option("--until", o.until, "Only errors before this time (RFC 3339)");
  report->add_option("-o,--output", o.output, "Write the report here instead of stdout");
  report->add_flag("--strict", o.strict, "A corrupt block is an error (exit 2) instead of skipped with a warning");
  report->add_flag("--verify", o.verify,
                   "Compare the records reported live (kept in the recording) with those the engine gives now; "
                   "exit 1 when they differ")
      ->excludes("--since")
      ->excludes("--until")
      ->excludes("--format");
}

namespace {

// Prints how the live and the replayed records differ; 0 when they do not.
int verify(const recording::Replay& replay, const Report& report, std::ostream& out) {
  std::vector<std::string> replayed;
  for (const Record& r : report.records) replayed.push_back(record_to_json(r, report.clock));
  const recording::Verification v = recording::compare_records(replay.live_records(), replayed);
  for (const std::string& line : v.differences) out << line << "\n";
  out << "verify: " << v.live << " records reported live, " << v.replayed << " replayed, " << v.same << " the same";
  if (!report.skipped.empty()) out << " (corrupt blocks were skipped: their records are missing on both sides)";
  out << (v.differences.empty() ? "\n" : "; they differ\n");
  return v.differences.empty() ? 0 : 1;
}

}  // namespace

int run_report(const ReportOptions& options) {
  std::optional<int64_t> since, until;
  if (!options.since.empty() && !(since = parse_rfc3339(options.since)))
    throw FatalError("--since " + options.since + ": not an RFC 3339 time (e.g. 2026-11-21T23:30:00Z)");
  if (!options.until.empty() && !(until = parse_rfc3339(options.until)))
    throw FatalError("--until " + options.until + ": not an RFC 3339 time (e.g. 2026-11-21T23:30:00Z)");

  // The engine runs again over the raw events: an improved engine re-reads old recordings.
  recording::Replay replay;
  for (const std::string& file : options.files) {
    const Result<recording::Contents> read = recording::read_file(file, {.strict = options.strict});
    if (!read) throw FatalError(read.error());
    for (const recording::SkippedRegion& s : read->skipped)
      std::fprintf(stderr, "why502: warning: %s; reading on from the next good block\n",
                   skipped_note({file, s.offset, s.bytes, s.problem}).c_str());
    if (const Result<void> added = replay.add(file, read.value()); !added) throw FatalError(added.error());
  }
  const Report report = replay.finish(since, until);

  std::ofstream file;
  if (!options.output.empty()) {
    file.open(options.output, std::ios::out | std::ios::trunc);
    if (!file) throw FatalError("cannot write " + options.output + ": " + std::strerror(errno));
  }
  std::ostream& out = options.output.empty() ? std::cout : file;
  if (options.verify) {
    const int status = verify(replay, report, out);
    if (report.cut_off) std::fprintf(stderr, "why502: warning: %s\n", report.cut_off_note.c_str());
    return status;
  }
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
