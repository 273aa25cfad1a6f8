// Reads another process's memory (process_vm_readv: it faults pages in, as
// a uprobe cannot; needs CAP_SYS_PTRACE for another user's process).
#pragma once

#include <cstddef>
#include <cstdint>

namespace why502 {

// Up to len bytes at address in process pid's memory into out: the bytes
// read (fewer when the range runs into an unmapped page), 0 on failure.
size_t read_process_memory(uint32_t pid, uint64_t address, void* out, size_t len);

}  // namespace why502
