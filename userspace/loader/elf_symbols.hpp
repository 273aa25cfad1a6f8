// Function symbols of an ELF file (dynamic and static tables), read with libelf.
#pragma once

#include <string>
#include <unordered_set>

namespace why502 {

struct ElfFunctions {
  bool ok = false;
  std::string error;  // why the file could not be read
  std::unordered_set<std::string> names;
};

ElfFunctions read_elf_functions(const std::string& path);

}  // namespace why502
