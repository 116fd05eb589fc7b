// NoiseGroup on a fake cgroup tree with a fake process runner.
#include "cinergy/orchestrator/noise.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "cinergy/common/cgroup.hpp"
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
    procs_files.insert(r.cgroup_procs);
    std::ofstream(r.cgroup_procs, std::ios::app) << pid << "\n";
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
