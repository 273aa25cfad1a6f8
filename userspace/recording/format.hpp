// The recording format (see docs/RECORDING.md): a header, then framed blocks,
// each zlib-compressed with a CRC-32, holding the raw events and the records.
#pragma once

#include <cstdint>

namespace why502::recording {

inline constexpr char kMagic[8] = {'W', 'H', 'Y', '5', '0', '2', 'R', '\n'};
inline constexpr uint32_t kVersion = 1;
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

}  // namespace why502::recording
