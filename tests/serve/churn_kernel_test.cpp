// Kernel tier (root, BPF): `cinergy serve` with 50 cgroup subjects that are
// removed and created again every second for a few minutes (all but the one
// holding a busy process, which moves to a new one every 5 s),
// Prometheus-style scrapes every second.
// Asserts: every scrape answered, RSS flat, 0 sampler drops, the subjects
// really churned (new series each time), the moved process's CPU counted;
// then SIGTERM: exit 0 within a second, its BPF programs gone, the test's
// cgroups left as they were.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

#include "../bpf/kernel_support.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"
#include "cinergy/serve/http_get.hpp"
#include "metrics_text.hpp"
#include "requirements.hpp"
#include "serve_support.hpp"
#include "temp_dir.hpp"
#include "test_model.hpp"

namespace cinergy {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
const std::string kCinergy = std::string(CINERGY_BINARY_DIR) + "/cinergy";
constexpr int kSubjects = 50;
constexpr int kHoldCycles = 5;

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("VmRSS:")) return std::atol(line.c_str() + 6);
  return -1;
}

// The ids of the BPF programs a process holds open (its fds' fdinfo).
std::set<__u32> bpf_progs_of(pid_t pid) {
  std::set<__u32> ids;
  const fs::path fds = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fds, ec)) {
    std::error_code lec;
    if (fs::read_symlink(e.path(), lec).string() != "anon_inode:bpf-prog") continue;
    std::ifstream info("/proc/" + std::to_string(pid) + "/fdinfo/" + e.path().filename().string());
    for (std::string line; std::getline(info, line);)
      if (line.starts_with("prog_id:")) ids.insert(static_cast<__u32>(std::atol(line.c_str() + 8)));
  }
  return ids;
}

bool prog_exists(__u32 id) {
  const int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// Moves every process of cgroup `from` (stress-ng and its worker) to `to`.
void move_all(const fs::path& from, const fs::path& to) {
  for (pid_t p : cgroup_pids(from)) (void)write_file(to / "cgroup.procs", std::to_string(p));
}

double seconds_from_env(const char* name, double fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && std::atof(v) > 0 ? std::atof(v) : fallback;
}

TEST(ServeKernel, FiftyCgroupsChurningEverySecond) {
  CINERGY_REQUIRE_BPF_TIER();
  const auto root = test::cgroup2_root_or_empty();
  CINERGY_REQUIRE_PROGRAM("stress-ng", "stress-ng");
  const double duration_s = seconds_from_env("CINERGY_SERVE_CHURN_S", 180);

  test::TempDir tmp;
  test::write_test_model(tmp.path() / "model.json",
                         static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)));
  test::TestCgroup parent(root, "serve-churn");
  const auto hold = parent.mkdir("hold");  // the busy process waits here while the others go
  std::vector<fs::path> dirs;
  std::vector<std::string> argv = {kCinergy,   "serve",       "--source",
                                   "sim",      "--connect",   "none",
                                   "--listen", "127.0.0.1:0", "--interval",
                                   "1",        "--model",     (tmp.path() / "model.json").string()};
  for (int i = 0; i < kSubjects; ++i) {
    dirs.push_back(parent.path() / ("c" + std::to_string(i)));
    argv.push_back("--cgroup");
    argv.push_back(dirs.back().string() + "=c" + std::to_string(i));
  }
  // The churned directories: removed with whatever runs in them at the end,
  // before the parent (also when an assertion ends the test early).
  struct Dirs {
    std::vector<fs::path>& dirs;
    ~Dirs() {
      for (const auto& d : dirs) (void)kill_and_remove_cgroup(d, 5s);
    }
  } dirs_guard{dirs};
  test::Child busy(
      {"stress-ng", "-c", "1", "-l", "30", "-t", std::to_string(int(duration_s) + 60), "--quiet"},
      hold);
  const auto log = tmp.path() / "serve.log";
  SpawnOptions so;
  so.output_file = log;
  auto pid = spawn(argv, so);
  ASSERT_TRUE(pid) << pid.error().what();
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid > 0) terminate_and_reap(pid, false, 2s);
    }
  } reaper{*pid};

  std::string text;
  const auto port = test::wait_serving_port(log, 20s, text);
  ASSERT_TRUE(port) << text;
  const std::string url = "http://127.0.0.1:" + std::to_string(*port) + "/metrics";
  const auto progs = bpf_progs_of(*pid);
  EXPECT_FALSE(progs.empty()) << "serve runs the BPF accounting as root";

  const auto t0 = Clock::now();
  fs::path busy_in = hold;  // where the busy process (stress-ng and its worker) runs now
  int cycles = 0, scrapes = 0, answered = 0;
  long rss_warm = -1, rss_max = 0;
  double slowest_s = 0, max_cgroup_subjects = 0, busiest_s = 0;
  std::set<std::string> started_c0;
  for (auto next = t0; Clock::now() - t0 < std::chrono::duration<double>(duration_s);) {
    // Every cgroup goes and comes back (new inodes); the busy process moves
    // into one of the new ones.
    // The one holding the busy process stays for kHoldCycles (so that its
    // CPU can be measured over whole intervals), then it goes too.
    const auto& holder = dirs[static_cast<std::size_t>((cycles / kHoldCycles) % kSubjects)];
    const bool move = holder != busy_in;
    if (move) move_all(busy_in, hold);
    for (const auto& d : dirs) {
      if (d == busy_in && !move) continue;
      ASSERT_TRUE(remove_cgroup_dir(d, 1s)) << d;
    }
    for (const auto& d : dirs) {
      if (d == busy_in && !move) continue;
      ASSERT_TRUE(make_cgroup(d)) << d;
    }
    if (move) move_all(hold, holder);
    busy_in = holder;
    ++cycles;

    ++scrapes;
    auto r = serve::http_get(url, 2s);
    if (r && r->status == 200) {
      ++answered;
      slowest_s = std::max(slowest_s, r->seconds);
      max_cgroup_subjects =
          std::max(max_cgroup_subjects,
                   test::sample(r->body, "cinergy_subjects", {{"kind", "cgroup"}}).value_or(0));
      for (const auto& s : test::samples(r->body, "cinergy_cpu_seconds_total", {{"name", "c0"}}))
        started_c0.insert(s.label("started"));
      for (const auto& s :
           test::samples(r->body, "cinergy_cpu_seconds_total", {{"kind", "cgroup"}}))
        busiest_s = std::max(busiest_s, s.value);
    } else {
      ADD_FAILURE() << "scrape " << scrapes << " not answered: "
                    << (r ? "HTTP " + std::to_string(r->status) : r.error().what());
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    const long rss = rss_kib(*pid);
    if (rss_warm < 0 && elapsed >= 30) rss_warm = rss;
    if (rss_warm >= 0) rss_max = std::max(rss_max, rss);
    next += 1s;
    std::this_thread::sleep_until(next);
  }
  auto last = serve::http_get(url, 2s);
  ASSERT_TRUE(last && last->status == 200);
  const double dropped = test::sample(last->body, "cinergy_sampler_dropped_total").value_or(-1);
  const double samples = test::sample(last->body, "cinergy_sampler_samples_total").value_or(0);
  const double ended = test::sample(last->body, "cinergy_subjects_ended_total").value_or(0);
  const double errors = test::sample(last->body, "cinergy_sampler_read_errors_total").value_or(-1);
  std::printf(
      "[measure] %d cycles of %d cgroups in %.0f s: %d/%d scrapes answered (slowest %.1f ms); "
      "RSS %ld KiB at 30 s, at most %ld KiB after; %.0f samples, %.0f dropped, %.0f read "
      "errors; %.0f subjects ended; %zu series of c0; at most %.0f cgroup subjects at once; the "
      "moved process seen with up to %.3f s of CPU in one of them\n",
      cycles, kSubjects, duration_s, answered, scrapes, 1e3 * slowest_s, rss_warm, rss_max, samples,
      dropped, errors, ended, started_c0.size(), max_cgroup_subjects, busiest_s);
  EXPECT_EQ(answered, scrapes);
  EXPECT_EQ(dropped, 0);
  EXPECT_GT(samples, 0.8 * 1000 * duration_s) << "the sampler ran at 1 kHz";
  ASSERT_GT(rss_warm, 0);
  EXPECT_LE(rss_max, rss_warm + 4096) << "RSS grew by more than 4 MiB after warm-up";
  EXPECT_GT(ended, 0.5 * kSubjects * cycles) << "subjects really went away";
  EXPECT_GT(started_c0.size(), static_cast<std::size_t>(cycles / 3)) << "each a new series";
  EXPECT_LE(max_cgroup_subjects, kSubjects);
  EXPECT_GT(busiest_s, 0.3) << "the busy process's CPU counted where it ran";

  const auto stop0 = Clock::now();
  ASSERT_EQ(::kill(*pid, SIGTERM), 0);
  std::optional<int> status;
  while (!(status = try_reap(*pid)) && Clock::now() - stop0 < 5s) std::this_thread::sleep_for(5ms);
  const double stop_s = std::chrono::duration<double>(Clock::now() - stop0).count();
  ASSERT_TRUE(status) << "still running 5 s after SIGTERM";
  reaper.pid = -1;
  std::printf("[measure] SIGTERM -> exit %d in %.3f s\n", *status, stop_s);
  EXPECT_EQ(*status, 0);
  EXPECT_LT(stop_s, 1.0);
  // Its programs are freed after an RCU grace period.
  for (int i = 0; i < 200 && std::ranges::any_of(progs, prog_exists); ++i)
    std::this_thread::sleep_for(10ms);
  for (auto id : progs) EXPECT_FALSE(prog_exists(id)) << "BPF program " << id << " left loaded";
  EXPECT_TRUE(fs::is_directory(hold)) << "serve leaves cgroups as it found them";
  for (const auto& d : dirs) EXPECT_TRUE(fs::is_directory(d));
}

}  // namespace
}  // namespace cinergy
