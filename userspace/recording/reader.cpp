#include "recording/reader.hpp"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "recording/format.hpp"

namespace why502::recording {
namespace {

template <typename T>
bool take(const std::vector<uint8_t>& bytes, size_t& offset, T& out) {
  if (bytes.size() - offset < sizeof(T)) return false;
  std::memcpy(&out, bytes.data() + offset, sizeof(T));
  offset += sizeof(T);
  return true;
}

ReadResult fail(const std::string& name, uint64_t offset, const std::string& what) {
  ReadResult r;
  r.error = name + ": " + what + " at offset " + std::to_string(offset);
  return r;
}

// The wall clock minus CLOCK_MONOTONIC: today's offset is about 2^60 ns. Past
// ±2^62 it is garbage, and event time + offset could overflow (event times
// stay below 2^62, see decode_event).
constexpr int64_t kMaxClockOffsetNs = int64_t{1} << 62;

int64_t clock_offset_of(const std::string& metadata) {
  const std::string key = "\"clock_offset_ns\":";
  auto pos = metadata.find(key);
  if (pos == std::string::npos) return 0;
  return std::strtoll(metadata.c_str() + pos + key.size(), nullptr, 10);
}

}  // namespace

ReadResult read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ReadResult r;
    r.error = "cannot open " + path;
    return r;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return read_bytes(bytes, path);
}

ReadResult read_bytes(const std::vector<uint8_t>& bytes, const std::string& name) {
  size_t offset = 0;
  char magic[sizeof(kMagic)];
  if (!take(bytes, offset, magic) || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0)
    return fail(name, 0, "not a why502 recording (bad magic)");
  uint32_t version = 0, header_bytes = 0;
  if (!take(bytes, offset, version)) return fail(name, offset, "cut off inside the header");
  if (version != kVersion)
    return fail(name, offset - 4, "recording format version " + std::to_string(version) + " (this why502 reads " +
                                      std::to_string(kVersion) + ")");
  if (!take(bytes, offset, header_bytes)) return fail(name, offset, "cut off inside the header");
  if (header_bytes > kMaxHeaderBytes) return fail(name, offset - 4, "header size " + std::to_string(header_bytes) + " is implausible");
  if (bytes.size() - offset < header_bytes) return fail(name, offset, "cut off inside the header");

  ReadResult result;
  Contents& c = result.contents;
  c.metadata.assign(reinterpret_cast<const char*>(bytes.data() + offset), header_bytes);
  c.clock_offset_ns = clock_offset_of(c.metadata);
  if (c.clock_offset_ns > kMaxClockOffsetNs || c.clock_offset_ns < -kMaxClockOffsetNs)
    return fail(name, offset, "clock offset " + std::to_string(c.clock_offset_ns) + " ns is implausible");
  offset += header_bytes;

  std::vector<uint8_t> raw;
  while (offset < bytes.size()) {
    const size_t block_start = offset;
    BlockHeader h{};
    if (!take(bytes, offset, h)) {
      c.truncated = true;
      c.truncated_at = block_start;
      break;
    }
    if (h.magic != kBlockMagic) return fail(name, block_start, "corrupt block (bad block magic)");
    if (h.compressed_bytes > kMaxBlockBytes || h.raw_bytes > kMaxBlockBytes)
      return fail(name, block_start, "corrupt block (implausible size)");
    if (bytes.size() - offset < h.compressed_bytes) {
      c.truncated = true;
      c.truncated_at = block_start;
      break;
    }
    const uint8_t* payload = bytes.data() + offset;
    if (crc32(0, payload, h.compressed_bytes) != h.crc32) return fail(name, block_start, "corrupt block (checksum mismatch)");
    raw.assign(h.raw_bytes, 0);
    uLongf raw_size = h.raw_bytes;
    if (uncompress(raw.data(), &raw_size, payload, h.compressed_bytes) != Z_OK || raw_size != h.raw_bytes)
      return fail(name, block_start, "corrupt block (does not decompress)");
    offset += h.compressed_bytes;

    size_t entry_offset = 0;
    while (entry_offset < raw.size()) {
      EntryHeader e{};
      if (!take(raw, entry_offset, e) || raw.size() - entry_offset < e.bytes)
        return fail(name, block_start, "corrupt block (entry overruns the block)");
      const uint8_t* data = raw.data() + entry_offset;
      if (e.kind == static_cast<uint8_t>(EntryKind::event))
        c.events.emplace_back(data, data + e.bytes);
      else if (e.kind == static_cast<uint8_t>(EntryKind::record))
        c.records.emplace_back(reinterpret_cast<const char*>(data), e.bytes);
      else
        return fail(name, block_start, "corrupt block (unknown entry kind " + std::to_string(e.kind) + ")");
      entry_offset += e.bytes;
    }
  }
  result.ok = true;
  return result;
}

}  // namespace why502::recording
