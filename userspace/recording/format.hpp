// The recording format (see docs/RECORDING.md): a header, then framed blocks,
// each zlib-compressed with a CRC-32, holding the raw events and the records.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace why502::recording {

inline constexpr char kMagic[8] = {'W', 'H', 'Y', '5', '0', '2', 'R', '\n'};
// The header's layout. Format 1 (why502 until 2026-12): magic, version,
// metadata length, metadata. Format 2 adds the wire version of its events
// after the format version.
inline constexpr uint32_t kFormatVersion = 2;
// Format 1 has no wire version: its events are wire version 1, the only one
// there was when format 1 was written.
inline constexpr uint32_t kFormat1WireVersion = 1;
inline constexpr uint32_t kBlockMagic = 0x314b4c42;  // "BLK1" little-endian
inline constexpr uint32_t kMaxHeaderBytes = 64 * 1024;
inline constexpr uint32_t kMaxBlockBytes = 4 * 1024 * 1024;  // raw or compressed

enum class EntryKind : uint8_t {
  event = 1,   // wire bytes of one event, as the engine saw it
  record = 2,  // one record as JSON, as it was reported live
};

// Every integer is little-endian (x86-64 only, like the rest of why502).
struct BlockHeader {
  uint32_t magic;
  uint32_t compressed_bytes;
  uint32_t raw_bytes;
  uint32_t crc32;  // of the compressed bytes
};

struct EntryHeader {
  uint8_t kind;
  uint8_t pad[3];
  uint32_t bytes;
};

static_assert(sizeof(BlockHeader) == 16);
static_assert(sizeof(EntryHeader) == 8);

// The header of a recording of this format, its events of this why502's wire
// version (W5_WIRE_VERSION), with this metadata (JSON, at most kMaxHeaderBytes).
std::vector<uint8_t> encode_header(std::string_view metadata);

}  // namespace why502::recording
