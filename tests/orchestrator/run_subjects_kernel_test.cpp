// `cinergy run` with the subjects that need no VM, as a user runs it and
// checked from the outside (kernel tier: root, cgroups, BPF, stress-ng):
//  --cmd     a command cinergy starts in its own cgroup and ends through it;
//  --cgroup  an existing cgroup cinergy only measures, and leaves as it was.
// In both, the subject's CPU in the trace must match its cgroup's cpu.stat,
// read by this test while the run goes on.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "requirements.hpp"
#include "run_support.hpp"
#include "temp_dir.hpp"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace cinergy::test::run;

#define CINERGY_RUN_KERNEL_PREREQS()                                     \
  do {                                                                   \
    CINERGY_REQUIRE_ROOT();                                              \
    if (!fs::exists(kCinergy)) GTEST_SKIP() << kCinergy << " not built"; \
    CINERGY_REQUIRE_PROGRAM("stress-ng", "stress-ng");                   \
    if (cgroup2_root().empty()) GTEST_SKIP() << "no cgroup2 mount";      \
  } while (0)

// Runs cinergy with `args`, waits (2 min at most) and checks the exit and the
// last line; returns the manifest.
json run_to_completion(const std::vector<std::string>& args, const fs::path& dir,
                       const fs::path& stdout_file, pid_t& pid,
                       const std::function<void(pid_t)>& on_start) {
  auto child = start_run(args, stdout_file);
  pid = child.pid;
  on_start(child.pid);
  const int status = wait_child(child.pid, std::chrono::seconds(120));
  const auto out = slurp(child.out);
  EXPECT_NE(status, -1) << "cinergy run did not finish in 2 minutes\n" << out;
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "status " << status << "\n"
      << out << slurp(child.out.string() + ".err");
  EXPECT_EQ(last_line(out), "run directory: " + dir.string());
  return json::parse(slurp(dir / "manifest.json"));
}

// The subject's CPU ("cpu_ns:vm") in the groundtruth trace against the
// watcher's cpu.stat readings of `cgroup`; returns the cpu.stat figure.
double check_subject_cpu(const fs::path& dir, CgroupWatcher& watcher, const fs::path& cgroup) {
  const auto meta = json::parse(slurp(dir / "trace-groundtruth.csv.xz.meta.json"));
  EXPECT_EQ(meta["simulated"], true);
  const auto trace = read_trace(dir / "trace-groundtruth.csv.xz");
  const int col = trace.col("cpu_ns:vm");
  EXPECT_GT(col, 0) << "no cpu_ns:vm column";
  EXPECT_GT(trace.rows.size(), 1000u);
  const auto cmp =
      compare_cpu(trace, col, watcher.readings(cgroup), meta["t0_monotonic_ns"].get<double>());
  EXPECT_GE(cmp.readings, 20u) << "the test saw too few readings of " << cgroup;
  std::cout << "subject CPU over " << cmp.seconds << " s: cpu.stat " << cmp.cpu_stat_ns / 1e9
            << " s, trace " << cmp.trace_ns / 1e9 << " s\n";
  EXPECT_NEAR(cmp.trace_ns, cmp.cpu_stat_ns, 0.02 * cmp.cpu_stat_ns + 10e6);
  return cmp.cpu_stat_ns;
}

const json* phase(const json& manifest, const std::string& name) {
  for (const auto& p : manifest["phases"])
    if (p["phase"] == name) return &p;
  return nullptr;
}

TEST(RunKernel, CommandSubjectIsMeasuredInItsOwnCgroupAndEnded) {
  CINERGY_RUN_KERNEL_PREREQS();
  cinergy::test::TempDir tmp;
  const auto dir = tmp.path() / "run";
  pid_t run_pid = -1;
  // The command's cgroup: <root>/cinergy/run-<pid>-<UTC>/subject.
  std::atomic<pid_t> watched{-1};
  CgroupWatcher watcher(cgroup2_root(), [&](const fs::path& p) {
    return p.filename() == "subject" &&
           p.parent_path().filename().string().starts_with("run-" + std::to_string(watched) + "-");
  });
  const auto manifest = run_to_completion(
      {"run", "--cmd", "stress-ng -c 1 -l 40 -t 6 --quiet", "--scenarios", "B", "--profile",
       "quick", "--source", "sim", "--no-analysis", "--out", dir.string()},
      dir, tmp.path() / "stdout.txt", run_pid, [&](pid_t p) { watched = p; });
  watcher.stop();

  EXPECT_EQ(manifest["status"], "completed");
  EXPECT_EQ(manifest["vm"]["kind"], "command");
  const json* gt = phase(manifest, "groundtruth");
  ASSERT_NE(gt, nullptr);
  const fs::path cgroup = (*gt)["vm_runtime"]["cgroup"].get<std::string>();
  EXPECT_EQ(cgroup.filename(), "subject");
  EXPECT_GT((*gt)["vm_runtime"]["pid"].get<int>(), 0);  // the command's, not a qemu's
  EXPECT_FALSE((*gt)["vm_runtime"].contains("qemu_pid"));
  const double cpu_ns = check_subject_cpu(dir, watcher, cgroup);
  expect_exact_traces(dir, manifest);
  // stress-ng -l 40 for 6 s: about 2.4 s of CPU if it got its share.
  EXPECT_GT(cpu_ns, 1e9);

  // Nothing left: the command and its cgroup are gone.
  const auto left = leftovers(run_pid, "cinergy-testvm");
  EXPECT_TRUE(left.empty()) << left.front();
  EXPECT_FALSE(fs::exists(cgroup));
  EXPECT_FALSE(run_cgroups_left(cgroup2_root(), run_pid));
}

TEST(RunKernel, CgroupSubjectIsMeasuredAndLeftAsItWas) {
  CINERGY_RUN_KERNEL_PREREQS();
  cinergy::test::TempDir tmp;
  const auto dir = tmp.path() / "run";
  // The user's workload: a cgroup with stress-ng in it, started by this test.
  const fs::path cgroup = cgroup2_root() / ("cinergy-test-" + std::to_string(::getpid()) + "-subj");
  ASSERT_TRUE(fs::create_directory(cgroup));
  const pid_t worker = ::fork();
  ASSERT_GE(worker, 0);
  if (worker == 0) {
    std::ofstream(cgroup / "cgroup.procs") << "0" << std::flush;
    ::execlp("stress-ng", "stress-ng", "-c", "1", "-l", "30", "-t", "60", "--quiet",
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  struct Cleanup {  // ends only what this test started, then removes its cgroup
    pid_t pid;
    fs::path cg;
    ~Cleanup() {
      std::ofstream(cg / "cgroup.kill") << "1" << std::flush;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      for (int i = 0; i < 500 && ::rmdir(cg.c_str()) != 0 && errno == EBUSY; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  } cleanup{worker, cgroup};
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  CgroupWatcher watcher(cgroup2_root(), [&](const fs::path& p) { return p == cgroup; });
  pid_t run_pid = -1;
  const auto manifest = run_to_completion(
      {"run", "--cgroup", cgroup.string(), "--max-seconds", "5", "--scenarios", "B", "--profile",
       "quick", "--source", "sim", "--no-analysis", "--out", dir.string()},
      dir, tmp.path() / "stdout.txt", run_pid, [](pid_t) {});
  watcher.stop();

  EXPECT_EQ(manifest["status"], "completed");
  EXPECT_EQ(manifest["vm"]["kind"], "cgroup");
  const double cpu_ns = check_subject_cpu(dir, watcher, cgroup);
  expect_exact_traces(dir, manifest);
  EXPECT_GT(cpu_ns, 0.5e9);  // -l 30 for about 5 s

  // Left as it was: the cgroup and the user's workload are still there.
  EXPECT_TRUE(fs::exists(cgroup));
  EXPECT_EQ(::kill(worker, 0), 0) << "cinergy ended a workload it did not start";
  EXPECT_NE(slurp(cgroup / "cgroup.procs"), "");
  EXPECT_FALSE(run_cgroups_left(cgroup2_root(), run_pid));
}

}  // namespace
