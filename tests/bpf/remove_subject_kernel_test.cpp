// Kernel tier: subjects that come and go (CpuAccounting::remove_subject), as
// `cinergy serve` adds and removes VMs and cgroups for days. A removed
// subject's slot is reused by a later one; the tasks of the removed subject,
// still running, and directories the kernel created under it must never
// count for the new owner, and the other subjects must go on exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "kernel_support.hpp"
#include "requirements.hpp"

namespace cinergy::bpf {
namespace {
namespace fs = std::filesystem;
using test::Child;
using test::TestCgroup;

#define REQUIRE_BPF_TIER()                             \
  do {                                                 \
    CINERGY_REQUIRE_BPF_TIER();                        \
    CINERGY_REQUIRE_PROGRAM("stress-ng", "stress-ng"); \
  } while (0)

std::unique_ptr<CpuAccounting> open_bpf() {
  Options o;
  o.backend = "bpf";
  auto r = open_cpu_accounting(o);
  EXPECT_TRUE(r) << r.error().what();
  return r ? std::move(*r) : nullptr;
}

std::vector<std::uint64_t> read_series(CpuAccounting& a) {
  std::vector<std::uint64_t> s(a.series().size()), busy(a.cpu_count());
  EXPECT_EQ(a.read(s, busy), 0u);
  return s;
}

// The series index of a subject's total.
std::size_t total_of(const CpuAccounting& a, std::size_t subject) {
  const auto& s = a.series();
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i].subject_index == subject && s[i].is_total) return i;
  ADD_FAILURE() << "no series of subject " << subject;
  return 0;
}

// Within 2 % or 10 ms (see kernel_test.cpp: a task running when it is
// registered may lose one slice).
bool close_enough(double got_ns, double want_ns) {
  return std::abs(got_ns - want_ns) <= std::max(0.02 * want_ns, 10e6);
}

// A keeps burning in its own directory and in a directory the kernel created
// under it after it was added (registered by the program, unknown to user
// space) while it is removed; C, added next, takes A's freed slot. C must
// read exactly its own cpu.stat, and B, added between them, must be
// unaffected by both changes.
TEST(BpfRemoveSubject, AFreedSlotCountsOnlyForItsNewOwner) {
  REQUIRE_BPF_TIER();
  const auto root = test::cgroup2_root_or_empty();
  TestCgroup a_cg(root, "rm-a"), b_cg(root, "rm-b"), c_cg(root, "rm-c");
  auto acc = open_bpf();
  ASSERT_TRUE(acc);
  auto a = acc->add_subject({SubjectKind::cgroup, a_cg.path().string(), "a"});
  auto b = acc->add_subject({SubjectKind::cgroup, b_cg.path().string(), "b"});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, 0u);
  EXPECT_EQ(*b, 1u);
  const auto a_sub = a_cg.mkdir("sub");  // inherited by the program: A's slot
  Child a_burn({"stress-ng", "-c", "1", "-t", "12", "--quiet"}, a_cg.path());
  Child a_sub_burn({"stress-ng", "-c", "1", "-l", "60", "-t", "12", "--quiet"}, a_sub);
  Child b_burn({"stress-ng", "-c", "1", "-l", "40", "-t", "12", "--quiet"}, b_cg.path());
  std::this_thread::sleep_for(std::chrono::milliseconds(800));

  const auto ub0 = test::cpu_stat_usage_ns(b_cg.path());
  const auto before = read_series(*acc);
  const std::uint64_t b_before = before[total_of(*acc, *b)];
  EXPECT_GT(before[total_of(*acc, *a)], 100'000'000u) << "A did not run";

  ASSERT_TRUE(acc->remove_subject(*a));
  ASSERT_EQ(acc->series().size(), 1u);
  EXPECT_EQ(acc->series()[0].name, "b");
  EXPECT_EQ(acc->series()[0].subject_index, *b);
  EXPECT_FALSE(acc->subject_alive(*a));
  EXPECT_FALSE(acc->remove_subject(*a)) << "removed twice";
  // B's value is kept across the change (same series, monotone).
  EXPECT_GE(read_series(*acc)[0], b_before);

  auto c = acc->add_subject({SubjectKind::cgroup, c_cg.path().string(), "c"});
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(*c, 0u) << "the lowest free index is handed out again";
  Child c_burn({"stress-ng", "-c", "1", "-l", "30", "-t", "3", "--quiet"}, c_cg.path());
  const auto uc0 = test::cpu_stat_usage_ns(c_cg.path());
  const auto r0 = read_series(*acc);
  EXPECT_EQ(c_burn.wait(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto r1 = read_series(*acc);
  const auto uc1 = test::cpu_stat_usage_ns(c_cg.path());
  const auto ub1 = test::cpu_stat_usage_ns(b_cg.path());
  ASSERT_TRUE(ub0 && ub1 && uc0 && uc1);
  const std::size_t cs = total_of(*acc, *c), bs = total_of(*acc, *b);
  const double want_c = double(*uc1 - *uc0), got_c = double(r1[cs] - r0[cs]);
  const double want_b = double(*ub1 - *ub0), got_b = double(r1[bs] - b_before);
  std::printf(
      "[measure] reused slot: c cpu.stat %.3f s, bpf %.3f s (a burned beside it, removed); b "
      "across both changes cpu.stat %.3f s, bpf %.3f s\n",
      want_c / 1e9, got_c / 1e9, want_b / 1e9, got_b / 1e9);
  EXPECT_GT(want_c, 0.3e9);
  EXPECT_TRUE(close_enough(got_c, want_c)) << "C counts A's tasks or loses its own";
  EXPECT_TRUE(close_enough(got_b, want_b)) << "B disturbed by the removal or the add";
}

// Thousands of subjects, each added and removed (the daemon's life): the
// 1023 slots are never exhausted, every index comes back, and a subject
// added at the end is still exact.
TEST(BpfRemoveSubject, SubjectsComeAndGoWithoutBound) {
  REQUIRE_BPF_TIER();
  const auto root = test::cgroup2_root_or_empty();
  TestCgroup parent(root, "rm-churn");
  auto acc = open_bpf();
  ASSERT_TRUE(acc);
  Child sleeper({"sleep", "60"});
  constexpr int kRounds = 1500;  // x 2 subjects: well past the 1023 slots
  for (int i = 0; i < kRounds; ++i) {
    const auto dir = parent.path() / ("c" + std::to_string(i));
    ASSERT_TRUE(make_cgroup(dir)) << dir;
    ASSERT_TRUE(make_cgroup(dir / "child")) << dir;
    auto cg = acc->add_subject({SubjectKind::cgroup, dir.string(), "c"});
    auto pid = acc->add_subject({SubjectKind::pid, std::to_string(sleeper.pid()), "p"});
    ASSERT_TRUE(cg) << "round " << i << ": " << cg.error().what();
    ASSERT_TRUE(pid) << "round " << i << ": " << pid.error().what();
    ASSERT_EQ(acc->series().size(), 3u);  // c, c/child, p
    ASSERT_TRUE(acc->remove_subject(*cg));
    ASSERT_TRUE(acc->remove_subject(*pid));
    ASSERT_TRUE(acc->series().empty());
    ASSERT_TRUE(remove_cgroup_dir(dir / "child"));
    ASSERT_TRUE(remove_cgroup_dir(dir));
  }
  TestCgroup last(root, "rm-churn-last");
  auto idx = acc->add_subject({SubjectKind::cgroup, last.path().string(), "last"});
  ASSERT_TRUE(idx) << idx.error().what();
  EXPECT_EQ(*idx, 0u);
  const auto u0 = test::cpu_stat_usage_ns(last.path());
  const auto r0 = read_series(*acc);
  Child burn({"stress-ng", "-c", "1", "-l", "50", "-t", "2", "--quiet"}, last.path());
  EXPECT_EQ(burn.wait(), 0);
  const auto r1 = read_series(*acc);
  const auto u1 = test::cpu_stat_usage_ns(last.path());
  ASSERT_TRUE(u0 && u1);
  const double want = double(*u1 - *u0), got = double(r1[0] - r0[0]);
  std::printf("[measure] after %d subjects added and removed: cpu.stat %.3f s, bpf %.3f s\n",
              2 * kRounds, want / 1e9, got / 1e9);
  EXPECT_GT(want, 0.3e9);
  EXPECT_TRUE(close_enough(got, want));
}

}  // namespace
}  // namespace cinergy::bpf
