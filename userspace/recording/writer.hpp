// Writes a recording as it happens: entries are buffered and written as one
// compressed block at least every second, then fdatasync'd, so a SIGKILL or a
// power loss costs at most the last second. Files are created 0600.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "recording/format.hpp"

namespace why502::recording {

class Writer {
 public:
  // rotate_bytes 0: one file. Otherwise, once a file reaches that size the
  // next block goes to PATH.1, then PATH.2, … (each a complete recording).
  Writer(std::string path, int64_t clock_offset_ns, uint64_t rotate_bytes = 0);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void add_event(std::span<const uint8_t> wire_bytes);
  void add_record(std::string_view json);
  // Writes the pending block if a second passed since the last one (or force).
  void flush(uint64_t now_monotonic_ns, bool force = false);
  const std::vector<std::string>& files() const { return files_; }

 private:
  void open_next_file();
  void write_all(const void* data, size_t size);
  void add(EntryKind kind, const void* data, size_t size);

  std::string path_;
  int64_t clock_offset_ns_;
  uint64_t rotate_bytes_;
  int fd_ = -1;
  uint64_t file_bytes_ = 0;
  uint64_t last_flush_ns_ = 0;
  std::vector<uint8_t> pending_;
  std::vector<std::string> files_;
};

}  // namespace why502::recording
