// The postmortem summary of a recording: when, how many, of what, where.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "attribution/record.hpp"
#include "output/clock.hpp"

namespace why502 {

// Bytes of a recording that a corrupt block made unreadable; what came after
// them is reported.
struct SkippedBytes {
  std::string file;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  std::string problem;  // what was wrong with the block there ("checksum mismatch")
};

// "FILE: skipped N bytes at offset O (PROBLEM)": one line.
std::string skipped_note(const SkippedBytes& skipped);
struct Report;
// The corrupt bytes a report passed over, in all.
uint64_t skipped_bytes(const Report& report);

struct Report {
  std::vector<std::string> files;
  bool cut_off = false;          // a recording ended inside a block
  std::string cut_off_note;      // which file, where
  std::vector<SkippedBytes> skipped;  // corrupt regions passed over, in order
  uint64_t events = 0;
  std::optional<int64_t> first_ns, last_ns;  // wall clock of the first/last event
  std::vector<Record> records;               // after --since/--until
  std::map<std::string, uint64_t> by_cause, by_status, by_upstream, by_type;
  std::vector<std::pair<std::string, uint64_t>> top_evidence;  // most frequent first
  // Gateway errors per wall-clock second, by cause.
  std::map<int64_t, std::map<std::string, uint64_t>> per_second;
  WallClock clock{0};
};

// Summarises records already filtered to the window.
void summarise(Report& report);

// Seconds from the first to the last recorded event (0 without events).
double recording_seconds(const Report& report);
// Rounded for people: "2.743 s", "42.7 s", "4 min 12 s", "3 h 5 min".
std::string format_duration(double seconds);
// A record's upstream as the summaries count it: "-" (nginx's word in
// $upstream_addr) when there was none, e.g. a limit_req rejection.
std::string upstream_label(const Record& record);

std::string report_text(const Report& report);
std::string report_json(const Report& report);
// One self-contained page for a postmortem: headline, timeline, summaries and
// the records; its scripts and styles are inline, it loads nothing.
std::string report_html(const Report& report);

// RFC 3339 (2026-11-21T23:30:10Z, fractions and offsets allowed) → ns since
// the epoch; nullopt when it does not parse.
std::optional<int64_t> parse_rfc3339(const std::string& text);

}  // namespace why502
