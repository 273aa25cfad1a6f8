// The wire structs as clang laid them out for the BPF programs (the object's
// BTF) against the C++ side's layout: the same size, the same members at the
// same offsets with the same sizes, and no wire struct the C++ side forgot.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "events/wire_layout.hpp"

namespace why502 {
namespace {

struct BtfDeleter {
  void operator()(btf* b) const { btf__free(b); }
};

std::unique_ptr<btf, BtfDeleter> object_btf() {
  btf* b = btf__parse(WHY502_BPF_OBJECT, nullptr);
  EXPECT_NE(b, nullptr) << "cannot read the BTF of " << WHY502_BPF_OBJECT;
  return std::unique_ptr<btf, BtfDeleter>(b);
}

TEST(WireLayout, EveryWireStructIsInTheBpfObjectsBtfLaidOutAsInCpp) {
  auto b = object_btf();
  ASSERT_TRUE(b);
  for (const WireStruct& s : kWireStructs) {
    SCOPED_TRACE(std::string(s.name));
    const int id = btf__find_by_name_kind(b.get(), std::string(s.name).c_str(), BTF_KIND_STRUCT);
    ASSERT_GT(id, 0) << "not in the object's BTF";
    const btf_type* t = btf__type_by_id(b.get(), id);
    EXPECT_EQ(t->size, s.size);
    std::vector<WireField> fields;
    for (const WireField& f : kWireFields)
      if (f.struct_name == s.name) fields.push_back(f);
    ASSERT_EQ(btf_vlen(t), fields.size()) << "members in BTF vs fields in wire_layout.hpp";
    const btf_member* m = btf_members(t);
    for (size_t i = 0; i < fields.size(); ++i, ++m) {
      EXPECT_EQ(btf__name_by_offset(b.get(), m->name_off), fields[i].name);
      EXPECT_EQ(btf_member_bit_offset(t, static_cast<uint32_t>(i)), fields[i].offset * 8) << fields[i].name;
      EXPECT_EQ(btf_member_bitfield_size(t, static_cast<uint32_t>(i)), 0u) << fields[i].name;
      EXPECT_EQ(btf__resolve_size(b.get(), m->type), static_cast<long>(fields[i].size)) << fields[i].name;
    }
  }
}

// A struct added to why502_wire.h and used by the BPF side must be listed too.
TEST(WireLayout, NoWireStructOfTheBpfObjectIsMissingFromTheCppList) {
  auto b = object_btf();
  ASSERT_TRUE(b);
  std::set<std::string> listed;
  for (const WireStruct& s : kWireStructs) listed.insert(std::string(s.name));
  const uint32_t types = btf__type_cnt(b.get());
  for (uint32_t id = 1; id < types; ++id) {
    const btf_type* t = btf__type_by_id(b.get(), id);
    if (!btf_is_struct(t)) continue;
    const std::string name = btf__name_by_offset(b.get(), t->name_off);
    if (name.rfind("w5_", 0) != 0 || name == "w5_wire_structs") continue;  // the anchor in why502.bpf.c
    EXPECT_TRUE(listed.count(name)) << name << " is in the BPF object but not in events/wire_layout.hpp";
  }
}

}  // namespace
}  // namespace why502
