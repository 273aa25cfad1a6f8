// CONFIG_HZ from a kernel config, as /proc/config.gz holds it.
#include <sys/utsname.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "host/kernel_config.hpp"

namespace why502::test {
namespace {

uint32_t hz_of(const std::string& text) {
  std::istringstream config(text);
  return hz_in_config(config);
}

TEST(KernelConfig, ReadsConfigHz) {
  EXPECT_EQ(hz_of("# CONFIG_HZ_100 is not set\nCONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_SCHED_HRTICK=y\n"), 250u);
  EXPECT_EQ(hz_of("CONFIG_HZ=1000\n"), 1000u);
}

TEST(KernelConfig, MissingOrMalformedHzIsUnknown) {
  EXPECT_EQ(hz_of(""), 0u);
  EXPECT_EQ(hz_of("CONFIG_HZ_250=y\n"), 0u);
  EXPECT_EQ(hz_of("CONFIG_HZ=\n"), 0u);
  EXPECT_EQ(hz_of("CONFIG_HZ=25O\n"), 0u);
  EXPECT_EQ(hz_of("CONFIG_HZ=0\n"), 0u);
  EXPECT_EQ(hz_of("CONFIG_HZ=99999999999\n"), 0u);
}

TEST(KernelConfig, ThisKernelsHzIsReadFromItsConfig) {
  const uint32_t hz = kernel_hz();
  // Unknown (0) only on a kernel whose config is nowhere to be read.
  utsname name{};
  ASSERT_EQ(uname(&name), 0);
  const bool config_readable = access("/proc/config.gz", R_OK) == 0 ||
                               access((std::string("/boot/config-") + name.release).c_str(), R_OK) == 0;
  if (config_readable) EXPECT_TRUE(hz == 100 || hz == 250 || hz == 300 || hz == 1000) << hz;
  else EXPECT_EQ(hz, 0u);
}

}  // namespace
}  // namespace why502::test
