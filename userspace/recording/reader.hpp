// Reads a recording back, trusting nothing: every size is bounded, every block
// checked; a cut-off file yields what it has and says where it was cut, and a
// corrupt block is passed over to the next good one (unless strict).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "why502_wire.h"

namespace why502::recording {

// Bytes passed over between two good blocks (or from one to the end).
struct SkippedRegion {
  uint64_t offset = 0;  // where the bad block began
  uint64_t bytes = 0;
  std::string problem;  // what was wrong with it ("checksum mismatch", …)
};

struct Contents {
  std::string metadata;  // the header's JSON
  uint32_t format_version = 0;
  uint32_t wire_version = W5_WIRE_VERSION;  // of the events (format 1: kFormat1WireVersion)
  int64_t clock_offset_ns = 0;
  std::vector<std::vector<uint8_t>> events;
  std::vector<std::string> records;
  bool truncated = false;  // the file ends inside a block
  uint64_t truncated_at = 0;
  std::vector<SkippedRegion> skipped;  // corrupt blocks passed over, in file order
};

struct ReadOptions {
  // The first corrupt block is an error, as before corrupt blocks were
  // skipped (`report --strict`).
  bool strict = false;
};

// The error is one line naming the file (and the offset).
Result<Contents> read_file(const std::string& path, ReadOptions options = {});
Result<Contents> read_bytes(const std::vector<uint8_t>& bytes, const std::string& name, ReadOptions options = {});

}  // namespace why502::recording
