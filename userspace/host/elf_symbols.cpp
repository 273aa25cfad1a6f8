#include "host/elf_symbols.hpp"

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
    if (!name || !*name) continue;
    out.names.insert(name);
    // A symbol's value is an address: its section maps it to the file.
    GElf_Shdr code;
    if (sym.st_shndx < SHN_LORESERVE && gelf_getshdr(elf_getscn(elf, sym.st_shndx), &code) && code.sh_addr <= sym.st_value)
      out.file_offsets.emplace(name, sym.st_value - code.sh_addr + code.sh_offset);
  }
}

// Opens path as an ELF file.
Result<void> open_elf(const std::string& path, ElfFile& file) {
  if (elf_version(EV_CURRENT) == EV_NONE) return Error{"libelf initialisation failed"};
  file.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) return Error{"cannot open " + path + ": " + std::strerror(errno)};
  file.elf = elf_begin(file.fd, ELF_C_READ, nullptr);
  if (!file.elf || elf_kind(file.elf) != ELF_K_ELF) return Error{path + " is not an ELF file"};
  return {};
}

}  // namespace

Result<ElfFunctions> read_elf_functions(const std::string& path) {
  ElfFile file;
  if (Result<void> opened = open_elf(path, file); !opened) return Error{opened.error()};
  ElfFunctions out;
  Elf_Scn* section = nullptr;
  while ((section = elf_nextscn(file.elf, section)) != nullptr) {
    GElf_Shdr header;
    if (!gelf_getshdr(section, &header)) continue;
    if (header.sh_type == SHT_DYNSYM || header.sh_type == SHT_SYMTAB) collect_functions(file.elf, section, header, out);
  }
  return out;
}

Result<std::string> read_elf_section(const std::string& path, const std::string& name) {
  ElfFile file;
  if (Result<void> opened = open_elf(path, file); !opened) return Error{opened.error()};
  size_t names_index = 0;
  if (elf_getshdrstrndx(file.elf, &names_index) != 0) return Error{path + " has no section names"};
  Elf_Scn* section = nullptr;
  while ((section = elf_nextscn(file.elf, section)) != nullptr) {
    GElf_Shdr header;
    if (!gelf_getshdr(section, &header)) continue;
    const char* section_name = elf_strptr(file.elf, names_index, header.sh_name);
    if (!section_name || name != section_name) continue;
    if (header.sh_type == SHT_NOBITS) break;
    std::string bytes;
    Elf_Data* data = nullptr;
    while ((data = elf_rawdata(section, data)) != nullptr)
      if (data->d_buf) bytes.append(static_cast<const char*>(data->d_buf), data->d_size);
    return bytes;
  }
  return Error{path + " has no " + name + " section"};
}

}  // namespace why502
