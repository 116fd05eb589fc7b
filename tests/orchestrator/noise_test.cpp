// NoiseGroup on a fake cgroup tree with a fake process runner.
#include "cinergy/orchestrator/noise.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "cinergy/common/cgroup.hpp"
#include "cinergy/common/files.hpp"
#include "temp_dir.hpp"

namespace cinergy::orchestrator {
namespace {
namespace fs = std::filesystem;

// Plays the kernel: spawn appends the pid to cgroup.procs; SIGKILL (or a "1"
// in cgroup.kill, seen at the next reap) removes it and makes it reapable.
class FakeRunner : public ProcessRunner {
 public:
  Result<pid_t> spawn(const SpawnRequest& r) override {
    if (fail_next) return fail("cannot start " + r.argv[0]);
    requests.push_back(r);
    const pid_t pid = next_pid++;
    std::vector<fs::path> files{r.cgroup_procs};
    for (const auto& d : r.extra_cgroup_dirs) files.push_back(d / "cgroup.procs");
    for (const auto& f : files) {
      procs_files.insert(f);
      std::ofstream(f, std::ios::app) << pid << "\n";
    }
    alive.insert(pid);
    return pid;
  }
  void signal(pid_t pid, int sig) override {
    signals.emplace_back(pid, sig);
    if (sig == SIGKILL) die(pid);
  }
  bool reap(pid_t pid) override {
    for (const auto& procs : procs_files) {
      auto kill = procs.parent_path() / "cgroup.kill";
      std::ifstream k(kill);
      std::string v;
      if (k >> v && v == "1") {
        for (pid_t p : std::set<pid_t>(alive)) die(p);
      }
    }
    return !alive.count(pid);
  }
  void die(pid_t pid) {
    alive.erase(pid);
    for (const auto& procs : procs_files) {
      std::vector<pid_t> left;
      {
        std::ifstream in(procs);
        pid_t p;
        while (in >> p)
          if (p != pid) left.push_back(p);
      }
      std::ofstream out(procs, std::ios::trunc);
      for (pid_t p : left) out << p << "\n";
    }
  }
  bool fail_next = false;
  pid_t next_pid = 1000;
  std::set<pid_t> alive;
  std::set<fs::path> procs_files;
  std::vector<SpawnRequest> requests;
  std::vector<std::pair<pid_t, int>> signals;
};

TEST(NoiseGroup, CreatesCgroupStartsWorkersWithArgvAndPlacement) {
  test::TempDir root;
  FakeRunner runner;
  auto g = NoiseGroup::create(root.path(), "cinergy/run-1-x/noise", runner);
  ASSERT_TRUE(g) << g.error().what();
  EXPECT_TRUE(fs::is_directory(root.path() / "cinergy/run-1-x/noise"));
  ASSERT_TRUE((*g)->add_worker(25, {0, 1}));
  ASSERT_TRUE((*g)->add_worker(25));
  ASSERT_EQ(runner.requests.size(), 2u);
  EXPECT_EQ(runner.requests[0].argv,
            (std::vector<std::string>{"stress-ng", "-c", "1", "-l", "25"}));
  EXPECT_EQ(runner.requests[0].cgroup_procs, root.path() / "cinergy/run-1-x/noise/cgroup.procs");
  EXPECT_EQ(runner.requests[0].cpus, (std::vector<int>{0, 1}));
  EXPECT_TRUE(runner.requests[1].cpus.empty());
  EXPECT_EQ(cgroup_pids((*g)->path()), (std::vector<pid_t>{1000, 1001}));
  EXPECT_EQ((*g)->workers(), 2u);
  // Scenario C's workers under SCHED_IDLE (--noise-sched idle).
  ASSERT_TRUE((*g)->add_worker(25, {}, true));
  EXPECT_EQ(runner.requests[2].argv,
            (std::vector<std::string>{"stress-ng", "-c", "1", "-l", "25", "--sched", "idle"}));
}

TEST(NoiseGroup, RejectsLoadOutOfRange) {
  test::TempDir root;
  FakeRunner runner;
  auto g = NoiseGroup::create(root.path(), "cinergy/r/noise", runner);
  ASSERT_TRUE(g);
  EXPECT_FALSE((*g)->add_worker(0));
  EXPECT_FALSE((*g)->add_worker(101));
  EXPECT_TRUE(runner.requests.empty());
}

TEST(NoiseGroup, KillsThroughCgroupKillWhenPresent) {
  test::TempDir root;
  FakeRunner runner;
  auto g = NoiseGroup::create(root.path(), "cinergy/r/noise", runner);
  ASSERT_TRUE(g);
  root.write("cinergy/r/noise/cgroup.kill", "0");
  ASSERT_TRUE((*g)->add_worker(50));
  ASSERT_TRUE((*g)->add_worker(50));
  ASSERT_TRUE((*g)->kill_all());
  EXPECT_TRUE(runner.signals.empty()) << "cgroup.kill path must not signal pids one by one";
  EXPECT_TRUE(runner.alive.empty());
  EXPECT_TRUE(cgroup_pids((*g)->path()).empty());
  EXPECT_EQ((*g)->workers(), 0u);
}

TEST(NoiseGroup, FallsBackToSigkillOfEveryListedPid) {
  test::TempDir root;
  FakeRunner runner;
  auto g = NoiseGroup::create(root.path(), "cinergy/r/noise", runner);
  ASSERT_TRUE(g);
  ASSERT_TRUE((*g)->add_worker(100));
  // A process the worker forked (not our child) is in the cgroup too.
  std::ofstream((*g)->path() / "cgroup.procs", std::ios::app) << 4242 << "\n";
  runner.alive.insert(4242);
  ASSERT_TRUE((*g)->kill_all());
  std::set<pid_t> killed;
  for (auto [pid, sig] : runner.signals)
    if (sig == SIGKILL) killed.insert(pid);
  EXPECT_TRUE(killed.count(1000));
  EXPECT_TRUE(killed.count(4242));
  EXPECT_TRUE(runner.alive.empty());
}

TEST(NoiseGroup, KillAllTimesOutWhenAProcessNeverLeaves) {
  test::TempDir root;
  FakeRunner runner;
  auto g = NoiseGroup::create(root.path(), "cinergy/r/noise", runner);
  ASSERT_TRUE(g);
  // Not a process the runner knows: SIGKILL does not remove it (stuck in D state).
  std::ofstream((*g)->path() / "cgroup.procs", std::ios::app) << 777 << "\n";
  auto& procs = runner.procs_files;
  procs.clear();  // the fake kernel no longer updates the file
  auto r = (*g)->kill_all(std::chrono::milliseconds(50));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("still holds 1 process"), std::string::npos)
      << r.error().message;
  std::ofstream((*g)->path() / "cgroup.procs", std::ios::trunc);  // let the destructor finish
}

TEST(NoiseGroup, RemoveDeletesCgroupAndTheParentsItCreated) {
  test::TempDir root;
  fs::create_directories(root.path() / "cinergy/other-run");
  FakeRunner runner;
  {
    auto g = NoiseGroup::create(root.path(), "cinergy/run-7-x/noise", runner);
    ASSERT_TRUE(g);
    ASSERT_TRUE((*g)->add_worker(25));
    ASSERT_TRUE((*g)->remove());
    EXPECT_FALSE(fs::exists(root.path() / "cinergy/run-7-x"));
    EXPECT_TRUE(fs::exists(root.path() / "cinergy/other-run")) << "not ours: kept";
    EXPECT_TRUE((*g)->remove()) << "idempotent";
    EXPECT_FALSE((*g)->add_worker(25)) << "no worker after removal";
  }
  EXPECT_TRUE(runner.alive.empty());
}

TEST(NoiseGroup, DestructorKillsAndRemoves) {
  test::TempDir root;
  FakeRunner runner;
  {
    auto g = NoiseGroup::create(root.path(), "cinergy/run-8-x/noise", runner);
    ASSERT_TRUE(g);
    ASSERT_TRUE((*g)->add_worker(25));
  }
  EXPECT_TRUE(runner.alive.empty());
  EXPECT_FALSE(fs::exists(root.path() / "cinergy"));
}

TEST(NoiseGroup, RefusesAnExistingCgroupWithProcesses) {
  test::TempDir root;
  root.write("cinergy/r/noise/cgroup.procs", "55\n");
  FakeRunner runner;
  auto g = NoiseGroup::create(root.path(), "cinergy/r/noise", runner);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("already holds processes"), std::string::npos);
}

TEST(NoiseGroup, SpawnFailureIsReported) {
  test::TempDir root;
  FakeRunner runner;
  runner.fail_next = true;
  auto g = NoiseGroup::create(root.path(), "cinergy/r/noise", runner);
  ASSERT_TRUE(g);
  auto pid = (*g)->add_worker(25);
  ASSERT_FALSE(pid);
  EXPECT_EQ((*g)->workers(), 0u);
}

TEST(NoiseGroup, MissingRootIsAnError) {
  FakeRunner runner;
  auto g = NoiseGroup::create("/nonexistent/cgroup/root", "cinergy/r/noise", runner);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("/nonexistent/cgroup/root"), std::string::npos);
}

// A cgroup attribute of a fake tree ("" when missing).
std::string attr(const fs::path& file) { return read_trimmed(file).value_or(""); }

// The files the kernel shows in a new cpu cgroup (fake trees have none).
void fake_cpu_files(const fs::path& dir, bool with_idle = true,
                    const char* weight_file = "cpu.shares", const char* weight = "1024") {
  if (with_idle) std::ofstream(dir / "cpu.idle") << "0\n";
  std::ofstream(dir / weight_file) << weight << "\n";
}

// A hybrid host: cgroup2 at <tmp>/unified without controllers, the cpu
// controller on cgroup v1 at <tmp>/cpu,cpuacct.
struct HybridTree {
  test::TempDir tmp;
  fs::path v2 = tmp.path() / "unified", v1 = tmp.path() / "cpu,cpuacct";
  fs::path mountinfo;
  HybridTree() {
    fs::create_directories(v2);
    fs::create_directories(v1);
    mountinfo =
        tmp.write("mountinfo", "32 31 0:29 / " + v1.string() +
                                   " rw,relatime - cgroup cgroup rw,cpu,cpuacct\n41 31 0:38 / " +
                                   v2.string() + " rw,relatime - cgroup2 cgroup2 rw\n");
  }
  NoiseCpuOptions idle() const { return {true, mountinfo}; }
};

TEST(NoiseCpu, HybridIdleWorkersJoinAV1CpuCgroupMadeIdleTopDown) {
  HybridTree t;
  FakeRunner runner;
  auto g = NoiseGroup::create(t.v2, "cinergy/run-1-x/noise", runner, {}, t.idle());
  ASSERT_TRUE(g) << g.error().what();
  const auto v1_noise = t.v1 / "cinergy/run-1-x/noise";
  EXPECT_TRUE(fs::is_directory(v1_noise));
  const auto& p = (*g)->cpu_placement();
  EXPECT_EQ(p.kind, NoiseCpuPlacement::Kind::cgroup1);
  EXPECT_EQ(p.cpu_cgroup, v1_noise);
  EXPECT_TRUE(p.idle.empty()) << "idle only once SCHED_IDLE workers run";
  for (const auto& d : {t.v1 / "cinergy", t.v1 / "cinergy/run-1-x", v1_noise}) fake_cpu_files(d);

  // Scenario A's normal workers: the cgroup2 dir only, nothing made idle.
  ASSERT_TRUE((*g)->add_worker(25));
  EXPECT_TRUE(runner.requests[0].extra_cgroup_dirs.empty());
  EXPECT_EQ(attr(v1_noise / "cpu.idle"), "0");
  ASSERT_TRUE((*g)->kill_all());

  // Scenario C's SCHED_IDLE workers: also the v1 dir, idle from the top
  // (an idle leaf under a normal parent would still compete at its weight).
  ASSERT_TRUE((*g)->add_worker(25, {}, true));
  ASSERT_TRUE((*g)->add_worker(25, {1}, true));
  EXPECT_EQ(runner.requests[1].cgroup_procs, t.v2 / "cinergy/run-1-x/noise/cgroup.procs");
  EXPECT_EQ(runner.requests[1].extra_cgroup_dirs, (std::vector<fs::path>{v1_noise}));
  for (const auto& d : {t.v1 / "cinergy", t.v1 / "cinergy/run-1-x", v1_noise})
    EXPECT_EQ(attr(d / "cpu.idle"), "1") << d;
  EXPECT_EQ(attr(v1_noise / "cpu.shares"), "1024") << "cpu.idle is there: no fallback";
  EXPECT_EQ((*g)->cpu_placement().idle, "cpu.idle=1");
  EXPECT_EQ(cgroup_pids(v1_noise), (std::vector<pid_t>{1001, 1002}));
  const auto j = (*g)->cpu_placement().to_json();
  EXPECT_EQ(j["cpu_hierarchy"], "cgroup1");
  EXPECT_EQ(j["cpu_cgroup"], v1_noise.string());
  EXPECT_EQ(j["idle"], "cpu.idle=1");

  // Teardown kills in both and removes both trees (we created all of them).
  ASSERT_TRUE((*g)->remove());
  EXPECT_TRUE(runner.alive.empty());
  EXPECT_FALSE(fs::exists(t.v1 / "cinergy"));
  EXPECT_FALSE(fs::exists(t.v2 / "cinergy"));
}

TEST(NoiseCpu, HybridKeepsAndRestoresWhatItDidNotCreate) {
  HybridTree t;
  fs::create_directories(t.v1 / "cinergy/other");
  fake_cpu_files(t.v1 / "cinergy");
  FakeRunner runner;
  {
    auto g = NoiseGroup::create(t.v2, "cinergy/run-2-x/noise", runner, {}, t.idle());
    ASSERT_TRUE(g) << g.error().what();
    for (const auto& d : {t.v1 / "cinergy/run-2-x", t.v1 / "cinergy/run-2-x/noise"})
      fake_cpu_files(d);
    ASSERT_TRUE((*g)->add_worker(25, {}, true));
    EXPECT_EQ(attr(t.v1 / "cinergy/cpu.idle"), "1");
  }  // the destructor tears down
  EXPECT_TRUE(runner.alive.empty());
  EXPECT_FALSE(fs::exists(t.v1 / "cinergy/run-2-x"));
  EXPECT_TRUE(fs::exists(t.v1 / "cinergy/other")) << "not ours: kept";
  EXPECT_EQ(attr(t.v1 / "cinergy/cpu.idle"), "0") << "not ours: its old value back";
}

TEST(NoiseCpu, HybridWithoutCpuIdleFallsBackToMinimalShares) {
  HybridTree t;
  FakeRunner runner;
  auto g = NoiseGroup::create(t.v2, "cinergy/run-3-x/noise", runner, {}, t.idle());
  ASSERT_TRUE(g) << g.error().what();
  for (const auto& d : {t.v1 / "cinergy", t.v1 / "cinergy/run-3-x", t.v1 / "cinergy/run-3-x/noise"})
    fake_cpu_files(d, false);
  ASSERT_TRUE((*g)->add_worker(25, {}, true));
  EXPECT_EQ(attr(t.v1 / "cinergy/cpu.shares"), "2");
  EXPECT_EQ(attr(t.v1 / "cinergy/run-3-x/noise/cpu.shares"), "2");
  EXPECT_FALSE(fs::exists(t.v1 / "cinergy/cpu.idle")) << "never created";
  const auto& p = (*g)->cpu_placement();
  EXPECT_EQ(p.idle, "cpu.shares=2");
  ASSERT_FALSE(p.notes.empty());
  EXPECT_NE(p.notes.back().find("cpu.idle absent"), std::string::npos) << p.notes.back();
}

TEST(NoiseCpu, HybridRefusesAV1NoiseCgroupWithProcessesAndCleansUp) {
  HybridTree t;
  t.tmp.write("cpu,cpuacct/cinergy/run-4-x/noise/cgroup.procs", "77\n");
  FakeRunner runner;
  auto g = NoiseGroup::create(t.v2, "cinergy/run-4-x/noise", runner, {}, t.idle());
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("already holds processes"), std::string::npos);
  EXPECT_FALSE(fs::exists(t.v2 / "cinergy")) << "the cgroup2 dir made so far is removed";
}

TEST(NoiseCpu, NoIdleWorkersPlannedTouchesNoCpuHierarchy) {
  HybridTree t;
  FakeRunner runner;
  auto g = NoiseGroup::create(t.v2, "cinergy/run-5-x/noise", runner, {}, {false, t.mountinfo});
  ASSERT_TRUE(g);
  EXPECT_EQ((*g)->cpu_placement().kind, NoiseCpuPlacement::Kind::none);
  EXPECT_FALSE(fs::exists(t.v1 / "cinergy"));
  ASSERT_TRUE((*g)->add_worker(25, {}, true));
  EXPECT_TRUE(runner.requests[0].extra_cgroup_dirs.empty());
}

TEST(NoiseCpu, StaleV1NoiseOfDeadRunsRemovedBusyOnesReported) {
  HybridTree t;
  t.tmp.write("cpu,cpuacct/cinergy/run-999999998-b/noise/cgroup.procs", "");
  t.tmp.write("cpu,cpuacct/cinergy/run-999999997-c/noise/cgroup.procs", "4242\n");
  auto s = check_stale_noise(t.v2, t.v1);
  ASSERT_EQ(s.removed.size(), 1u);
  EXPECT_EQ(s.removed[0], t.v1 / "cinergy/run-999999998-b");
  EXPECT_FALSE(fs::exists(s.removed[0]));
  ASSERT_EQ(s.busy.size(), 1u);
  EXPECT_EQ(s.busy[0], t.v1 / "cinergy/run-999999997-c/noise");
}

// Pure cgroup2 with the cpu controller available at the root.
struct Cgroup2CpuTree {
  test::TempDir root;
  Cgroup2CpuTree() {
    root.write("cgroup.controllers", "cpuset cpu io memory pids\n");
    root.write("cgroup.subtree_control", "\n");
  }
  static NoiseCpuOptions idle() { return {true, {}}; }
};

TEST(NoiseCpu, Cgroup2EnablesCpuWhereAllowedAndTogglesIdleOnTheNoiseDir) {
  Cgroup2CpuTree t;
  const auto& r = t.root.path();
  FakeRunner runner;
  auto g = NoiseGroup::create(r, "cinergy/run-6-x/noise", runner, {}, t.idle());
  ASSERT_TRUE(g) << g.error().what();
  const auto& p = (*g)->cpu_placement();
  EXPECT_EQ(p.kind, NoiseCpuPlacement::Kind::cgroup2);
  EXPECT_EQ(p.cpu_cgroup, r / "cinergy/run-6-x/noise");
  for (const auto& d : {r, r / "cinergy", r / "cinergy/run-6-x"})
    EXPECT_EQ(attr(d / "cgroup.subtree_control"), "+cpu") << d;
  ASSERT_EQ(p.notes.size(), 3u);
  EXPECT_NE(p.notes[0].find("enabled cpu in " + r.string() + "/cgroup.subtree_control (the root"),
            std::string::npos)
      << p.notes[0];
  for (const auto& d : {r / "cinergy", r / "cinergy/run-6-x", r / "cinergy/run-6-x/noise"})
    fake_cpu_files(d, true, "cpu.weight", "100");

  ASSERT_TRUE((*g)->add_worker(25, {}, true));
  EXPECT_TRUE(runner.requests[0].extra_cgroup_dirs.empty()) << "one hierarchy: one dir";
  for (const auto& d : {r / "cinergy", r / "cinergy/run-6-x", r / "cinergy/run-6-x/noise"})
    EXPECT_EQ(attr(d / "cpu.idle"), "1") << d;
  EXPECT_EQ((*g)->cpu_placement().idle, "cpu.idle=1");
  auto mixed = (*g)->add_worker(25);
  ASSERT_FALSE(mixed) << "the dir cannot be idle and normal at once";
  EXPECT_NE(mixed.error().message.find("kill_all"), std::string::npos);
  // After the kill, normal workers (scenario A) get a normal cgroup again.
  ASSERT_TRUE((*g)->kill_all());
  ASSERT_TRUE((*g)->add_worker(25));
  EXPECT_EQ(attr(r / "cinergy/run-6-x/noise/cpu.idle"), "0");
  EXPECT_EQ(attr(r / "cinergy/cpu.idle"), "0");
  ASSERT_TRUE((*g)->remove());
  EXPECT_FALSE(fs::exists(r / "cinergy"));
  EXPECT_EQ(attr(r / "cgroup.subtree_control"), "+cpu") << "the root's is left enabled";
}

TEST(NoiseCpu, Cgroup2WithoutCpuIdleFallsBackToMinimalWeight) {
  Cgroup2CpuTree t;
  const auto& r = t.root.path();
  FakeRunner runner;
  auto g = NoiseGroup::create(r, "cinergy/run-7-x/noise", runner, {}, t.idle());
  ASSERT_TRUE(g) << g.error().what();
  for (const auto& d : {r / "cinergy", r / "cinergy/run-7-x", r / "cinergy/run-7-x/noise"})
    fake_cpu_files(d, false, "cpu.weight", "100");
  ASSERT_TRUE((*g)->add_worker(25, {}, true));
  EXPECT_EQ(attr(r / "cinergy/run-7-x/noise/cpu.weight"), "1");
  EXPECT_EQ((*g)->cpu_placement().idle, "cpu.weight=1");
  ASSERT_TRUE((*g)->kill_all());
  ASSERT_TRUE((*g)->add_worker(25));
  EXPECT_EQ(attr(r / "cinergy/run-7-x/noise/cpu.weight"), "100") << "restored";
}

TEST(NoiseCpu, Cgroup2LeavesADirectoryItDidNotCreateAndSaysSo) {
  Cgroup2CpuTree t;
  const auto& r = t.root.path();
  t.root.write("cgroup.subtree_control", "cpu\n");
  t.root.write("cinergy/cgroup.subtree_control", "memory\n");  // someone else's
  FakeRunner runner;
  auto g = NoiseGroup::create(r, "cinergy/run-8-x/noise", runner, {}, t.idle());
  ASSERT_TRUE(g) << g.error().what();
  const auto& p = (*g)->cpu_placement();
  EXPECT_EQ(p.kind, NoiseCpuPlacement::Kind::none);
  EXPECT_EQ(attr(r / "cinergy/cgroup.subtree_control"), "memory") << "left as is";
  EXPECT_EQ(attr(r / "cgroup.subtree_control"), "cpu");
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_NE(p.notes[0].find("did not create"), std::string::npos) << p.notes[0];
  EXPECT_NE(p.notes[0].find("may not yield"), std::string::npos) << p.notes[0];
  ASSERT_TRUE((*g)->add_worker(25, {}, true)) << "the run goes on as before";
  EXPECT_TRUE(p.idle.empty());
}

TEST(NoiseCpu, NeitherHierarchyKeepsTheOldBehaviourWithANote) {
  test::TempDir root;  // cgroup2 without controllers, no v1 cpu mount
  root.write("cgroup.controllers", "memory pids\n");
  const auto mountinfo = root.write(
      "mountinfo", "25 20 0:23 / " + root.path().string() + " rw - cgroup2 cgroup2 rw\n");
  FakeRunner runner;
  auto g = NoiseGroup::create(root.path(), "cinergy/run-9-x/noise", runner, {}, {true, mountinfo});
  ASSERT_TRUE(g) << g.error().what();
  const auto& p = (*g)->cpu_placement();
  EXPECT_EQ(p.kind, NoiseCpuPlacement::Kind::none);
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_NE(p.notes[0].find("no cgroup v1 cpu mount"), std::string::npos) << p.notes[0];
  EXPECT_NE(p.notes[0].find("SCHED_IDLE noise may not yield to a VM in a cgroup of its own"),
            std::string::npos);
  ASSERT_TRUE((*g)->add_worker(25, {}, true));
  EXPECT_TRUE(runner.requests[0].extra_cgroup_dirs.empty());
  EXPECT_EQ(p.to_json()["cpu_hierarchy"], "none");
  EXPECT_FALSE(fs::exists(root.path() / "cinergy/run-9-x/noise/cpu.idle"));
}

TEST(NoiseCpu, UnreadableMountinfoIsAnError) {
  test::TempDir root;
  FakeRunner runner;
  auto g = NoiseGroup::create(root.path(), "cinergy/r/noise", runner, {},
                              {true, root.path() / "no-mountinfo"});
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("no-mountinfo"), std::string::npos) << g.error().message;
  EXPECT_FALSE(fs::exists(root.path() / "cinergy"));
}

TEST(RunId, CarriesThePid) {
  const auto id = make_run_id(1234, std::chrono::system_clock::from_time_t(0));
  EXPECT_EQ(id, "run-1234-19700101T000000Z");
  EXPECT_EQ(run_id_pid(id), 1234);
  EXPECT_EQ(run_id_pid("run-x"), std::nullopt);
  EXPECT_EQ(run_id_pid("other"), std::nullopt);
  EXPECT_EQ(run_id_pid("run-12a-"), std::nullopt);
}

TEST(StaleNoise, BusyWhenProcessesOrOwnerAliveRemovedOtherwise) {
  test::TempDir root;
  // Dead owner (pid beyond pid_max), workers still there: busy.
  root.write("cinergy/run-999999999-a/noise/cgroup.procs", "4242\n");
  // Dead owner, empty: removed.
  root.write("cinergy/run-999999998-b/noise/cgroup.procs", "");
  // Alive owner (pid 1), empty noise cgroup (idle level): busy.
  root.write("cinergy/run-1-c/noise/cgroup.procs", "");
  auto s = check_stale_noise(root.path());
  std::set<std::string> busy;
  for (const auto& p : s.busy) busy.insert(p.parent_path().filename().string());
  EXPECT_EQ(busy, (std::set<std::string>{"run-999999999-a", "run-1-c"}));
  ASSERT_EQ(s.removed.size(), 1u);
  EXPECT_EQ(s.removed[0].filename(), "run-999999998-b");
  EXPECT_FALSE(fs::exists(root.path() / "cinergy/run-999999998-b"));
}

TEST(StaleNoise, NothingWithoutCinergyDirectory) {
  test::TempDir root;
  auto s = check_stale_noise(root.path());
  EXPECT_TRUE(s.busy.empty());
  EXPECT_TRUE(s.removed.empty());
}

}  // namespace
}  // namespace cinergy::orchestrator
