#include "recording/replay.hpp"

#include <cstddef>
#include <cstring>

#include "events/event.hpp"

namespace why502::recording {
namespace {

// A recorded event's bytes as this why502's decoder takes them (converted
// into `converted` when they must change). A wire version that changes a
// struct must convert the older layouts here, so that every recording stays
// readable. Wire version 2:
// - grew w5_ngx_log at its end (nginx's format arguments), and put which
//   request of its connection it is (`requests`) where version 1 had tail
//   padding: a version-1 log event gets them zeroed (no arguments, request
//   unknown), so that it reads, and is described, as it was. By size: version
//   2 never writes a log event of version 1's size, and a file rewritten from
//   version-1 events (report --verify's tests) keeps them.
// - put `requests` where w5_ngx_error_page had `pad`: zeroed (unknown) in
//   events of a version-1 file.
// Wire version 3 only added event types (17-20) and gave a held unix
// socket of w5_signal its peer, which older events have zeroed: nothing of
// version 2 needs converting. Nor does anything of version 3: version 4
// only added an event type (22, W5_EV_SOCKET_FILE), and version 5 another
// (23, W5_EV_NGX_ERROR_PAGE_TARGET).
// Wire version 6 grew each argument's C string (w5_log_arg.cstr) from 64 to
// 128 bytes, and added the format's address at the end (fmt_addr): a log
// event of versions 2-5 (1288 bytes) is laid out anew, each argument's text
// as it was, fmt_addr 0 (nothing is read live from a recording). A %s text
// that filled its 64 bytes then reads as whole; a %*s one is still said to
// be cut, by its length.
static_assert(W5_WIRE_VERSION == 6, "a new wire version: convert the events of older ones here");
constexpr uint32_t kNgxLogSizeV1 = 304;
constexpr size_t kNgxLogRequestsV1 = 300;  // where version 1's padding began
constexpr uint32_t kNgxLogSizeV5 = 1288;
constexpr size_t kLogArgsAt = offsetof(w5_ngx_log, args);  // the same in versions 2-6
constexpr size_t kLogArgSizeV5 = 152;
constexpr size_t kLogArgTextLenV5 = 64;

void convert_log_args_from_v5(const std::vector<uint8_t>& bytes, std::vector<uint8_t>& converted) {
  converted.assign(sizeof(w5_ngx_log), 0);
  std::memcpy(converted.data(), bytes.data(), kLogArgsAt);
  w5_ngx_log e;
  std::memcpy(&e, converted.data(), sizeof(e));
  e.h.size = sizeof(w5_ngx_log);
  for (size_t i = 0; i < W5_LOG_ARGS; ++i) {
    const uint8_t* old = bytes.data() + kLogArgsAt + i * kLogArgSizeV5;
    w5_log_arg& a = e.args[i];
    std::memcpy(&a, old, offsetof(w5_log_arg, cstr));  // word, str_len, readable, pad
    const uint8_t* cstr = old + offsetof(w5_log_arg, cstr);
    std::memcpy(a.cstr, cstr, kLogArgTextLenV5);
    std::memcpy(a.ngx_str, cstr + kLogArgTextLenV5, kLogArgTextLenV5);
  }
  std::memcpy(converted.data(), &e, sizeof(e));
}

std::span<const uint8_t> in_current_wire(uint32_t wire_version, const std::vector<uint8_t>& bytes,
                                         std::vector<uint8_t>& converted) {
  if (bytes.size() < sizeof(w5_header)) return bytes;
  w5_header h;
  std::memcpy(&h, bytes.data(), sizeof(h));
  if (wire_version < 6 && h.type == W5_EV_NGX_LOG && bytes.size() == kNgxLogSizeV5 && h.size == kNgxLogSizeV5) {
    convert_log_args_from_v5(bytes, converted);
    return converted;
  }
  if (h.type == W5_EV_NGX_LOG && bytes.size() == kNgxLogSizeV1 && h.size == kNgxLogSizeV1) {
    converted.assign(sizeof(w5_ngx_log), 0);
    std::memcpy(converted.data(), bytes.data(), kNgxLogRequestsV1);
    h.size = sizeof(w5_ngx_log);
    std::memcpy(converted.data(), &h, sizeof(h));
    return converted;
  }
  if (wire_version < 2 && h.type == W5_EV_NGX_ERROR_PAGE && bytes.size() == sizeof(w5_ngx_error_page)) {
    converted = bytes;
    std::memset(converted.data() + offsetof(w5_ngx_error_page, requests), 0, sizeof(uint32_t));
    return converted;
  }
  return bytes;
}

}  // namespace

Result<void> Replay::add(const std::string& file, const Contents& contents) {
  report_.files.push_back(file);
  // The first file's clock: each rotated file repeats the same offset.
  if (!have_clock_) {
    report_.clock = WallClock(contents.clock_offset_ns);
    have_clock_ = true;
  }
  if (contents.truncated) {
    report_.cut_off = true;
    report_.cut_off_note = file + " was cut off at offset " + std::to_string(contents.truncated_at) +
                           " (the recording stopped abruptly); everything before it is reported";
  }
  live_records_.insert(live_records_.end(), contents.records.begin(), contents.records.end());
  for (const SkippedRegion& s : contents.skipped) report_.skipped.push_back({file, s.offset, s.bytes, s.problem});
  std::vector<uint8_t> converted;
  for (const auto& bytes : contents.events) {
    const std::optional<EventPump::Taken> taken = pump_.take(in_current_wire(contents.wire_version, bytes, converted));
    if (!taken) return Error{file + ": a recorded event is invalid: " + pump_.decode_error()};
    const int64_t wall = report_.clock.to_realtime_ns(header_of(taken->event).ts_ns);
    if (!report_.first_ns || wall < *report_.first_ns) report_.first_ns = wall;
    if (!report_.last_ns || wall > *report_.last_ns) report_.last_ns = wall;
    ++report_.events;
    pump_.deliver(taken->event, taken->bytes);
  }
  return {};
}

Report Replay::finish(std::optional<int64_t> since, std::optional<int64_t> until) {
  pump_.finish();
  for (Record& r : pump_.take_records()) {
    const int64_t wall = report_.clock.to_realtime_ns(r.ts_ns);
    if ((since && wall < *since) || (until && wall >= *until)) continue;
    report_.records.push_back(std::move(r));
  }
  summarise(report_);
  return std::move(report_);
}

}  // namespace why502::recording
