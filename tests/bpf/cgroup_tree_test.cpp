#include "cgroup_tree.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "temp_dir.hpp"

namespace cinergy::bpf::detail {
namespace {

constexpr const char* kHybrid =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr const char* kPure =
    "22 1 0:21 / /sys rw - sysfs sysfs rw\n"
    "30 22 0:27 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
constexpr const char* kNone = "22 1 0:21 / /sys rw - sysfs sysfs rw\n";
constexpr const char* kEscaped = "40 30 0:37 / /mnt/my\\040cg rw - cgroup2 none rw\n";
// A second cgroup2 mount elsewhere must not hide /sys/fs/cgroup.
constexpr const char* kTwo =
    "40 30 0:37 / /mnt/cg2 rw - cgroup2 none rw\n"
    "41 30 0:37 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";

TEST(MountInfo, FindsCgroup2InEachLayout) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {{kHybrid, "/sys/fs/cgroup/unified"},
               {kPure, "/sys/fs/cgroup"},
               {kNone, ""},
               {kEscaped, "/mnt/my cg"},
               {kTwo, "/sys/fs/cgroup"},
               {"", ""},
               {"garbage without separator\n", ""}};
  for (const auto& c : cases) EXPECT_EQ(parse_mountinfo_cgroup2(c.text), c.want) << c.text;
}

TEST(MountInfo, DetectFromInjectedFile) {
  test::TempDir tmp;
  auto hybrid = tmp.write("hybrid", kHybrid);
  auto none = tmp.write("none", kNone);
  auto r = detect_cgroup2_root(hybrid);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(*r, "/sys/fs/cgroup/unified");
  auto n = detect_cgroup2_root(none);
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().message.find("no cgroup2"), std::string::npos);
  auto missing = detect_cgroup2_root(tmp.path() / "absent");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errno_value, ENOENT);
  EXPECT_NE(missing.error().message.find("absent"), std::string::npos);
}

TEST(CgroupPath, ResolvesEveryAcceptedForm) {
  const std::filesystem::path root = "/sys/fs/cgroup/unified";
  struct Case {
    const char* target;
    const char* want;
  } cases[] = {
      {"machine/vm1", "/sys/fs/cgroup/unified/machine/vm1"},
      {"/sys/fs/cgroup/unified/machine/vm1", "/sys/fs/cgroup/unified/machine/vm1"},
      {"/machine/vm1", "/sys/fs/cgroup/unified/machine/vm1"},  // as /proc/PID/cgroup prints it
      {"machine/vm1/", "/sys/fs/cgroup/unified/machine/vm1"},
      {"./noise", "/sys/fs/cgroup/unified/noise"},
      {"/", "/sys/fs/cgroup/unified"},
      {"/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified"},
      {"../etc", ""},
      {"a/../../etc", ""},
      {"", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(resolve_cgroup_dir(root, c.target), c.want) << c.target;
  // Pure v2 root.
  EXPECT_EQ(resolve_cgroup_dir("/sys/fs/cgroup", "/sys/fs/cgroup/x"), "/sys/fs/cgroup/x");
}

TEST(CgroupPath, DefaultLabel) {
  EXPECT_EQ(default_cgroup_label("machine/qemu-1-vm.libvirt-qemu"), "qemu-1-vm.libvirt-qemu");
  EXPECT_EQ(default_cgroup_label("noise/"), "noise");
  EXPECT_EQ(default_cgroup_label("noise"), "noise");
}

TEST(CgroupTree, ListsSubtreeWithTopChild) {
  test::TempDir tmp;
  auto vm = tmp.path() / "vm";
  for (auto d : {"vm/vcpu1", "vm/vcpu0/inner", "vm/emulator"})
    std::filesystem::create_directories(tmp.path() / d);
  tmp.write("vm/cpu.stat", "usage_usec 1\n");  // files are not nodes
  auto r = list_cgroup_subtree(vm);
  ASSERT_TRUE(r) << r.error().what();
  const auto& n = *r;
  ASSERT_EQ(n.size(), 5u);
  EXPECT_EQ(n[0].dir, vm);
  EXPECT_EQ(n[0].top_child, -1);
  EXPECT_EQ(n[1].dir, vm / "emulator");
  EXPECT_EQ(n[1].top_child, 1);
  EXPECT_EQ(n[2].dir, vm / "vcpu0");
  EXPECT_EQ(n[2].top_child, 2);
  EXPECT_EQ(n[3].dir, vm / "vcpu0" / "inner");
  EXPECT_EQ(n[3].top_child, 2);  // belongs to vcpu0's series
  EXPECT_EQ(n[4].dir, vm / "vcpu1");
  EXPECT_EQ(n[4].top_child, 4);
  struct stat st {};
  ASSERT_EQ(::stat(vm.c_str(), &st), 0);
  EXPECT_EQ(n[0].id, st.st_ino);  // cgroup id = directory inode
  auto missing = list_cgroup_subtree(tmp.path() / "nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
}

}  // namespace
}  // namespace cinergy::bpf::detail
