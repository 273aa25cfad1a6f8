// What each kernel-side BPF program of why502 is for, said as what a reader
// of the records loses when it cannot attach. The programs themselves come
// from the BPF object (ProbeSession walks it); this is only their meaning.
#pragma once

#include <string_view>

namespace why502 {

// "" for a program this table does not know (a unit test keeps the table
// complete against the object).
std::string_view lost_without(std::string_view program);

}  // namespace why502
