// Function symbols of an ELF file (dynamic and static tables) and the bytes of
// one of its sections, read with libelf.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>

namespace why502 {

struct ElfFunctions {
  bool ok = false;
  std::string error;  // why the file could not be read
  std::unordered_set<std::string> names;
  // Where each function's code is in the file: what a uprobe is placed at.
  std::unordered_map<std::string, uint64_t> file_offsets;
};

ElfFunctions read_elf_functions(const std::string& path);

struct ElfSection {
  bool ok = false;
  std::string error;  // why the file or the section could not be read
  std::string bytes;
};

// The contents of the section called name (e.g. ".rodata").
ElfSection read_elf_section(const std::string& path, const std::string& name);

}  // namespace why502
