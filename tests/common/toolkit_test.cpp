// Unit tier of the common toolkit: files, CSV fields, CPU lists, UTC
// timestamps, the host topology and cgroup directories on fake trees.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <fstream>

#include "cinergy/common/cgroup.hpp"
#include "cinergy/common/cpu_list.hpp"
#include "cinergy/common/csv.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/time_format.hpp"
#include "cinergy/common/topology.hpp"
#include "temp_dir.hpp"

namespace cinergy {
namespace {

using namespace std::chrono_literals;
using cinergy::test::TempDir;

TEST(Files, ReadTrimWriteAtomic) {
  TempDir dir;
  const auto f = dir.write("attr", "  0-3\n");
  EXPECT_EQ(read_file(f).value(), "  0-3\n");
  EXPECT_EQ(read_trimmed(f).value(), "0-3");
  EXPECT_FALSE(read_trimmed(dir.path() / "missing"));
  auto missing = read_file(dir.path() / "missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errno_value, ENOENT);
  EXPECT_NE(missing.error().message.find("missing"), std::string::npos);
  EXPECT_FALSE(write_file(dir.path() / "new", "x")) << "no O_CREAT unless asked";
  EXPECT_TRUE(write_file(dir.path() / "new", "x", true));
  EXPECT_TRUE(write_atomic(dir.path() / "m.json", "{}\n"));
  EXPECT_EQ(read_file(dir.path() / "m.json").value(), "{}\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "m.json.tmp"));
  EXPECT_FALSE(write_atomic(dir.path() / "no-dir" / "m.json", "{}"));
  EXPECT_EQ(trim(" \t a b \r\n"), "a b");
}

TEST(Csv, SplitAndNumbers) {
  EXPECT_EQ(split_csv("a,,b\r"), (std::vector<std::string_view>{"a", "", "b"}));
  EXPECT_EQ(split_csv(""), (std::vector<std::string_view>{""}));
  std::vector<std::string_view> reused;
  split_csv("1,2", reused);
  split_csv("3", reused);
  EXPECT_EQ(reused, (std::vector<std::string_view>{"3"}));
  EXPECT_EQ(split_csv_quoted(R"(1,"Server, 2U","say ""hi""",)"),
            (std::vector<std::string>{"1", "Server, 2U", "say \"hi\"", ""}));
  EXPECT_EQ(parse_double(" 41.2 ").value(), 41.2);
  EXPECT_EQ(parse_double("+2101000.0").value(), 2101000.0);
  EXPECT_EQ(parse_double("-0.5").value(), -0.5);
  EXPECT_TRUE(std::isnan(parse_double("nan").value()));
  EXPECT_FALSE(parse_double(""));
  EXPECT_FALSE(parse_double("1.5x"));
  EXPECT_FALSE(parse_double("watt"));
}

TEST(CpuList, ParseAndFormat) {
  struct Case {
    const char* text;
    std::vector<int> cpus;
  };
  for (const auto& c :
       {Case{"0", {0}}, Case{"0\n", {0}}, Case{"0,18", {0, 18}}, Case{"0-3,8", {0, 1, 2, 3, 8}},
        Case{" 2-3 , 0 ", {0, 2, 3}}, Case{"1,1-2", {1, 2}}}) {
    auto r = parse_cpu_list(c.text);
    ASSERT_TRUE(r) << c.text << ": " << r.error().what();
    EXPECT_EQ(*r, c.cpus) << c.text;
  }
  for (const char* bad : {"", "\n", "3-1", "a", "1,,2", "-1", "1-", "0-99999999"}) {
    auto r = parse_cpu_list(bad);
    EXPECT_FALSE(r) << "'" << bad << "'";
    if (!r) {
      EXPECT_NE(r.error().message.find("bad CPU list"), std::string::npos);
    }
  }
  EXPECT_EQ(format_cpu_list({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(format_cpu_list({5}), "5");
  EXPECT_EQ(format_cpu_list({}), "");
}

TEST(TimeFormat, CompactAndIso) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764577800123));
  EXPECT_EQ(utc_compact(t), "20251201T083000Z");
  EXPECT_EQ(utc_iso8601_ms(t), "2025-12-01T08:30:00.123Z");
}

TEST(Topology, FromAFakeSysfsTree) {
  TempDir sys;
  sys.write("online", "0-3\n");
  for (int c = 0; c < 4; ++c) {
    const auto t = "cpu" + std::to_string(c) + "/topology/";
    sys.write(t + "physical_package_id", c < 2 ? "1\n" : "0\n");
    sys.write(t + "core_id", std::to_string(c % 2) + "\n");
  }
  auto topo = read_topology(sys.path());
  ASSERT_TRUE(topo) << topo.error().what();
  EXPECT_EQ(topo->socket_cpus, (std::vector<std::vector<int>>{{2, 3}, {0, 1}}));
  EXPECT_EQ(topo->threads(), 4);
  EXPECT_EQ(topo->cores, 4);
  EXPECT_EQ(topo->cpu_socket(), (std::vector<int>{1, 1, 0, 0}));
  EXPECT_EQ(topo->first_cpu_of_each_socket(), (std::vector<int>{2, 0}));
  sys.write("online", "x");
  EXPECT_FALSE(read_topology(sys.path()));
  EXPECT_FALSE(read_topology(sys.path() / "none"));
  EXPECT_GT(monotonic_ns(), 0);
}

TEST(Cgroup, Cgroup1ControllerMountFromMountinfo) {
  constexpr const char* hybrid =
      "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 30 0:29 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
      "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
      "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(parse_cgroup1_mount(hybrid, "cpu").value(), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(parse_cgroup1_mount(hybrid, "cpuacct").value(), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(parse_cgroup1_mount(hybrid, "cpuset").value(), "/sys/fs/cgroup/cpuset");
  EXPECT_EQ(parse_cgroup1_mount("1 0 0:1 / /c\\040g rw - cgroup cgroup rw,cpu\n", "cpu").value(),
            "/c g");
  // Only whole controller names count, and never a cgroup2 or other mount.
  EXPECT_FALSE(parse_cgroup1_mount("1 0 0:1 / /x rw - cgroup cgroup rw,cpuset\n", "cpu"));
  EXPECT_FALSE(parse_cgroup1_mount("1 0 0:1 / /x rw - cgroup2 cgroup2 rw,cpu\n", "cpu"));
  auto none = parse_cgroup1_mount(
      "25 20 0:23 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate\n", "cpu");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("cpu controller"), std::string::npos);
  TempDir dir;
  const auto mi = dir.write("mountinfo", hybrid);
  EXPECT_EQ(cgroup1_mount("cpu", mi).value(), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_FALSE(cgroup1_mount("cpu", dir.path() / "missing"));
}

TEST(Cgroup, Cgroup2MountFromMountinfo) {
  constexpr const char* hybrid =
      "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
  constexpr const char* unified =
      "25 20 0:23 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
  EXPECT_EQ(parse_cgroup2_mount(hybrid).value(), "/sys/fs/cgroup/unified");
  EXPECT_EQ(parse_cgroup2_mount(unified).value(), "/sys/fs/cgroup");
  EXPECT_EQ(parse_cgroup2_mount("1 0 0:1 / /a\\040b rw - cgroup2 none rw\n").value(), "/a b");
  // Pure cgroup2 wins over a second mount listed first.
  EXPECT_EQ(parse_cgroup2_mount(std::string("9 1 0:9 / /mnt/cg rw - cgroup2 none rw\n") + unified)
                .value(),
            "/sys/fs/cgroup");
  for (const char* text :
       {"", "garbage without separator\n", "22 1 0:21 / /sys rw - sysfs sysfs rw\n"})
    EXPECT_FALSE(parse_cgroup2_mount(text)) << text;
  auto none = parse_cgroup2_mount("31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("cgroup2"), std::string::npos);
  TempDir dir;
  EXPECT_EQ(cgroup2_mount(dir.write("mountinfo", hybrid)).value(), "/sys/fs/cgroup/unified");
  auto missing = cgroup2_mount(dir.path() / "absent");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errno_value, ENOENT);
  EXPECT_NE(missing.error().message.find("absent"), std::string::npos);
}

TEST(Cgroup, MakeKillRemoveOnAFakeTree) {
  TempDir root;
  const auto dir = root.path() / "cinergy-x";
  ASSERT_TRUE(make_cgroup(dir));
  auto again = make_cgroup(dir);
  ASSERT_FALSE(again) << "never adopts an existing directory";
  EXPECT_EQ(again.error().errno_value, EEXIST);
  EXPECT_TRUE(cgroup_pids(dir).empty());
  EXPECT_FALSE(cgroup_populated(dir));
  // A fake process that "dies" when signalled.
  root.write("cinergy-x/cgroup.procs", "4242\n");
  EXPECT_EQ(cgroup_pids(dir), (std::vector<pid_t>{4242}));
  EXPECT_TRUE(cgroup_populated(dir));
  std::vector<pid_t> killed;
  auto r = kill_cgroup(dir, 2s, [&](pid_t p) {
    killed.push_back(p);
    root.write("cinergy-x/cgroup.procs", "");
  });
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(killed, (std::vector<pid_t>{4242}));
  // One that never leaves: a timeout naming the cgroup and the count.
  root.write("cinergy-x/cgroup.procs", "7\n8\n");
  int polls = 0;
  auto stuck = kill_cgroup(
      dir, 50ms, [](pid_t) {}, [&] { ++polls; });
  ASSERT_FALSE(stuck);
  EXPECT_NE(stuck.error().message.find("still holds 2 process(es)"), std::string::npos)
      << stuck.error().message;
  EXPECT_GT(polls, 1);
  root.write("cinergy-x/cgroup.events", "populated 0\n");
  EXPECT_FALSE(cgroup_populated(dir)) << "cgroup.events wins over cgroup.procs";
  root.write("cinergy-x/vcpu0/cgroup.procs", "");
  ASSERT_TRUE(kill_and_remove_cgroup(dir, 1s));
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_TRUE(kill_and_remove_cgroup(dir, 1s)) << "a missing directory is fine";
  EXPECT_TRUE(remove_cgroup_dir(dir));
}

}  // namespace
}  // namespace cinergy
