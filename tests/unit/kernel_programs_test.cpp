// The table of what each kernel program is for must know every tracepoint
// program of the BPF object: opening the object needs no privileges.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <string>

#include "host/kernel_programs.hpp"
#include "why502.skel.h"

namespace why502 {
namespace {

TEST(KernelPrograms, EveryTracepointProgramSaysWhatIsLostWithoutIt) {
  why502_bpf* skel = why502_bpf__open();
  ASSERT_NE(skel, nullptr);
  int tracepoint_programs = 0;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) {
    const std::string hook = bpf_program__section_name(prog);
    if (hook.rfind("uprobe", 0) == 0) continue;
    ++tracepoint_programs;
    // Raw tracepoints only: a classic tracepoint needs tracefs, which a
    // freshly booted host may not have mounted.
    EXPECT_EQ(hook.rfind("raw_tracepoint/", 0), 0u) << bpf_program__name(prog) << " is on " << hook;
    EXPECT_FALSE(lost_without(bpf_program__name(prog)).empty()) << bpf_program__name(prog);
  }
  EXPECT_GE(tracepoint_programs, 10);
  why502_bpf__destroy(skel);
}

TEST(KernelPrograms, UnknownProgramHasNoMeaning) { EXPECT_TRUE(lost_without("on_something_else").empty()); }

}  // namespace
}  // namespace why502
