#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "cinergy/sampler/energy_source.hpp"
#include "temp_dir.hpp"

using namespace cinergy::sampler;
using cinergy::test::TempDir;

namespace {

void put(const std::filesystem::path& f, std::uint64_t reg, std::uint64_t value) {
  std::filesystem::create_directories(f.parent_path());
  int fd = ::open(f.c_str(), O_WRONLY | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, &value, 8, static_cast<off_t>(reg)), 8);
  ::close(fd);
}

// cpu0, cpu1 on package 0; cpu2 on package 1.
void topology(const TempDir& t) {
  t.write("sys/cpu0/topology/physical_package_id", "0\n");
  t.write("sys/cpu1/topology/physical_package_id", "0\n");
  t.write("sys/cpu2/topology/physical_package_id", "1\n");
  t.write("sys/cpufreq/policy0", "");
}

}  // namespace

TEST(Msr, IntelTwoPackagesUnitAndWrap) {
  TempDir t;
  topology(t);
  const auto m0 = t.path() / "dev/0/msr", m2 = t.path() / "dev/2/msr";
  put(m0, 0x606, 0xA0E03);  // ESU 14: 61.03515625 uJ
  put(m0, 0x611, 0xFFFFFF00u);
  put(m0, 0x639, 10);
  put(m0, 0x641, 20);
  put(m0, 0x619, 30);
  put(m0, 0x64D, 40);
  put(m2, 0x606, 0xA0E03);
  put(m2, 0x611, 1000);
  put(m2, 0x619, 2000);  // file ends here: 0x639/0x641/0x64D absent on package 1
  auto s = open_msr(t.path() / "dev", t.path() / "sys");
  ASSERT_TRUE(s) << s.error().what();
  std::vector<std::string> n;
  for (const auto& d : (*s)->domains()) n.push_back(d.name);
  EXPECT_EQ(n, (std::vector<std::string>{"package-0", "core-0", "uncore-0", "dram-0", "psys", "package-1",
                                         "dram-1", "package-global"}));
  EXPECT_EQ((*s)->domains()[0].max_energy_range_uj, 262144000000ull);  // 2^32 x 61.035 uJ
  std::vector<std::uint64_t> e(n.size());
  EXPECT_EQ((*s)->read(e), 0u);
  put(m0, 0x611, 0xABCD00000100ull);  // upper bits are reserved: masked; wrapped by 0x200 units
  put(m2, 0x611, 1000 + 16384);       // +1 J
  EXPECT_EQ((*s)->read(e), 0u);
  EXPECT_EQ(e[0], static_cast<std::uint64_t>(0x200 * 61.03515625));
  EXPECT_EQ(e[5], 1'000'000u);
  EXPECT_EQ(e[7], e[0] + e[5]);  // package-global: packages only, never psys
}

TEST(Msr, AmdPackageRegister) {
  TempDir t;
  t.write("sys/cpu0/topology/physical_package_id", "0\n");
  const auto m0 = t.path() / "dev/0/msr";
  // A fake file addresses bytes, the msr device registers: adjacent AMD
  // registers overlap here, so the unit (2 significant bytes) goes first.
  put(m0, 0xC0010299, 0x1003);  // ESU 16
  put(m0, 0xC001029B, 100);
  auto s = open_msr(t.path() / "dev", t.path() / "sys");
  ASSERT_TRUE(s) << s.error().what();
  ASSERT_EQ((*s)->domains().size(), 2u);
  EXPECT_EQ((*s)->domains()[0].name, "package-0");
  std::vector<std::uint64_t> e(2);
  (*s)->read(e);
  put(m0, 0xC001029B, 100 + 65536);  // 1 J
  (*s)->read(e);
  EXPECT_EQ(e[0], 1'000'000u);
}

TEST(Msr, Errors) {
  TempDir t;
  auto none = open_msr(t.path() / "dev", t.path() / "sys");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("topology"), std::string::npos);
  topology(t);
  auto nodev = open_msr(t.path() / "dev", t.path() / "sys");
  ASSERT_FALSE(nodev);
  EXPECT_NE(nodev.error().message.find("dev/0/msr"), std::string::npos);
  EXPECT_NE(nodev.error().message.find("modprobe msr"), std::string::npos);
  t.write("dev/0/msr", "");  // empty file: no power-unit register
  auto nounit = open_msr(t.path() / "dev", t.path() / "sys");
  ASSERT_FALSE(nounit);
  EXPECT_NE(nounit.error().message.find("power-unit"), std::string::npos);
}

TEST(Msr, ReadErrorCountedWhenRegisterDisappears) {
  TempDir t;
  t.write("sys/cpu0/topology/physical_package_id", "0\n");
  const auto m0 = t.path() / "dev/0/msr";
  put(m0, 0x606, 0xA0E03);
  put(m0, 0x611, 10);
  auto s = open_msr(t.path() / "dev", t.path() / "sys");
  ASSERT_TRUE(s);
  std::vector<std::uint64_t> e(2);
  (*s)->read(e);
  std::filesystem::resize_file(m0, 0x611);  // the register now reads short
  EXPECT_EQ((*s)->read(e), 1u);
  EXPECT_EQ(e[0], 0u);
}
