// The procfs backend on fake /proc and cgroup2 trees.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "temp_dir.hpp"

namespace cinergy::bpf {
namespace {
namespace fs = std::filesystem;

class FakeHost : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_.write("proc/stat",
               "cpu  0 0 0 0 0 0 0 0 0 0\n"
               "cpu0 100 0 0 500 0 0 0 0 0 0\n"
               "cpu1 200 0 0 500 0 0 0 0 0 0\n");
    cg("vm", 1000);
    cg("vm/vcpu0", 400);
    cg("vm/vcpu0/inner", 100);
    cg("vm/emulator", 50);
    cg("noise", 7);
    task(100, 100, 5'000, 'S');
    task(100, 101, 2'000, 'R');
    task(200, 200, 9'000, 'R');
  }
  void cg(const std::string& rel, std::uint64_t usage_usec) {
    tmp_.write("cg/" + rel + "/cpu.stat",
               "usage_usec " + std::to_string(usage_usec) + "\nuser_usec 0\nsystem_usec 0\n");
  }
  // A task of /proc: its status (Tgid), schedstat (runtime) and stat (state
  // and start time in clock ticks, field 22; comm holds ") " on purpose).
  void task(int tgid, int tid, std::uint64_t runtime_ns, char state, std::uint64_t start = 77) {
    auto t = std::to_string(tid);
    if (tgid == tid)
      tmp_.write("proc/" + t + "/status", "Name:\tx\nTgid:\t" + std::to_string(tgid) + "\n");
    else
      tmp_.write("proc/" + t + "/status", "Name:\tx\nTgid:\t" + std::to_string(tgid) + "\n");
    auto dir = "proc/" + std::to_string(tgid) + "/task/" + t + "/";
    tmp_.write(dir + "schedstat", std::to_string(runtime_ns) + " 0 0\n");
    std::string fields_4_to_21;
    for (int f = 4; f <= 21; ++f) fields_4_to_21 += " 1";
    tmp_.write(dir + "stat", t + " (a) b) " + std::string(1, state) + fields_4_to_21 + " " +
                                 std::to_string(start) + " 0 0\n");
  }
  std::unique_ptr<CpuAccounting> open() {
    Options o;
    o.backend = "procfs";
    o.cgroup2_root = tmp_.path() / "cg";
    o.proc_root = tmp_.path() / "proc";
    auto r = open_cpu_accounting(o);
    EXPECT_TRUE(r) << r.error().what();
    return std::move(*r);
  }
  std::vector<std::uint64_t> read(CpuAccounting& a, std::size_t* errors = nullptr) {
    std::vector<std::uint64_t> v(a.series().size(), ~0ull);
    busy_.assign(a.cpu_count(), ~0ull);
    auto e = a.read(v, busy_);
    if (errors) *errors = e;
    return v;
  }
  test::TempDir tmp_;
  std::vector<std::uint64_t> busy_;
};

TEST_F(FakeHost, ReportsProcfsWithoutReasonWhenAskedFor) {
  auto a = open();
  EXPECT_EQ(a->backend(), "procfs");
  EXPECT_EQ(a->fallback_reason(), "");
  EXPECT_EQ(a->cpu_count(), 2u);
}

TEST_F(FakeHost, CgroupSubtreeTotalAndChildrenSinceAdd) {
  auto a = open();
  auto idx = a->add_subject({SubjectKind::cgroup, "vm", ""});
  ASSERT_TRUE(idx) << idx.error().what();
  EXPECT_EQ(*idx, 0u);
  ASSERT_EQ(a->series().size(), 3u);
  EXPECT_EQ(a->series()[0].name, "vm");
  EXPECT_TRUE(a->series()[0].is_total);
  EXPECT_EQ(a->series()[1].name, "vm/emulator");
  EXPECT_EQ(a->series()[2].name, "vm/vcpu0");
  EXPECT_FALSE(a->series()[2].is_total);
  EXPECT_EQ(read(*a), (std::vector<std::uint64_t>{0, 0, 0}));

  cg("vm", 3000);  // cgroup2 usage_usec is hierarchical: the total is read at the top
  cg("vm/vcpu0", 1400);
  std::size_t errors = 99;
  EXPECT_EQ(read(*a, &errors), (std::vector<std::uint64_t>{2'000'000, 0, 1'000'000}));
  EXPECT_EQ(errors, 0u);

  cg("vm", 2500);  // never backwards
  EXPECT_EQ(read(*a)[0], 2'000'000u);
  EXPECT_TRUE(a->subject_alive(0));
  EXPECT_FALSE(a->subject_alive(1));
}

TEST_F(FakeHost, LabelsAndSeveralSubjects) {
  auto a = open();
  ASSERT_TRUE(a->add_subject({SubjectKind::cgroup, "/noise", "bg"}));
  ASSERT_TRUE(a->add_subject({SubjectKind::pid, "100", ""}));
  ASSERT_TRUE(a->add_subject({SubjectKind::tid, "101", "t"}));
  ASSERT_EQ(a->series().size(), 3u);
  EXPECT_EQ(a->series()[0].name, "bg");
  EXPECT_EQ(a->series()[1].name, "100");
  EXPECT_EQ(a->series()[1].subject_index, 1u);
  EXPECT_EQ(a->series()[2].name, "t");
  task(100, 101, 2'500, 'R');
  EXPECT_EQ(read(*a), (std::vector<std::uint64_t>{0, 500, 500}));
}

TEST_F(FakeHost, ProcessKeepsTimeOfExitedThreads) {
  auto a = open();
  ASSERT_TRUE(a->add_subject({SubjectKind::pid, "100", ""}));
  task(100, 101, 3'000, 'R');
  EXPECT_EQ(read(*a)[0], 1'000u);
  fs::remove_all(tmp_.path() / "proc/100/task/101");  // thread exits
  task(100, 102, 10, 'R');                            // a new thread
  EXPECT_EQ(read(*a)[0], 1'010u);
  task(100, 100, 5'100, 'S');
  EXPECT_EQ(read(*a)[0], 1'110u);
}

TEST_F(FakeHost, EndedSubjectKeepsLastValueWithoutError) {
  auto a = open();
  ASSERT_TRUE(a->add_subject({SubjectKind::tid, "200", ""}));
  ASSERT_TRUE(a->add_subject({SubjectKind::pid, "100", ""}));
  task(200, 200, 9'500, 'R');
  EXPECT_EQ(read(*a)[0], 500u);
  EXPECT_TRUE(a->subject_alive(0));
  task(200, 200, 9'500, 'Z');
  EXPECT_FALSE(a->subject_alive(0));
  fs::remove_all(tmp_.path() / "proc/100");
  std::size_t errors = 99;
  auto v = read(*a, &errors);
  EXPECT_EQ(v[1], 0u);
  EXPECT_EQ(errors, 0u);
  EXPECT_FALSE(a->subject_alive(1));
  EXPECT_FALSE(a->subject_alive(7));
}

// A pid reused by another task (same id, another start time) is not the
// subject; a cgroup directory removed and created again (same name, another
// inode) is not either.
TEST_F(FakeHost, LivenessIsOfTheSameTaskAndTheSameCgroup) {
  auto a = open();
  ASSERT_TRUE(a->add_subject({SubjectKind::tid, "200", ""}));
  ASSERT_TRUE(a->add_subject({SubjectKind::cgroup, "noise", ""}));
  EXPECT_TRUE(a->subject_alive(0));
  EXPECT_TRUE(a->subject_alive(1));
  task(200, 200, 1'000, 'R', 78);  // pid 200 again, started later: another task
  EXPECT_FALSE(a->subject_alive(0));
  // Renamed away (so its inode stays taken) and a new directory of that name.
  fs::rename(tmp_.path() / "cg/noise", tmp_.path() / "cg/noise-old");
  EXPECT_FALSE(a->subject_alive(1));
  cg("noise", 0);
  EXPECT_FALSE(a->subject_alive(1)) << "a re-created directory is another cgroup";
}

// Subjects that come and go: a removed subject's series leave (the others
// keep order, index and value), its index is handed out again, and a later
// subject starts at 0.
TEST_F(FakeHost, RemovedSubjectLeavesAndItsIndexIsReused) {
  auto a = open();
  ASSERT_TRUE(a->add_subject({SubjectKind::cgroup, "vm", "vm"}));     // 0: vm, emulator, vcpu0
  ASSERT_TRUE(a->add_subject({SubjectKind::cgroup, "noise", "bg"}));  // 1: bg
  ASSERT_TRUE(a->add_subject({SubjectKind::pid, "100", "p"}));        // 2: p
  ASSERT_EQ(a->series().size(), 5u);
  cg("noise", 1007);
  task(100, 101, 2'300, 'R');
  EXPECT_EQ(read(*a), (std::vector<std::uint64_t>{0, 0, 0, 1'000'000, 300}));

  ASSERT_TRUE(a->remove_subject(0));
  ASSERT_EQ(a->series().size(), 2u);
  EXPECT_EQ(a->series()[0].name, "bg");
  EXPECT_EQ(a->series()[0].subject_index, 1u);
  EXPECT_EQ(a->series()[1].name, "p");
  EXPECT_EQ(a->series()[1].subject_index, 2u);
  EXPECT_FALSE(a->subject_alive(0));
  EXPECT_TRUE(a->subject_alive(1));
  EXPECT_EQ(read(*a), (std::vector<std::uint64_t>{1'000'000, 300}));
  auto again = a->remove_subject(0);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("subject 0"), std::string::npos) << again.error().message;
  EXPECT_FALSE(a->remove_subject(9));

  cg("vm", 5000);
  auto idx = a->add_subject({SubjectKind::cgroup, "vm", "vm2"});
  ASSERT_TRUE(idx) << idx.error().what();
  EXPECT_EQ(*idx, 0u);
  ASSERT_EQ(a->series().size(), 5u);
  EXPECT_EQ(a->series()[2].name, "vm2");
  EXPECT_EQ(a->series()[2].subject_index, 0u);
  cg("vm", 5500);
  cg("noise", 2007);
  EXPECT_EQ(read(*a), (std::vector<std::uint64_t>{2'000'000, 300, 500'000, 0, 0}));
  ASSERT_TRUE(a->remove_subject(2));
  ASSERT_TRUE(a->remove_subject(1));
  ASSERT_EQ(a->series().size(), 3u);
  EXPECT_EQ(read(*a), (std::vector<std::uint64_t>{500'000, 0, 0}));
}

TEST_F(FakeHost, ErrorsNameTheTarget) {
  auto a = open();
  auto r = a->add_subject({SubjectKind::cgroup, "absent/dir", ""});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("absent/dir"), std::string::npos) << r.error().message;
  r = a->add_subject({SubjectKind::pid, "999", ""});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("999"), std::string::npos);
  r = a->add_subject({SubjectKind::pid, "101", ""});  // a thread, not a process
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--tid"), std::string::npos);
  r = a->add_subject({SubjectKind::tid, "12x", ""});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("12x"), std::string::npos);
  r = a->add_subject({SubjectKind::cgroup, "../x", ""});
  ASSERT_FALSE(r);
  EXPECT_TRUE(a->series().empty());
}

TEST_F(FakeHost, CpuBusySinceOpenInNs) {
  auto a = open();
  read(*a);
  EXPECT_EQ(busy_, (std::vector<std::uint64_t>{0, 0}));
  tmp_.write("proc/stat",
             "cpu0 103 0 1 900 50 0 0 0 0 0\n"
             "cpu1 200 0 0 600 0 0 0 0 0 0\n");
  read(*a);
  const std::uint64_t tick_ns =
      1'000'000'000ull / static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
  EXPECT_EQ(busy_, (std::vector<std::uint64_t>{4 * tick_ns, 0}));
}

TEST(OpenCpuAccounting, RejectsUnknownBackendAndBadRoots) {
  Options o;
  o.backend = "magic";
  auto r = open_cpu_accounting(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("magic"), std::string::npos);
  test::TempDir tmp;
  o.backend = "procfs";
  o.cgroup2_root = tmp.path();
  o.proc_root = tmp.path() / "noproc";
  r = open_cpu_accounting(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("noproc/stat"), std::string::npos);
}

TEST(OpenCpuAccounting, AutoAlwaysOpensAndExplainsAFallback) {
  test::TempDir tmp;
  tmp.write("proc/stat", "cpu0 1 0 0 1 0 0 0 0 0 0\n");
  Options o;
  o.backend = "auto";
  o.cgroup2_root = tmp.path();
  o.proc_root = tmp.path() / "proc";
  auto r = open_cpu_accounting(o);
  ASSERT_TRUE(r) << r.error().what();
  if ((*r)->backend() == "procfs")
    EXPECT_FALSE((*r)->fallback_reason().empty());
  else
    EXPECT_EQ((*r)->backend(), "bpf");
}

}  // namespace
}  // namespace cinergy::bpf
