// Reads a recording back, trusting nothing: every size is bounded, every block
// checked; a cut-off file yields what it has and says where it was cut.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace why502::recording {

struct Contents {
  std::string metadata;  // the header's JSON
  int64_t clock_offset_ns = 0;
  std::vector<std::vector<uint8_t>> events;
  std::vector<std::string> records;
  bool truncated = false;  // the file ends inside a block
  uint64_t truncated_at = 0;
};

struct ReadResult {
  bool ok = false;
  std::string error;  // names the file and the offset
  Contents contents;
};

ReadResult read_file(const std::string& path);
ReadResult read_bytes(const std::vector<uint8_t>& bytes, const std::string& name);

}  // namespace why502::recording
