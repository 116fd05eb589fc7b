// Root only: does SCHED_IDLE noise through NoiseGroup take only what a VM in
// a cpu cgroup of its own leaves? A stand-in "VM" (`stress-ng -c <online
// CPUs> -l 90`) runs in a private cpu cgroup (cgroup v1 `cpu` on hybrid
// hosts, cgroup2 with the cpu controller otherwise), first alone, then beside
// 4 x <online CPUs> SCHED_IDLE workers of a NoiseGroup; its CPU comes from
// its cgroup2 cpu.stat (usage_usec) over 5 s each. The figures are printed.
//
// Everything lives below private directories <hierarchy>/cinergy-idle-test-<pid>
// (the test's "host root": the noise cgroup and the stand-in are siblings
// there, as cinergy/ and machine/ are on a host), and is removed at the end.
// CINERGY_TEST_NOISE_UNPLACED=1 runs the noise as before the cpu placement
// (NoiseCpuOptions::idle_workers = false): the test then fails on hybrid hosts.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "cinergy/common/cgroup.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"
#include "cinergy/orchestrator/noise.hpp"
#include "requirements.hpp"
#include "temp_dir.hpp"

namespace cinergy::orchestrator {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::uint64_t usage_usec(const fs::path& cgroup2_dir) {
  std::ifstream in(cgroup2_dir / "cpu.stat");
  std::string key;
  std::uint64_t v = 0;
  while (in >> key >> v)
    if (key == "usage_usec") return v;
  return 0;
}

// % of one CPU the cgroup used over `span`.
double cpu_pct(const fs::path& cgroup2_dir, std::chrono::milliseconds span) {
  const auto u0 = usage_usec(cgroup2_dir);
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(span);
  const auto u1 = usage_usec(cgroup2_dir);
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  return 100.0 * static_cast<double>(u1 - u0) / us;
}

// The private directories, the stand-in and the noise, removed in reverse.
struct Scene {
  fs::path v2, v1;  // <hierarchy>/cinergy-idle-test-<pid>; v1 empty on pure cgroup2
  pid_t stand_in = -1;
  std::unique_ptr<ProcessRunner> runner = make_process_runner();
  std::unique_ptr<NoiseGroup> noise;
  ~Scene() {
    if (noise) (void)noise->remove();
    noise.reset();
    if (stand_in > 0) terminate_and_reap(stand_in, true, 2s);
    for (const auto& d : {v2, v1}) {
      if (d.empty()) continue;
      (void)remove_cgroup_dir(d / "vm");
      (void)remove_cgroup_dir(d);
    }
  }
};

TEST(NoiseIdleKernel, StandInVmKeepsItsCpuBesideSchedIdleNoise) {
  CINERGY_REQUIRE_ROOT();
  CINERGY_REQUIRE_PROGRAM("stress-ng", "stress-ng");
  auto v2_mount = cgroup2_mount();
  ASSERT_TRUE(v2_mount) << v2_mount.error().what();
  auto v1_mount = cgroup1_mount("cpu");
  if (!v1_mount) {
    auto enabled = read_trimmed(*v2_mount / "cgroup.subtree_control");
    if (!enabled || enabled->find("cpu") == std::string::npos)
      GTEST_SKIP() << "the cpu controller is in no hierarchy here (no cgroup v1 cpu mount, not "
                      "enabled in "
                   << v2_mount->string() << "/cgroup.subtree_control)";
  }
  const int cpus = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  const std::string name = "cinergy-idle-test-" + std::to_string(::getpid());

  Scene s;
  s.v2 = *v2_mount / name;
  ASSERT_TRUE(make_cgroup(s.v2));
  test::TempDir tmp;
  fs::path mountinfo;  // the test's v1 "mount": its private directory
  if (v1_mount) {
    s.v1 = *v1_mount / name;
    ASSERT_TRUE(make_cgroup(s.v1));
    ASSERT_TRUE(make_cgroup(s.v1 / "vm"));
    mountinfo = tmp.write(
        "mountinfo", "32 31 0:29 / " + s.v1.string() + " rw,relatime - cgroup cgroup rw,cpu\n");
  } else {
    ASSERT_TRUE(write_file(s.v2 / "cgroup.subtree_control", "+cpu"));
  }
  ASSERT_TRUE(make_cgroup(s.v2 / "vm"));

  SpawnOptions o;
  o.die_with_parent = true;
  o.cgroup_dir = s.v2 / "vm";
  if (v1_mount) o.extra_cgroup_dirs = {s.v1 / "vm"};
  auto vm = spawn({"stress-ng", "-c", std::to_string(cpus), "-l", "90", "--quiet"}, o);
  ASSERT_TRUE(vm) << vm.error().what();
  s.stand_in = *vm;
  std::this_thread::sleep_for(1s);
  const double alone = cpu_pct(s.v2 / "vm", 5s);

  const bool unplaced = std::getenv("CINERGY_TEST_NOISE_UNPLACED") != nullptr;
  auto noise = NoiseGroup::create(s.v2, "cinergy/run-" + std::to_string(::getpid()) + "-t/noise",
                                  *s.runner, {}, {!unplaced, mountinfo});
  ASSERT_TRUE(noise) << noise.error().what();
  s.noise = std::move(*noise);
  for (int i = 0; i < 4 * cpus; ++i) {
    auto w = s.noise->add_worker(100, {}, true);
    ASSERT_TRUE(w) << w.error().what();
  }
  std::this_thread::sleep_for(1s);
  const double beside = cpu_pct(s.v2 / "vm", 5s);
  const double noise_pct = cpu_pct(s.noise->path(), 1s);
  const auto p = s.noise->cpu_placement();
  ASSERT_TRUE(s.noise->remove());
  if (v1_mount) {
    EXPECT_FALSE(fs::exists(s.v1 / "cinergy")) << "v1 noise cgroups removed";
  }
  EXPECT_FALSE(fs::exists(s.v2 / "cinergy")) << "cgroup2 noise cgroups removed";
  // Alone again: other work on the host may have changed meanwhile.
  std::this_thread::sleep_for(500ms);
  const double alone_after = cpu_pct(s.v2 / "vm", 3s);
  const double baseline = (alone + alone_after) / 2;

  std::printf(
      "stand-in VM (stress-ng -c %d -l 90) in %s: alone %.0f %% of one CPU (%.0f %% after); "
      "beside %d SCHED_IDLE workers %.0f %% (%.0f %% of alone; the noise then %.0f %%); noise "
      "placement %s %s, %s\n",
      cpus, (v1_mount ? s.v1 / "vm" : s.v2 / "vm").c_str(), alone, alone_after, 4 * cpus, beside,
      100.0 * beside / baseline, noise_pct, std::string(to_string(p.kind)).c_str(),
      p.cpu_cgroup.c_str(), p.idle.empty() ? "not made idle" : p.idle.c_str());
  for (const auto& note : p.notes) std::printf("  note: %s\n", note.c_str());
  // Other work took much of the CPU, or started or ended meanwhile: no
  // figure says then what the noise takes.
  if (baseline < 0.75 * 90 * cpus || std::abs(alone - alone_after) > 0.15 * alone)
    GTEST_SKIP() << "the host is busy: the stand-in alone got " << alone << " then " << alone_after
                 << " % of one CPU of the " << 90 * cpus << " % it asks for; not a measurement";
  EXPECT_GT(beside, 0.8 * baseline) << "SCHED_IDLE noise took the stand-in's CPU";
}

}  // namespace
}  // namespace cinergy::orchestrator
