#include "loader/elf_symbols.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace why502 {
namespace {

// RAII for the descriptor and the libelf handle.
struct ElfFile {
  int fd = -1;
  Elf* elf = nullptr;
  ~ElfFile() {
    if (elf) elf_end(elf);
    if (fd >= 0) close(fd);
  }
};

void collect_functions(Elf* elf, Elf_Scn* section, const GElf_Shdr& header, ElfFunctions& out) {
  Elf_Data* data = elf_getdata(section, nullptr);
  if (!data || header.sh_entsize == 0) return;
  const size_t count = header.sh_size / header.sh_entsize;
  for (size_t i = 0; i < count; ++i) {
    GElf_Sym sym;
    if (!gelf_getsym(data, static_cast<int>(i), &sym)) break;
    if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
    const char* name = elf_strptr(elf, header.sh_link, sym.st_name);
    if (name && *name) out.names.insert(name);
  }
}

}  // namespace

ElfFunctions read_elf_functions(const std::string& path) {
  ElfFunctions out;
  if (elf_version(EV_CURRENT) == EV_NONE) {
    out.error = "libelf initialisation failed";
    return out;
  }
  ElfFile file;
  file.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) {
    out.error = "cannot open " + path + ": " + std::strerror(errno);
    return out;
  }
  file.elf = elf_begin(file.fd, ELF_C_READ, nullptr);
  if (!file.elf || elf_kind(file.elf) != ELF_K_ELF) {
    out.error = path + " is not an ELF file";
    return out;
  }
  Elf_Scn* section = nullptr;
  while ((section = elf_nextscn(file.elf, section)) != nullptr) {
    GElf_Shdr header;
    if (!gelf_getshdr(section, &header)) continue;
    if (header.sh_type == SHT_DYNSYM || header.sh_type == SHT_SYMTAB) collect_functions(file.elf, section, header, out);
  }
  out.ok = true;
  return out;
}

}  // namespace why502
