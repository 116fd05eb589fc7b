#include <sys/stat.h>

#include <gtest/gtest.h>

#include "cinergy/sampler/energy_source.hpp"
#include "temp_dir.hpp"

using namespace cinergy::sampler;
using cinergy::test::TempDir;

namespace {

void zone(const TempDir& t, const std::string& id, const std::string& name, std::uint64_t energy,
          std::uint64_t range = 262143328850ull) {
  t.write(id + "/name", name + "\n");
  t.write(id + "/energy_uj", std::to_string(energy) + "\n");
  t.write(id + "/max_energy_range_uj", std::to_string(range) + "\n");
}

// Two packages with sub-zones, psys, and entries that are not RAPL zones.
void two_socket_tree(const TempDir& t) {
  zone(t, "intel-rapl:0", "package-0", 1000);
  zone(t, "intel-rapl:0:0", "core", 2000);
  zone(t, "intel-rapl:0:1", "dram", 3000);
  zone(t, "intel-rapl:1", "package-1", 4000);
  zone(t, "intel-rapl:1:0", "dram", 5000);
  zone(t, "intel-rapl:2", "psys", 6000);
  zone(t, "intel-rapl-mmio:0", "package-0", 7000);  // MMIO duplicate: not a RAPL MSR zone
  t.write("intel-rapl/enabled", "1\n");              // the control type directory
}

std::vector<std::string> names(const EnergySource& s) {
  std::vector<std::string> n;
  for (const auto& d : s.domains()) n.push_back(d.name);
  return n;
}

}  // namespace

TEST(Powercap, NamesDomainsAsTheOriginalFormat) {
  TempDir t;
  two_socket_tree(t);
  auto s = open_powercap(t.path());
  ASSERT_TRUE(s) << s.error().what();
  EXPECT_EQ(names(**s), (std::vector<std::string>{"package-0", "core-0", "dram-0", "package-1", "dram-1",
                                                  "psys", "package-global"}));
  EXPECT_EQ((*s)->kind(), "powercap");
  EXPECT_FALSE((*s)->simulated());
  EXPECT_EQ((*s)->domains()[0].max_energy_range_uj, 262143328850ull);
  EXPECT_EQ((*s)->domains()[4].package, 1);
}

TEST(Powercap, CumulativeFromFirstReadAndGlobalIsPackagesOnly) {
  TempDir t;
  two_socket_tree(t);
  auto s = open_powercap(t.path());
  ASSERT_TRUE(s);
  std::vector<std::uint64_t> e(7, 99);
  EXPECT_EQ((*s)->read(e), 0u);
  EXPECT_EQ(e, (std::vector<std::uint64_t>(7, 0)));
  t.write("intel-rapl:0/energy_uj", "1500\n");   // +500
  t.write("intel-rapl:1/energy_uj", "4100\n");   // +100
  t.write("intel-rapl:2/energy_uj", "96000\n");  // psys +90000: not in the global sum
  t.write("intel-rapl:0:1/energy_uj", "3070\n");
  EXPECT_EQ((*s)->read(e), 0u);
  EXPECT_EQ(e, (std::vector<std::uint64_t>{500, 0, 70, 100, 0, 90000, 600}));
}

TEST(Powercap, CorrectsWrapAtMaxEnergyRange) {
  TempDir t;
  zone(t, "intel-rapl:0", "package-0", 999'900, 1'000'000);
  auto s = open_powercap(t.path());
  ASSERT_TRUE(s);
  std::vector<std::uint64_t> e(2);
  (*s)->read(e);
  t.write("intel-rapl:0/energy_uj", "300\n");
  EXPECT_EQ((*s)->read(e), 0u);
  EXPECT_EQ(e[0], 400u);  // 100 to the wrap + 300 after it
  EXPECT_EQ(e[1], 400u);
  t.write("intel-rapl:0/energy_uj", "999999\n");
  t.write("intel-rapl:0/energy_uj", "1000\n");  // one read missed in between: still one wrap
  (*s)->read(e);
  EXPECT_EQ(e[0], 400u + 700u);
}

TEST(Powercap, GarbageOrEmptyReadDuringSamplingIsCountedAndValueKept) {
  TempDir t;
  zone(t, "intel-rapl:0", "package-0", 100);
  zone(t, "intel-rapl:0:0", "core", 100);
  auto s = open_powercap(t.path());
  ASSERT_TRUE(s);
  std::vector<std::uint64_t> e(3);
  (*s)->read(e);
  t.write("intel-rapl:0/energy_uj", "200\n");
  (*s)->read(e);
  EXPECT_EQ(e[0], 100u);
  t.write("intel-rapl:0/energy_uj", "garbage\n");
  t.write("intel-rapl:0:0/energy_uj", "");
  EXPECT_EQ((*s)->read(e), 2u);
  EXPECT_EQ(e[0], 100u);
  EXPECT_EQ(e[1], 0u);
  t.write("intel-rapl:0/energy_uj", "999999999999999\n");  // above max_energy_range_uj
  EXPECT_EQ((*s)->read(e), 2u);
  t.write("intel-rapl:0/energy_uj", "250\n");
  t.write("intel-rapl:0:0/energy_uj", "130\n");
  EXPECT_EQ((*s)->read(e), 0u);
  EXPECT_EQ(e[0], 150u);
  EXPECT_EQ(e[1], 30u);
}

TEST(Powercap, SetupErrorsNameTheFile) {
  {
    auto s = open_powercap("/nonexistent/powercap");
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("/nonexistent/powercap"), std::string::npos);
    EXPECT_NE(s.error().message.find("--powercap-root"), std::string::npos);
  }
  {
    TempDir t;
    t.write("intel-rapl/enabled", "1\n");
    auto s = open_powercap(t.path());
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("no intel-rapl:* zone"), std::string::npos);
    EXPECT_NE(s.error().message.find("--source sim"), std::string::npos);
  }
  {
    TempDir t;
    zone(t, "intel-rapl:0", "package-0", 1);
    std::filesystem::remove(t.path() / "intel-rapl:0/energy_uj");
    auto s = open_powercap(t.path());
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("intel-rapl:0/energy_uj"), std::string::npos);
    EXPECT_EQ(s.error().errno_value, ENOENT);
  }
  {
    // Unreadable energy_uj: a directory reads with EISDIR even as root.
    TempDir t;
    zone(t, "intel-rapl:0", "package-0", 1);
    std::filesystem::remove(t.path() / "intel-rapl:0/energy_uj");
    std::filesystem::create_directory(t.path() / "intel-rapl:0/energy_uj");
    auto s = open_powercap(t.path());
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("cannot read"), std::string::npos);
    EXPECT_NE(s.error().message.find("energy_uj"), std::string::npos);
  }
  {
    TempDir t;
    zone(t, "intel-rapl:0", "package-0", 1);
    t.write("intel-rapl:0/max_energy_range_uj", "lots\n");
    auto s = open_powercap(t.path());
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("max_energy_range_uj"), std::string::npos);
  }
  {
    TempDir t;
    zone(t, "intel-rapl:0", "package-0", 1);
    std::filesystem::remove(t.path() / "intel-rapl:0/name");
    auto s = open_powercap(t.path());
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("intel-rapl:0/name"), std::string::npos);
  }
}

TEST(Powercap, UnreadableFileAsNonRoot) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads mode-000 files; covered by the EISDIR case";
  TempDir t;
  zone(t, "intel-rapl:0", "package-0", 1);
  ::chmod((t.path() / "intel-rapl:0/energy_uj").c_str(), 0);
  auto s = open_powercap(t.path());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("run as root"), std::string::npos);
}
