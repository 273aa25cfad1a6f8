#include "host/process_memory.hpp"

#include <sys/types.h>
#include <sys/uio.h>

namespace why502 {

size_t read_process_memory(uint32_t pid, uint64_t address, void* out, size_t len) {
  iovec local{out, len};
  iovec remote{reinterpret_cast<void*>(address), len};
  const ssize_t got = process_vm_readv(static_cast<pid_t>(pid), &local, 1, &remote, 1, 0);
  return got > 0 ? static_cast<size_t>(got) : 0;
}

}  // namespace why502
