#include "recording/reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "recording/format.hpp"
#include "why502_wire.h"

namespace why502::recording {
namespace {

template <typename T>
bool take(const std::vector<uint8_t>& bytes, size_t& offset, T& out) {
  if (bytes.size() - offset < sizeof(T)) return false;
  std::memcpy(&out, bytes.data() + offset, sizeof(T));
  offset += sizeof(T);
  return true;
}

Error fail(const std::string& what) { return Error{what}; }

Error fail(const std::string& name, uint64_t offset, const std::string& what) {
  return fail(name + ": " + what + " at offset " + std::to_string(offset));
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

enum class BlockStatus { ok, incomplete, corrupt };

struct BlockRead {
  BlockStatus status = BlockStatus::ok;
  std::string problem;  // when not ok: what is wrong ("checksum mismatch")
  size_t end = 0;       // when ok: where the next block starts
};

// Reads the block at start into c. A block that is not ok adds nothing.
BlockRead read_block(const std::vector<uint8_t>& bytes, size_t start, Contents& c, std::vector<uint8_t>& raw) {
  BlockRead out;
  auto bad = [&out](BlockStatus status, std::string problem) {
    out.status = status;
    out.problem = std::move(problem);
    return out;
  };
  size_t offset = start;
  BlockHeader h{};
  if (!take(bytes, offset, h)) return bad(BlockStatus::incomplete, "a block header runs past the end of the file");
  if (h.magic != kBlockMagic) return bad(BlockStatus::corrupt, "bad block magic");
  if (h.compressed_bytes > kMaxBlockBytes || h.raw_bytes > kMaxBlockBytes)
    return bad(BlockStatus::corrupt, "implausible size");
  if (bytes.size() - offset < h.compressed_bytes) return bad(BlockStatus::incomplete, "a block runs past the end of the file");
  const uint8_t* payload = bytes.data() + offset;
  if (crc32(0, payload, h.compressed_bytes) != h.crc32) return bad(BlockStatus::corrupt, "checksum mismatch");
  raw.assign(h.raw_bytes, 0);
  uLongf raw_size = h.raw_bytes;
  if (uncompress(raw.data(), &raw_size, payload, h.compressed_bytes) != Z_OK || raw_size != h.raw_bytes)
    return bad(BlockStatus::corrupt, "does not decompress");

  const size_t events_before = c.events.size(), records_before = c.records.size();
  auto corrupt_entries = [&](std::string problem) {
    c.events.resize(events_before);
    c.records.resize(records_before);
    return bad(BlockStatus::corrupt, std::move(problem));
  };
  size_t entry_offset = 0;
  while (entry_offset < raw.size()) {
    EntryHeader e{};
    if (!take(raw, entry_offset, e) || raw.size() - entry_offset < e.bytes)
      return corrupt_entries("entry overruns the block");
    const uint8_t* data = raw.data() + entry_offset;
    if (e.kind == static_cast<uint8_t>(EntryKind::event))
      c.events.emplace_back(data, data + e.bytes);
    else if (e.kind == static_cast<uint8_t>(EntryKind::record))
      c.records.emplace_back(reinterpret_cast<const char*>(data), e.bytes);
    else
      return corrupt_entries("unknown entry kind " + std::to_string(e.kind));
    entry_offset += e.bytes;
  }
  out.end = offset + h.compressed_bytes;
  return out;
}

// The first good block at or after from, read into c; bytes.size() if none.
size_t next_good_block(const std::vector<uint8_t>& bytes, size_t from, Contents& c, std::vector<uint8_t>& raw,
                       size_t& end) {
  uint8_t magic[sizeof(kBlockMagic)];
  std::memcpy(magic, &kBlockMagic, sizeof(magic));
  while (from < bytes.size()) {
    const auto* hit = static_cast<const uint8_t*>(memmem(bytes.data() + from, bytes.size() - from, magic, sizeof(magic)));
    if (!hit) break;
    const size_t at = static_cast<size_t>(hit - bytes.data());
    const BlockRead block = read_block(bytes, at, c, raw);
    if (block.status == BlockStatus::ok) {
      end = block.end;
      return at;
    }
    from = at + 1;
  }
  return bytes.size();
}

}  // namespace

Result<Contents> read_file(const std::string& path, ReadOptions options) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return fail("cannot open " + path + ": " + std::strerror(error) +
                (error == EACCES ? " (run as a user who may read it, e.g. with sudo)" : ""));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st{};
  if (fstat(fd, &st) != 0) return fail("cannot read " + path + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return fail(path + " is a directory: give the recording file itself (the -o FILE of record)");
  if (!S_ISREG(st.st_mode)) return fail(path + " is not a regular file: give the recording file (the -o FILE of record)");
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t have = 0;
  while (true) {
    if (have == bytes.size()) bytes.resize(bytes.size() + 65536);  // the file may grow while it is read
    const ssize_t n = read(fd, bytes.data() + have, bytes.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot read " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  bytes.resize(have);
  return read_bytes(bytes, path, options);
}

Result<Contents> read_bytes(const std::vector<uint8_t>& bytes, const std::string& name, ReadOptions options) {
  if (bytes.empty()) return fail(name + ": empty file, not a why502 recording (record wrote nothing into it)");
  size_t offset = 0;
  char magic[sizeof(kMagic)];
  if (!take(bytes, offset, magic) || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0)
    return fail(name, 0, "not a why502 recording (bad magic)");
  Contents c;
  if (!take(bytes, offset, c.format_version)) return fail(name, offset, "cut off inside the header");
  if (c.format_version < 1 || c.format_version > kFormatVersion)
    return fail(name, offset - 4,
                "recording format version " + std::to_string(c.format_version) + " (this why502 reads 1 to " +
                    std::to_string(kFormatVersion) + "; a newer why502 may read it)");
  if (c.format_version == 1) {
    c.wire_version = kFormat1WireVersion;
  } else {
    if (!take(bytes, offset, c.wire_version)) return fail(name, offset, "cut off inside the header");
    if (c.wire_version < 1 || c.wire_version > W5_WIRE_VERSION)
      return fail(name, offset - 4,
                  "events of wire version " + std::to_string(c.wire_version) + " (this why502 reads 1 to " +
                      std::to_string(W5_WIRE_VERSION) + "; a newer why502 may read them)");
  }
  uint32_t header_bytes = 0;
  if (!take(bytes, offset, header_bytes)) return fail(name, offset, "cut off inside the header");
  if (header_bytes > kMaxHeaderBytes) return fail(name, offset - 4, "header size " + std::to_string(header_bytes) + " is implausible");
  if (bytes.size() - offset < header_bytes) return fail(name, offset, "cut off inside the header");

  c.metadata.assign(reinterpret_cast<const char*>(bytes.data() + offset), header_bytes);
  c.clock_offset_ns = clock_offset_of(c.metadata);
  if (c.clock_offset_ns > kMaxClockOffsetNs || c.clock_offset_ns < -kMaxClockOffsetNs)
    return fail(name, offset, "clock offset " + std::to_string(c.clock_offset_ns) + " ns is implausible");
  offset += header_bytes;

  std::vector<uint8_t> raw;
  while (offset < bytes.size()) {
    const size_t block_start = offset;
    const BlockRead block = read_block(bytes, block_start, c, raw);
    if (block.status == BlockStatus::ok) {
      offset = block.end;
      continue;
    }
    if (options.strict) {
      if (block.status == BlockStatus::corrupt) return fail(name, block_start, "corrupt block (" + block.problem + ")");
      c.truncated = true;
      c.truncated_at = block_start;
      break;
    }
    // A bad block: whatever good block follows it is still worth reading.
    size_t end = 0;
    const size_t next = next_good_block(bytes, block_start + 1, c, raw, end);
    if (next == bytes.size() && block.status == BlockStatus::incomplete) {
      c.truncated = true;  // the last block was being written: nothing is lost but it
      c.truncated_at = block_start;
      break;
    }
    c.skipped.push_back({block_start, next - block_start, block.problem});
    offset = next == bytes.size() ? next : end;
  }
  return c;
}

}  // namespace why502::recording
