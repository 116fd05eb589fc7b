// Root only: a real noise cgroup with real stress-ng workers, killed through
// the cgroup; and a run refusing to start beside a stale noise cgroup.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "cinergy/common/cgroup.hpp"
#include "cinergy/orchestrator/noise.hpp"
#include "cinergy/orchestrator/run.hpp"
#include "requirements.hpp"

namespace cinergy::orchestrator {
namespace {
namespace fs = std::filesystem;

// A private cgroup2 subtree for the test: <cgroup2>/cinergy-test-<pid>.
class Cgroup2Root {
 public:
  Cgroup2Root() {
    for (const char* c : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
      if (fs::exists(fs::path(c) / "cgroup.procs") && fs::exists(fs::path(c) / "cgroup.threads")) {
        base_ = c;
        break;
      }
    }
    if (base_.empty()) return;
    dir_ = base_ / ("cinergy-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  ~Cgroup2Root() {
    if (!dir_.empty()) (void)remove_tree(dir_);
  }
  static bool remove_tree(const fs::path& d) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d, ec))
      if (e.is_directory()) remove_tree(e.path());
    return ::rmdir(d.c_str()) == 0;
  }
  [[nodiscard]] const fs::path& path() const { return dir_; }

 private:
  fs::path base_, dir_;
};

// Running (a zombie waiting for init to reap it does not count).
bool alive(pid_t p) {
  std::ifstream in("/proc/" + std::to_string(p) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z' &&
         line[close + 2] != 'X';
}

TEST(NoiseKernel, RealWorkersLiveInTheCgroupAndDieThroughIt) {
  CINERGY_REQUIRE_ROOT();
  CINERGY_REQUIRE_PROGRAM("stress-ng", "stress-ng");
  Cgroup2Root root;
  ASSERT_FALSE(root.path().empty()) << "no cgroup2 mount found";
  auto runner = make_process_runner();
  auto group = NoiseGroup::create(root.path(), "cinergy/run-1-test/noise", *runner);
  ASSERT_TRUE(group) << group.error().what();
  auto& g = **group;
  auto a = g.add_worker(50, {0});
  auto b = g.add_worker(100);
  ASSERT_TRUE(a) << a.error().what();
  ASSERT_TRUE(b) << b.error().what();
  // stress-ng forks its worker: wait until parent and workers are in the cgroup.
  std::vector<pid_t> pids;
  for (int i = 0; i < 200 && pids.size() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    pids = cgroup_pids(g.path());
  }
  ASSERT_GE(pids.size(), 4u) << "2 stress-ng parents + 2 workers expected in " << g.path();
  EXPECT_NE(std::find(pids.begin(), pids.end(), *a), pids.end());
  // The pinned worker's affinity is CPU 0 only.
  cpu_set_t set;
  ASSERT_EQ(::sched_getaffinity(*a, sizeof set, &set), 0);
  EXPECT_EQ(CPU_COUNT(&set), 1);
  EXPECT_TRUE(CPU_ISSET(0, &set));

  ASSERT_TRUE(g.kill_all()) << "kill through the cgroup";
  EXPECT_TRUE(cgroup_pids(g.path()).empty());
  for (pid_t p : pids) EXPECT_FALSE(alive(p)) << "pid " << p << " survived";
  ASSERT_TRUE(g.remove());
  EXPECT_FALSE(fs::exists(root.path() / "cinergy")) << "cgroups removed";
}

TEST(NoiseKernel, ExecFailureIsReportedNotSilent) {
  CINERGY_REQUIRE_ROOT();
  Cgroup2Root root;
  ASSERT_FALSE(root.path().empty());
  auto runner = make_process_runner();
  SpawnRequest r{{"/nonexistent/binary"}, root.path() / "cgroup.procs", {}, {}, {}};
  auto pid = runner->spawn(r);
  ASSERT_FALSE(pid);
  EXPECT_NE(pid.error().message.find("exec"), std::string::npos) << pid.error().what();
  SpawnRequest bad_cgroup{{"/bin/true"}, root.path() / "missing" / "cgroup.procs", {}, {}, {}};
  auto pid2 = runner->spawn(bad_cgroup);
  ASSERT_FALSE(pid2);
  EXPECT_NE(pid2.error().message.find("joining cgroup"), std::string::npos) << pid2.error().what();
}

TEST(NoiseKernel, RunRefusesToStartBesideAStaleNoiseCgroup) {
  CINERGY_REQUIRE_ROOT();
  Cgroup2Root root;
  ASSERT_FALSE(root.path().empty());
  // A dead run's noise cgroup that still holds a process.
  const auto stale = root.path() / "cinergy" / "run-999999999-20260101T000000Z" / "noise";
  fs::create_directories(stale);
  auto runner = make_process_runner();
  auto sleeper = runner->spawn({{"sleep", "60"}, stale / "cgroup.procs", {}, {}, {}});
  ASSERT_TRUE(sleeper) << sleeper.error().what();

  RunOptions o;
  ASSERT_TRUE(apply_profile(o, "quick"));
  o.scenarios = "A";
  o.source.source = "sim";
  o.cgroup2_root = root.path();
  o.out_dir = fs::temp_directory_path() / ("cinergy-refuse-" + std::to_string(::getpid()));
  auto r = run(o);
  ASSERT_FALSE(r) << "must refuse";
  EXPECT_NE(r.error().message.find("another cinergy run"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(stale.string()), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(o.out_dir)) << "nothing started, no run directory";
  EXPECT_TRUE(alive(*sleeper)) << "never touches another run's processes";

  ::kill(*sleeper, SIGKILL);
  ::waitpid(*sleeper, nullptr, 0);
  // Now the leftover is empty and its owner dead: it is cleaned up, not refused.
  auto s = check_stale_noise(root.path());
  EXPECT_TRUE(s.busy.empty());
  EXPECT_EQ(s.removed.size(), 1u);
}

}  // namespace
}  // namespace cinergy::orchestrator
