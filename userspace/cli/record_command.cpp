#include "cli/record_command.hpp"

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "common/fatal_error.hpp"
#include "output/clock.hpp"
#include "output/record_sink.hpp"
#include "recording/writer.hpp"

namespace why502 {

std::optional<uint64_t> parse_size(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 15) return std::nullopt;
  const uint64_t value = std::stoull(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  int shift = -1;
  if (unit.empty()) shift = 0;
  if (unit == "K" || unit == "k") shift = 10;
  if (unit == "M" || unit == "m") shift = 20;
  if (unit == "G" || unit == "g") shift = 30;
  // 15 digits of gigabytes do not fit in 64 bits: too big is malformed, not wrapped.
  if (shift < 0 || value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

void add_record_command(CLI::App& app, RecordOptions& o) {
  CLI::App* record = app.add_subcommand("record", "Trace live and write a recording for postmortems");
  record->add_option("-o,--output", o.output, "The recording file (created 0600)")->required();
  record->add_option("--rotate", o.rotate, "Start FILE.1, FILE.2, … once a file reaches this size (e.g. 64M)");
  add_live_options(*record, o.live);
}

int run_record(const RecordOptions& options) {
  uint64_t rotate_bytes = 0;
  if (!options.rotate.empty()) {
    auto size = parse_size(options.rotate);
    if (!size || *size < 4096) throw FatalError("--rotate " + options.rotate + ": give a size such as 64M (at least 4K)");
    rotate_bytes = *size;
  }
  check_live_options(options.live);  // before the recording is created
  const WallClock clock;
  recording::Writer writer(options.output, clock.offset_ns(), rotate_bytes);
  uint64_t records = 0;
  LiveHooks hooks;
  hooks.on_event = [&](std::span<const uint8_t> bytes) { writer.add_event(bytes); };
  hooks.on_record = [&](const Record& r) {
    writer.add_record(record_to_json(r, clock));
    ++records;
  };
  hooks.on_tick = [&](const LiveStatus&) { writer.flush(monotonic_now_ns()); };
  run_live(options.live, hooks);
  writer.flush(monotonic_now_ns(), true);
  std::fprintf(stderr, "why502: recorded %llu records in", static_cast<unsigned long long>(records));
  for (const auto& f : writer.files()) std::fprintf(stderr, " %s", f.c_str());
  std::fprintf(stderr, "\n");
  return 0;
}

}  // namespace why502
