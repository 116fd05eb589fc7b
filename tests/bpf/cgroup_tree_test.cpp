#include "cgroup_tree.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "temp_dir.hpp"

namespace cinergy::bpf::detail {
namespace {

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
