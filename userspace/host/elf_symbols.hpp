// Function symbols of an ELF file (dynamic and static tables) and the bytes of
// one of its sections, read with libelf.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>

#include "common/result.hpp"

namespace why502 {

struct ElfFunctions {
  std::unordered_set<std::string> names;
  // Where each function's code is in the file: what a uprobe is placed at.
  std::unordered_map<std::string, uint64_t> file_offsets;
};

// The error says why the file could not be read.
Result<ElfFunctions> read_elf_functions(const std::string& path);

// The bytes of the section called name (e.g. ".rodata"); the error says why
// the file or the section could not be read.
Result<std::string> read_elf_section(const std::string& path, const std::string& name);

}  // namespace why502
