// The wire contract (events/wire_layout.hpp) checked at compile time: a
// struct of why502_wire.h that grew, shrank or moved a field fails the build
// here, before any recording of the old layout is misread.
#include "events/wire_layout.hpp"

namespace why502 {

#define W5_ASSERT_SIZE(s, size) \
  static_assert(sizeof(s) == (size), #s " changed size: a new wire version (see wire_layout.hpp)");
W5_WIRE_STRUCTS(W5_ASSERT_SIZE)
#undef W5_ASSERT_SIZE

#define W5_ASSERT_OFFSET(s, f, offset) \
  static_assert(offsetof(s, f) == (offset), #s "." #f " moved: a new wire version (see wire_layout.hpp)");
W5_WIRE_FIELDS(W5_ASSERT_OFFSET)
#undef W5_ASSERT_OFFSET

// The fields listed are all there is: between them and after the last one
// there is at most alignment padding (less than 8 bytes), so no field is left
// unchecked. (The unit test against BTF also counts the members.)
constexpr bool every_field_listed() {
  for (const WireStruct& s : kWireStructs) {
    size_t end = 0;  // of the previous field
    for (const WireField& f : kWireFields) {
      if (f.struct_name != s.name) continue;
      if (f.offset < end || f.offset - end >= 8) return false;
      end = f.offset + f.size;
    }
    if (end > s.size || s.size - end >= 8) return false;
  }
  return true;
}
static_assert(every_field_listed(), "a wire struct has a field wire_layout.hpp does not list");

}  // namespace why502
