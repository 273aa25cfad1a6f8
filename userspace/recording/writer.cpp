#include "recording/writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/fatal_error.hpp"
#include "output/clock.hpp"
#include "why502_version.hpp"
#include "why502_wire.h"

namespace why502::recording {

std::vector<uint8_t> encode_header(std::string_view metadata) {
  std::vector<uint8_t> out(kMagic, kMagic + sizeof(kMagic));
  auto append_u32 = [&out](uint32_t value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    out.insert(out.end(), p, p + sizeof(value));
  };
  append_u32(kFormatVersion);
  append_u32(W5_WIRE_VERSION);
  append_u32(static_cast<uint32_t>(metadata.size()));
  out.insert(out.end(), metadata.begin(), metadata.end());
  return out;
}

Writer::Writer(std::string path, int64_t clock_offset_ns, uint64_t rotate_bytes)
    : path_(std::move(path)), clock_offset_ns_(clock_offset_ns), rotate_bytes_(rotate_bytes) {
  open_next_file();
}

Writer::~Writer() {
  try {
    flush(0, true);
  } catch (...) {
    // Destructors must not throw; the last block is lost and that is all.
  }
  if (fd_ >= 0) close(fd_);
}

void Writer::open_next_file() {
  if (fd_ >= 0) close(fd_);
  const std::string name = files_.empty() ? path_ : path_ + "." + std::to_string(files_.size());
  fd_ = open(name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd_ < 0) throw FatalError("cannot create " + name + ": " + std::strerror(errno));
  fchmod(fd_, 0600);  // whatever the umask: recordings name clients and upstreams
  files_.push_back(name);
  file_bytes_ = 0;

  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const std::string metadata = std::string("{\"why502\":\"" WHY502_VERSION "\",\"clock_offset_ns\":") +
                               std::to_string(clock_offset_ns_) + ",\"started\":\"" +
                               format_rfc3339_us(static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec) +
                               "\",\"host\":\"" + host + "\"}";
  const std::vector<uint8_t> header = encode_header(metadata);
  write_all(header.data(), header.size());
}

void Writer::write_all(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw FatalError("writing the recording failed: " + std::string(std::strerror(errno)));
    p += n;
    size -= static_cast<size_t>(n);
    file_bytes_ += static_cast<uint64_t>(n);
  }
}

void Writer::add(EntryKind kind, const void* data, size_t size) {
  EntryHeader h{static_cast<uint8_t>(kind), {0, 0, 0}, static_cast<uint32_t>(size)};
  const auto* hp = reinterpret_cast<const uint8_t*>(&h);
  pending_.insert(pending_.end(), hp, hp + sizeof(h));
  const auto* dp = static_cast<const uint8_t*>(data);
  pending_.insert(pending_.end(), dp, dp + size);
  // Keep blocks well under the reader's limit even in a storm.
  if (pending_.size() > kMaxBlockBytes / 2) flush(0, true);
}

void Writer::add_event(std::span<const uint8_t> wire_bytes) { add(EntryKind::event, wire_bytes.data(), wire_bytes.size()); }

void Writer::add_record(std::string_view json) { add(EntryKind::record, json.data(), json.size()); }

void Writer::flush(uint64_t now_ns, bool force) {
  if (!force && now_ns - last_flush_ns_ < 1'000'000'000ull) return;
  last_flush_ns_ = now_ns;
  if (pending_.empty()) return;
  uLongf compressed_size = compressBound(pending_.size());
  std::vector<uint8_t> compressed(compressed_size);
  if (compress2(compressed.data(), &compressed_size, pending_.data(), pending_.size(), Z_BEST_SPEED) != Z_OK)
    throw FatalError("compressing the recording failed");
  BlockHeader h{kBlockMagic, static_cast<uint32_t>(compressed_size), static_cast<uint32_t>(pending_.size()),
                static_cast<uint32_t>(crc32(0, compressed.data(), static_cast<uInt>(compressed_size)))};
  if (rotate_bytes_ != 0 && file_bytes_ >= rotate_bytes_) open_next_file();
  write_all(&h, sizeof(h));
  write_all(compressed.data(), compressed_size);
  fdatasync(fd_);
  pending_.clear();
}

}  // namespace why502::recording
