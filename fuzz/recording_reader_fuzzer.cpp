// A recording, as `why502 report` reads it: the reader, then — when it accepts
// the bytes — the replay through decode_event and the engine, and every report
// format, and --verify's comparison of the live records. A corrupt recording
// must end in an error, never a crash.
//
// Inputs that start with the recording magic are the file itself. Any other
// input is framed into a valid recording first (the text before the first NUL
// is the header's metadata, the rest one block's entries), so the fuzzer gets
// past the block checksum, which it could never forge, to what lies behind it.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "output/record_sink.hpp"
#include "output/report.hpp"
#include "recording/format.hpp"
#include "recording/reader.hpp"
#include "recording/replay.hpp"
#include "recording/verify.hpp"

namespace {

using namespace why502::recording;

template <typename T>
void append(std::vector<uint8_t>& out, const T& value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

std::vector<uint8_t> framed_recording(const uint8_t* data, size_t size) {
  const auto* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t metadata_bytes = nul ? static_cast<size_t>(nul - data) : size;
  const uint8_t* entries = nul ? nul + 1 : data + size;
  const size_t entries_bytes = static_cast<size_t>(data + size - entries);

  std::vector<uint8_t> out =
      encode_header(std::string_view(reinterpret_cast<const char*>(data), metadata_bytes));
  if (entries_bytes == 0) return out;

  uLongf compressed_bytes = compressBound(entries_bytes);
  std::vector<uint8_t> compressed(compressed_bytes);
  if (compress(compressed.data(), &compressed_bytes, entries, entries_bytes) != Z_OK) return out;
  BlockHeader block{kBlockMagic, static_cast<uint32_t>(compressed_bytes), static_cast<uint32_t>(entries_bytes),
                    static_cast<uint32_t>(crc32(0, compressed.data(), static_cast<uInt>(compressed_bytes)))};
  append(out, block);
  out.insert(out.end(), compressed.begin(), compressed.begin() + static_cast<long>(compressed_bytes));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bool is_file = size >= sizeof(kMagic) && std::memcmp(data, kMagic, sizeof(kMagic)) == 0;
  const std::vector<uint8_t> bytes = is_file ? std::vector<uint8_t>(data, data + size) : framed_recording(data, size);
  (void)read_bytes(bytes, "fuzz.w502", {.strict = true});
  const why502::Result<Contents> read = read_bytes(bytes, "fuzz.w502");
  if (!read) return 0;
  Replay replay;
  if (!replay.add("fuzz.w502", read.value())) return 0;  // an invalid event: `report` exits 2
  const why502::Report report = replay.finish(std::nullopt, std::nullopt);
  why502::report_text(report);
  why502::report_json(report);
  why502::report_html(report);
  // --verify: the recorded live records are outside data too.
  std::vector<std::string> replayed;
  for (const why502::Record& r : report.records) replayed.push_back(why502::record_to_json(r, report.clock));
  compare_records(replay.live_records(), replayed);
  return 0;
}
