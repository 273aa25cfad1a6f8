// An nginx binary as why502 reads its function symbols: read_elf_functions
// opens a path, so the input is written to a memfd and read back through
// /proc/self/fd/N — the same libelf calls on the same kind of descriptor.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "host/elf_symbols.hpp"

namespace {

int input_file() {
  static const int fd = [] {
    const int created = memfd_create("elf_symbols_fuzzer", MFD_CLOEXEC);
    if (created < 0) std::abort();  // nothing to fuzz without it
    return created;
  }();
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = input_file();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
  (void)why502::read_elf_functions("/proc/self/fd/" + std::to_string(fd));
  return 0;
}
