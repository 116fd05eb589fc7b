// Kernel tier: the BPF backend against the kernel's own accounting (cgroup2
// cpu.stat, thread CPU clocks). Needs root, cgroup2, BTF and stress-ng.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <set>
#include <thread>

#include "kernel_support.hpp"
#include "prog_ids.hpp"
#include "requirements.hpp"

namespace cinergy::bpf {
namespace {
namespace fs = std::filesystem;
using test::Child;
using test::TestCgroup;

#define REQUIRE_KERNEL_TIER(need_bpf)                                              \
  do {                                                                             \
    CINERGY_REQUIRE_ROOT();                                                        \
    if (test::cgroup2_root_or_empty().empty()) GTEST_SKIP() << "no cgroup2 mount"; \
    if ((need_bpf) && !fs::exists("/sys/kernel/btf/vmlinux"))                      \
      GTEST_SKIP() << "no BTF at /sys/kernel/btf/vmlinux";                         \
  } while (0)

#define REQUIRE_STRESS_NG() CINERGY_REQUIRE_PROGRAM("stress-ng", "stress-ng")

std::unique_ptr<CpuAccounting> open_backend(const char* backend) {
  Options o;
  o.backend = backend;
  auto r = open_cpu_accounting(o);
  EXPECT_TRUE(r) << r.error().what();
  if (!r) return nullptr;
  EXPECT_EQ((*r)->backend(), backend);
  return std::move(*r);
}

struct Reading {
  std::vector<std::uint64_t> series;
  std::vector<std::uint64_t> busy;
  std::size_t errors = 0;
};
Reading read_all(CpuAccounting& a) {
  Reading r{std::vector<std::uint64_t>(a.series().size()),
            std::vector<std::uint64_t>(a.cpu_count())};
  r.errors = a.read(r.series, r.busy);
  return r;
}

double rel_err(double got, double want) { return std::abs(got - want) / want; }

// Within 2 % or 10 ms, whichever is larger: on this loaded shared machine a
// short test gets a few hundred ms of CPU, and a process that is already
// running when it is registered or moved can lose up to one slice (a few ms;
// see docs/bpf.md, "Known gaps").
bool close_enough(double got_ns, double want_ns) {
  return std::abs(got_ns - want_ns) <= std::max(0.02 * want_ns, 10e6);
}

TEST(BpfKernel, AutoChoosesBpfAndReleasesTheProgram) {
  REQUIRE_KERNEL_TIER(true);
  auto ours = [] { return detail::prog_ids_named("cinergy_sched"); };
  auto before = ours();
  std::set<__u32> mine;
  {
    Options o;  // auto
    auto r = open_cpu_accounting(o);
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ((*r)->backend(), "bpf");
    EXPECT_EQ((*r)->fallback_reason(), "");
    for (auto id : ours())
      if (!before.contains(id)) mine.insert(id);
    EXPECT_EQ(mine.size(), 1u);
  }
  // The kernel frees a detached program after an RCU grace period.
  auto after = ours();
  for (int i = 0; i < 200 && std::ranges::any_of(mine, [&](auto id) { return after.contains(id); });
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    after = ours();
  }
  for (auto id : mine) EXPECT_FALSE(after.contains(id)) << "program " << id << " left loaded";
}

// stress-ng -c 1 -l 50 for 5 s: the BPF total matches the cgroup's own usage.
TEST(BpfKernel, StressNgHalfLoadMatchesCpuStat) {
  REQUIRE_KERNEL_TIER(true);
  REQUIRE_STRESS_NG();
  TestCgroup cg(test::cgroup2_root_or_empty(), "half");
  auto a = open_backend("bpf");
  ASSERT_TRUE(a);
  auto idx = a->add_subject({SubjectKind::cgroup, cg.path().string(), "noise"});
  ASSERT_TRUE(idx) << idx.error().what();
  auto u0 = test::cpu_stat_usage_ns(cg.path());
  auto r0 = read_all(*a);
  Child c({"stress-ng", "-c", "1", "-l", "50", "-t", "5", "--quiet"}, cg.path());
  EXPECT_EQ(c.wait(), 0);
  auto r1 = read_all(*a);
  auto u1 = test::cpu_stat_usage_ns(cg.path());
  ASSERT_TRUE(u0 && u1);
  const double want = static_cast<double>(*u1 - *u0);
  const double got = static_cast<double>(r1.series[0] - r0.series[0]);
  std::printf("cpu.stat %.3f s, bpf %.3f s, error %.3f %%\n", want / 1e9, got / 1e9,
              100 * rel_err(got, want));
  EXPECT_GT(want, 0.3e9);  // the load really ran (about 2.5 s of CPU on an idle host)
  // Completed slices come from the scheduler's own per-task runtime, the
  // figure cpu.stat sums; they differ by the switches timed at a corrected
  // instant because the run queue clock was stale (the wake-up latency the
  // kernel charges to the woken task: 0.08 % here, docs/bpf.md).
  EXPECT_LT(rel_err(got, want), 0.02);
  EXPECT_EQ(r1.errors, 0u);
}

// Each CPU caches the slots of the task it switched in, "not tracked"
// included (cpu_account.h). A subject whose tasks have been running and
// switching while another subject of the same kind existed must count from
// its registration on: registration bumps table_gen, so cached slots are
// looked up again.
TEST(BpfKernel, SubjectRegisteredWhileItsTasksRunCountsFromThen) {
  REQUIRE_KERNEL_TIER(true);
  REQUIRE_STRESS_NG();
  TestCgroup other(test::cgroup2_root_or_empty(), "cache-other");
  TestCgroup cg(test::cgroup2_root_or_empty(), "cache-late");
  auto a = open_backend("bpf");
  ASSERT_TRUE(a);
  Child dummy({"sleep", "30"});
  ASSERT_TRUE(a->add_subject({SubjectKind::cgroup, other.path().string(), "other"}));
  ASSERT_TRUE(a->add_subject({SubjectKind::pid, std::to_string(dummy.pid()), "dummy"}));
  Child c({"stress-ng", "-c", "1", "-l", "50", "-t", "4", "--quiet"}, cg.path());
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // switched, cached untracked
  auto cg_idx = a->add_subject({SubjectKind::cgroup, cg.path().string(), "late"});
  ASSERT_TRUE(cg_idx) << cg_idx.error().what();
  const std::size_t cg_series = a->series().size() - 1;
  auto u0 = test::cpu_stat_usage_ns(cg.path());
  auto r0 = read_all(*a);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto r1 = read_all(*a);
  auto u1 = test::cpu_stat_usage_ns(cg.path());
  ASSERT_TRUE(u0 && u1);
  const double want = static_cast<double>(*u1 - *u0);
  const double got = static_cast<double>(r1.series[cg_series] - r0.series[cg_series]);
  std::printf("registered while running: cpu.stat %.3f s, bpf %.3f s\n", want / 1e9, got / 1e9);
  EXPECT_GT(want, 0.3e9);
  EXPECT_TRUE(close_enough(got, want));
  EXPECT_EQ(c.wait(), 0);
}

// A pinned thread that never yields, sampled at 100 Hz: every interval shows
// its CPU time, compared with the kernel's exact per-thread CPU clock.
TEST(BpfKernel, PinnedBusyLoopExactAt100Hz) {
  REQUIRE_KERNEL_TIER(true);
  auto a = open_backend("bpf");
  ASSERT_TRUE(a);
  const int cpu = static_cast<int>(a->cpu_count()) - 1;
  std::atomic<bool> stop{false};
  std::atomic<pid_t> tid{0};
  std::thread spin([&] {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  while (tid.load() == 0) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // running before registration
  clockid_t thread_clock{};
  ASSERT_EQ(::pthread_getcpuclockid(spin.native_handle(), &thread_clock), 0);
  auto idx = a->add_subject({SubjectKind::tid, std::to_string(tid.load()), "spin"});
  ASSERT_TRUE(idx) << idx.error().what();

  auto thread_ns = [&] {
    timespec ts{};
    ::clock_gettime(thread_clock, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
           static_cast<std::uint64_t>(ts.tv_nsec);
  };
  constexpr int kIntervals = 300;
  std::vector<std::uint64_t> bpf_ns, ref_ns;
  std::vector<std::size_t> read_errors;
  timespec next{};
  ::clock_gettime(CLOCK_MONOTONIC, &next);
  std::vector<std::uint64_t> v(a->series().size()), busy(a->cpu_count());
  for (int i = 0; i <= kIntervals; ++i) {
    next.tv_nsec += 10'000'000;
    if (next.tv_nsec >= 1'000'000'000) {
      next.tv_nsec -= 1'000'000'000;
      ++next.tv_sec;
    }
    ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
    read_errors.push_back(a->read(v, busy));
    ref_ns.push_back(thread_ns());
    bpf_ns.push_back(v[0]);
  }
  stop = true;
  spin.join();

  // Intervals in which the thread ran at least 1 ms (on this shared machine it
  // is sometimes not scheduled for a whole interval: then both are ~0).
  int ran = 0, near_ref = 0, near_10ms = 0, zero = 0;
  for (int i = 1; i <= kIntervals; ++i) {
    const double got = static_cast<double>(bpf_ns[i] - bpf_ns[i - 1]);
    const double ref = static_cast<double>(ref_ns[i] - ref_ns[i - 1]);
    if (rel_err(got, 10e6) <= 0.10) ++near_10ms;
    if (ref < 1e6) continue;
    ++ran;
    if (rel_err(got, ref) <= 0.10) ++near_ref;
    if (got == 0) {
      ++zero;
      std::printf(
          "zero interval %d: bpf deltas %.3f %.3f %.3f ms, thread clock deltas %.3f %.3f %.3f ms\n",
          i, double(bpf_ns[i - 1] - bpf_ns[std::max(i - 2, 0)]) / 1e6, got / 1e6,
          i < kIntervals ? double(bpf_ns[i + 1] - bpf_ns[i]) / 1e6 : 0.0,
          double(ref_ns[i - 1] - ref_ns[std::max(i - 2, 0)]) / 1e6, ref / 1e6,
          i < kIntervals ? double(ref_ns[i + 1] - ref_ns[i]) / 1e6 : 0.0);
    }
  }
  std::printf(
      "intervals where the thread ran >= 1 ms: %d/%d; of those within 10%% of its CPU clock: "
      "%d, zero: %d; within 10%% of 10 ms (all intervals): %d\n",
      ran, kIntervals, near_ref, zero, near_10ms);
  // The thread's own CPU clock is the reference: on this shared 2-CPU machine
  // the loop does not always get its CPU to itself, so 10 ms of wall time is
  // not always 10 ms of CPU time.
  ASSERT_GE(ran, kIntervals / 3) << "the machine is too loaded for this test";
  EXPECT_GE(near_ref, ran * 9 / 10);
  // Counters that lag (the failure this test exists for: zero for seconds,
  // then a jump) show as many zero intervals. At most 1 %: on hosts where
  // some context switches never reach tracepoint programs (these VMs,
  // docs/bpf.md), a task resumed by such a switch shows its running slice
  // only from its next switch-out on (totals stay exact). Measured here: 0.
  EXPECT_LE(zero, ran / 100);
}

// 1000 short processes: all their CPU time lands in their cgroup.
TEST(BpfKernel, ForkStormFullyAccounted) {
  REQUIRE_KERNEL_TIER(true);
  TestCgroup cg(test::cgroup2_root_or_empty(), "storm");
  auto a = open_backend("bpf");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->add_subject({SubjectKind::cgroup, cg.path().string(), "storm"}));
  auto u0 = test::cpu_stat_usage_ns(cg.path());
  auto r0 = read_all(*a);
  Child c({"/bin/sh", "-c", "i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done"},
          cg.path());
  EXPECT_EQ(c.wait(), 0);
  auto r1 = read_all(*a);
  auto u1 = test::cpu_stat_usage_ns(cg.path());
  ASSERT_TRUE(u0 && u1);
  const double want = static_cast<double>(*u1 - *u0);
  const double got = static_cast<double>(r1.series[0] - r0.series[0]);
  std::printf("fork storm: cpu.stat %.3f s, bpf %.3f s, error %.3f %%\n", want / 1e9, got / 1e9,
              100 * rel_err(got, want));
  EXPECT_GT(want, 0.1e9);
  EXPECT_LT(rel_err(got, want), 0.02);
}

// A cgroup that disappears mid-run: no error, last value kept, not alive.
TEST(BpfKernel, CgroupRemovedMidRun) {
  REQUIRE_KERNEL_TIER(true);
  REQUIRE_STRESS_NG();
  auto a = open_backend("bpf");
  ASSERT_TRUE(a);
  std::uint64_t before_rm = 0;
  {
    TestCgroup cg(test::cgroup2_root_or_empty(), "gone");
    ASSERT_TRUE(a->add_subject({SubjectKind::cgroup, cg.path().string(), "vm"}));
    Child c({"stress-ng", "-c", "1", "-t", "1", "--quiet"}, cg.path());
    EXPECT_EQ(c.wait(), 0);
    EXPECT_TRUE(a->subject_alive(0));
    before_rm = read_all(*a).series[0];
    EXPECT_GT(before_rm, 100'000'000u);
  }  // rmdir
  EXPECT_FALSE(a->subject_alive(0));
  auto r = read_all(*a);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(r.series[0], before_rm);
}

// A nested tree: the total covers every level, each direct child its subtree.
TEST(BpfKernel, NestedTreeTotalAndChildren) {
  REQUIRE_KERNEL_TIER(true);
  REQUIRE_STRESS_NG();
  TestCgroup cg(test::cgroup2_root_or_empty(), "tree");
  auto a_dir = cg.mkdir("a");
  auto b_dir = cg.mkdir("b");
  auto c_dir = cg.mkdir("b/c");
  auto acc = open_backend("bpf");
  ASSERT_TRUE(acc);
  ASSERT_TRUE(acc->add_subject({SubjectKind::cgroup, cg.path().string(), "vm"}));
  ASSERT_EQ(acc->series().size(), 3u);
  EXPECT_EQ(acc->series()[1].name, "vm/a");
  EXPECT_EQ(acc->series()[2].name, "vm/b");
  auto ua0 = test::cpu_stat_usage_ns(a_dir), ub0 = test::cpu_stat_usage_ns(b_dir),
       ut0 = test::cpu_stat_usage_ns(cg.path());
  auto r0 = read_all(*acc);
  EXPECT_TRUE(test::run_stress_workers({{30, a_dir}, {60, c_dir}}, 2));
  auto r1 = read_all(*acc);
  auto ua1 = test::cpu_stat_usage_ns(a_dir), ub1 = test::cpu_stat_usage_ns(b_dir),
       ut1 = test::cpu_stat_usage_ns(cg.path());
  const double want[3] = {double(*ut1 - *ut0), double(*ua1 - *ua0), double(*ub1 - *ub0)};
  for (int i = 0; i < 3; ++i) {
    const double got = double(r1.series[i] - r0.series[i]);
    std::printf("%s: cpu.stat %.3f s, bpf %.3f s\n", acc->series()[i].name.c_str(), want[i] / 1e9,
                got / 1e9);
    EXPECT_GT(want[i], 0.05e9);
    // A short, bursty worker (stress-ng -l 30) switches often: the case that
    // lost slices when a switch event never reached the program (docs/bpf.md).
    EXPECT_TRUE(close_enough(got, want[i])) << acc->series()[i].name;
  }
  // Summed correctly: the children partition the subtree (no task sits in the
  // top directory), so the total is exactly their sum, read at one instant.
  EXPECT_EQ(r1.series[0] - r0.series[0],
            (r1.series[1] - r0.series[1]) + (r1.series[2] - r0.series[2]));
}

// Directories created under a subject after add_subject (a VM's vCPU
// hot-plug, a container runtime's nested cgroups) count for the series of
// the directory they were created in; a later subject for one of them takes
// it over without the earlier subject losing it.
TEST(BpfKernel, DirectoriesCreatedLaterAreCounted) {
  REQUIRE_KERNEL_TIER(true);
  REQUIRE_STRESS_NG();
  TestCgroup cg(test::cgroup2_root_or_empty(), "grow");
  auto a_dir = cg.mkdir("a");
  auto acc = open_backend("bpf");
  ASSERT_TRUE(acc);
  ASSERT_TRUE(acc->add_subject({SubjectKind::cgroup, cg.path().string(), "vm"}));
  ASSERT_EQ(acc->series().size(), 2u);  // vm, vm/a
  auto new_dir = cg.mkdir("a/new");     // a grandchild: counts for vm/a
  auto late_dir = cg.mkdir("late");     // a new direct child: counts for the total only

  auto run_and_compare = [&](const char* what, std::size_t extra_series,
                             const std::filesystem::path& extra_dir) {
    auto ut0 = test::cpu_stat_usage_ns(cg.path()), ua0 = test::cpu_stat_usage_ns(a_dir),
         ux0 = test::cpu_stat_usage_ns(extra_dir);
    auto r0 = read_all(*acc);
    EXPECT_TRUE(test::run_stress_workers({{40, new_dir}, {40, late_dir}}, 1.5));
    auto r1 = read_all(*acc);
    auto ut1 = test::cpu_stat_usage_ns(cg.path()), ua1 = test::cpu_stat_usage_ns(a_dir),
         ux1 = test::cpu_stat_usage_ns(extra_dir);
    const double want_t = double(*ut1 - *ut0), want_a = double(*ua1 - *ua0);
    const double got_t = double(r1.series[0] - r0.series[0]),
                 got_a = double(r1.series[1] - r0.series[1]);
    std::printf("%s: total cpu.stat %.3f s, bpf %.3f s; a: cpu.stat %.3f s, bpf %.3f s\n", what,
                want_t / 1e9, got_t / 1e9, want_a / 1e9, got_a / 1e9);
    EXPECT_GT(want_a, 0.1e9);
    EXPECT_GT(want_t - want_a, 0.1e9);  // "late" ran too
    EXPECT_TRUE(close_enough(got_t, want_t)) << what;
    EXPECT_TRUE(close_enough(got_a, want_a)) << what;
    if (extra_series != 0) {
      const double want_x = double(*ux1 - *ux0),
                   got_x = double(r1.series[extra_series] - r0.series[extra_series]);
      std::printf("%s: own subject cpu.stat %.3f s, bpf %.3f s\n", what, want_x / 1e9, got_x / 1e9);
      EXPECT_TRUE(close_enough(got_x, want_x)) << what;
    }
  };
  run_and_compare("created after add_subject", 0, new_dir);

  // A subject of its own for a/new: its slot replaces the inherited one.
  auto idx = acc->add_subject({SubjectKind::cgroup, new_dir.string(), "new"});
  ASSERT_TRUE(idx) << idx.error().what();
  ASSERT_EQ(acc->series().size(), 3u);
  run_and_compare("then registered itself", 2, new_dir);
}

// A process that spins (never sleeping, so nothing switches it) moved by
// another process between a registered cgroup and another one: each side
// gets the part of the slice it ran there, as cpu.stat charges it. The move
// itself need not switch the task (measured: on an idle machine it mostly
// does not); the program splits the slice at the task's runtime at the move.
void spin_and_move(const std::filesystem::path& start_in, const std::filesystem::path& move_to,
                   const std::filesystem::path& measured, CpuAccounting& acc, const char* what) {
  auto u0 = test::cpu_stat_usage_ns(measured);
  auto r0 = read_all(acc);
  const auto start_procs = (start_in / "cgroup.procs").string();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = ::open(start_procs.c_str(), O_WRONLY);
    if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(126);
    timespec t0{}, t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t0);
    do ::clock_gettime(CLOCK_MONOTONIC, &t);  // a vDSO call: no syscall, no switch
    while ((t.tv_sec - t0.tv_sec) * 1'000'000'000L + (t.tv_nsec - t0.tv_nsec) < 1'500'000'000L);
    ::_exit(0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  {
    std::ofstream procs(move_to / "cgroup.procs");
    procs << pid << std::flush;
    EXPECT_TRUE(procs.good());
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto r1 = read_all(acc);
  auto u1 = test::cpu_stat_usage_ns(measured);
  ASSERT_TRUE(u0 && u1);
  const double want = double(*u1 - *u0), got = double(r1.series[0] - r0.series[0]);
  std::printf("%s: cpu.stat %.3f s, bpf %.3f s\n", what, want / 1e9, got / 1e9);
  EXPECT_GT(want, 0.3e9);
  EXPECT_TRUE(close_enough(got, want)) << what;
}

TEST(BpfKernel, TaskMovedWhileRunningIsSplitAtTheMove) {
  REQUIRE_KERNEL_TIER(true);
  TestCgroup tracked(test::cgroup2_root_or_empty(), "moved");
  TestCgroup other(test::cgroup2_root_or_empty(), "elsewhere");
  auto acc = open_backend("bpf");
  ASSERT_TRUE(acc);
  ASSERT_TRUE(acc->add_subject({SubjectKind::cgroup, tracked.path().string(), "moved"}));
  spin_and_move(other.path(), tracked.path(), tracked.path(), *acc, "moved in while running");
  spin_and_move(tracked.path(), other.path(), tracked.path(), *acc, "moved out while running");
}

// A process subject counts all its threads, exited ones included.
TEST(BpfKernel, ProcessSubjectMatchesSchedstat) {
  REQUIRE_KERNEL_TIER(true);
  auto a = open_backend("bpf");
  ASSERT_TRUE(a);
  Child c({"/bin/sh", "-c", "while :; do :; done"});
  ASSERT_TRUE(a->add_subject({SubjectKind::pid, std::to_string(c.pid()), ""}));
  EXPECT_EQ(a->series()[0].name, std::to_string(c.pid()));
  auto schedstat_ns = [&] {
    std::ifstream in("/proc/" + std::to_string(c.pid()) + "/schedstat");
    std::uint64_t v = 0;
    in >> v;
    return v;
  };
  auto s0 = schedstat_ns();
  auto r0 = read_all(*a);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto r1 = read_all(*a);
  auto s1 = schedstat_ns();
  EXPECT_TRUE(a->subject_alive(0));
  c.kill_and_wait();
  EXPECT_FALSE(a->subject_alive(0));
  const double want = double(s1 - s0), got = double(r1.series[0] - r0.series[0]);
  std::printf("pid: schedstat %.3f s, bpf %.3f s\n", want / 1e9, got / 1e9);
  EXPECT_GT(want, 0.05e9);
  EXPECT_TRUE(close_enough(got, want));
}

// Per-CPU busy time: an idle-ish CPU is not 100 % busy, a pinned spinner's CPU is.
TEST(BpfKernel, CpuBusyFollowsAPinnedSpinner) {
  REQUIRE_KERNEL_TIER(true);
  auto a = open_backend("bpf");
  ASSERT_TRUE(a);
  auto r0 = read_all(*a);
  auto t0 = std::chrono::steady_clock::now();
  Child c({"/bin/sh", "-c", "while :; do :; done"}, {}, 0);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto r1 = read_all(*a);
  const double wall =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  const double busy0 = double(r1.busy[0] - r0.busy[0]);
  std::printf("cpu0 busy %.1f %% of %.3f s\n", 100 * busy0 / wall, wall / 1e9);
  EXPECT_GT(busy0, 0.9 * wall);
  EXPECT_LE(busy0, 1.02 * wall);
}

// The fallback path, asked for explicitly, against cpu.stat.
TEST(ProcfsKernel, CgroupMatchesCpuStat) {
  REQUIRE_KERNEL_TIER(false);
  REQUIRE_STRESS_NG();
  TestCgroup cg(test::cgroup2_root_or_empty(), "procfs");
  auto a = open_backend("procfs");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->add_subject({SubjectKind::cgroup, cg.path().string(), "noise"}));
  auto u0 = test::cpu_stat_usage_ns(cg.path());
  auto r0 = read_all(*a);
  Child c({"stress-ng", "-c", "1", "-l", "50", "-t", "2", "--quiet"}, cg.path());
  EXPECT_EQ(c.wait(), 0);
  auto r1 = read_all(*a);
  auto u1 = test::cpu_stat_usage_ns(cg.path());
  const double want = double(*u1 - *u0), got = double(r1.series[0] - r0.series[0]);
  std::printf("procfs: cpu.stat %.3f s, procfs backend %.3f s\n", want / 1e9, got / 1e9);
  EXPECT_GT(want, 0.1e9);
  EXPECT_LT(rel_err(got, want), 0.02);
  EXPECT_EQ(r1.errors, 0u);
  EXPECT_EQ(r1.busy.size(), a->cpu_count());
}

}  // namespace
}  // namespace cinergy::bpf
