// Manifest content and the run plan (pure parts of `cinergy run`).
#include "cinergy/orchestrator/manifest.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "cinergy/orchestrator/run.hpp"

namespace cinergy::orchestrator {
namespace {

Topology two_cpus() {
  Topology t;
  t.socket_cpus = {{0, 1}};
  t.cores = 2;
  return t;
}

TEST(Manifest, InitialHasEverythingAskedFor) {
  RunOptions o;
  ASSERT_TRUE(apply_profile(o, "quick"));
  o.source.source = "sim";
  ManifestInputs in;
  in.run_id = "run-1-x";
  in.command_line = {"cinergy", "run", "--testvm"};
  in.host_name = "h1";
  in.topology = two_cpus();
  in.rapl = {{"source", "sim"}, {"domains", {"package-0", "package-global"}}, {"simulated", true}};
  in.simulated = true;
  in.csv_prefix = "h1";
  in.settings = settings_json(o);
  in.vm = {{"kind", "testvm"}};
  in.versions = {{"cinergy", "0.1.0"}, {"kernel", "6.18"}, {"stress-ng", "x"}, {"libvirt", "9"}};
  in.start = std::chrono::system_clock::from_time_t(86400);
  in.noise = {{"cpu_hierarchy", "cgroup1"}, {"idle", "cpu.idle=1"}};
  auto m = initial_manifest(in);
  EXPECT_EQ(m["noise"]["cpu_hierarchy"], "cgroup1");
  EXPECT_EQ(m["noise"]["idle"], "cpu.idle=1");
  EXPECT_EQ(m["host"]["name"], "h1");
  EXPECT_EQ(m["host"]["threads"], 2);
  EXPECT_EQ(m["host"]["sockets"], 1);
  EXPECT_EQ(m["host"]["cores"], 2);
  EXPECT_EQ(m["topology"]["socket_cpus"], nlohmann::json::parse("[[0,1]]"));
  EXPECT_EQ(m["simulated"], true);
  EXPECT_EQ(m["rapl"]["source"], "sim");
  EXPECT_EQ(m["vm"]["kind"], "testvm");
  EXPECT_EQ(m["versions"]["kernel"], "6.18");
  EXPECT_EQ(m["cinergy"]["version"], "0.1.0");
  EXPECT_EQ(m["start_utc"], "1970-01-02T00:00:00.000Z");
  EXPECT_TRUE(m["end_utc"].is_null());
  EXPECT_EQ(m["interrupted"], false);
  EXPECT_EQ(m["status"], "running");
  const auto& s = m["settings"];
  EXPECT_EQ(s["profile"], "quick");
  EXPECT_EQ(s["window_s"], 1.0);
  EXPECT_EQ(s["windows_per_level"], 2);
  EXPECT_EQ(s["steps"], nlohmann::json::parse("[25,50,100]"));
  EXPECT_EQ(s["source"], "sim");
  EXPECT_EQ(s["rate_hz"], 1000.0);
  EXPECT_EQ(s["scenarios"], "ABC");
  for (const char* key :
       {"live", "analysis", "pin_socket", "subject", "vm", "cpu_backend", "out_dir"})
    EXPECT_TRUE(s.contains(key)) << key;
}

TEST(Manifest, FinishCompletedInterruptedFailed) {
  nlohmann::json m = {{"status", "running"}, {"interrupted", false}};
  auto t = std::chrono::system_clock::from_time_t(0);
  finish_manifest(m, {false, "", "", -1, -1, "", t});
  EXPECT_EQ(m["status"], "completed");
  EXPECT_EQ(m["interrupted"], false);
  EXPECT_FALSE(m.contains("interrupted_at"));
  EXPECT_EQ(m["end_utc"], "1970-01-01T00:00:00.000Z");

  m = {{"status", "running"}};
  finish_manifest(m, {true, "", "training-50", 3, 1, "SIGTERM", t});
  EXPECT_EQ(m["status"], "interrupted");
  EXPECT_EQ(m["interrupted"], true);
  EXPECT_EQ(m["interrupted_at"]["scenario"], "training-50");
  EXPECT_EQ(m["interrupted_at"]["level"], 3);
  EXPECT_EQ(m["interrupted_at"]["window"], 1);
  EXPECT_EQ(m["interrupted_by"], "SIGTERM");

  m = {{"status", "running"}};
  finish_manifest(m, {false, "the VM vanished", "groundtruth", 0, 7, "", t});
  EXPECT_EQ(m["status"], "failed");
  EXPECT_EQ(m["interrupted"], true) << "an error interrupts the run too";
  EXPECT_EQ(m["error"], "the VM vanished");
  EXPECT_EQ(m["interrupted_by"], "error");
}

TEST(Plan, PhasesAndDurations) {
  RunOptions o;
  ASSERT_TRUE(apply_profile(o, "quick"));
  auto plan = plan_phases(o, two_cpus());
  ASSERT_EQ(plan.size(), 5u);
  EXPECT_EQ(plan[0].name, "training-25");
  EXPECT_EQ(plan[0].levels.size(), 9u);
  EXPECT_EQ(plan[1].name, "training-50");
  EXPECT_EQ(plan[1].levels.size(), 5u);
  EXPECT_EQ(plan[2].name, "training-100");
  EXPECT_EQ(plan[2].levels.size(), 3u);
  EXPECT_EQ(plan[3].name, "groundtruth");
  EXPECT_TRUE(plan[3].levels.empty());
  EXPECT_EQ(plan[4].name, "cloudlike");
  EXPECT_EQ(plan[4].step, 25);
  EXPECT_EQ(plan[4].levels.size(), 9u);
  const auto vm_s = subject_expected_seconds(o);
  ASSERT_TRUE(vm_s);
  EXPECT_EQ(*vm_s, 20.0);  // 4 steps x 5 s
  // A: 17 levels x 2 windows x 1 s; B: 20 + 10; C: 9 x 2 x 1 + 10.
  EXPECT_DOUBLE_EQ(planned_seconds(o, plan, vm_s), 34 + 30 + 28);
  EXPECT_LT(planned_seconds(o, plan, vm_s), 300) << "quick must fit in 5 minutes";

  o.scenarios = "B";
  EXPECT_EQ(plan_phases(o, two_cpus()).size(), 1u);
}

// Two sockets of two CPUs each (Linux numbering: cores first).
Topology two_sockets() {
  Topology t;
  t.socket_cpus = {{0, 2}, {1, 3}};
  t.cores = 4;
  return t;
}

TEST(Plan, SeveralSocketsAddUnpinnedStaircasesAfterThePinnedOnes) {
  RunOptions o;
  ASSERT_TRUE(apply_profile(o, "quick"));
  auto plan = plan_phases(o, two_sockets());
  ASSERT_EQ(plan.size(), 8u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(plan[i].name, fmt::format("training-{}", o.steps[i]));
    EXPECT_EQ(plan[i + 3].name, fmt::format("training-unpinned-{}", o.steps[i]));
    EXPECT_EQ(plan[i + 3].scenario, 'A');
    EXPECT_EQ(plan[i + 3].step, o.steps[i]);
    ASSERT_EQ(plan[i + 3].levels.size(), plan[i].levels.size()) << "the same staircase";
    for (std::size_t l = 1; l < plan[i].levels.size(); ++l) {
      EXPECT_FALSE(plan[i].levels[l].cpus.empty()) << "pinned: on its socket's CPUs";
      EXPECT_TRUE(plan[i + 3].levels[l].cpus.empty()) << "unpinned: the scheduler places it";
      EXPECT_EQ(plan[i + 3].levels[l].workers, plan[i].levels[l].workers);
    }
  }
  EXPECT_EQ(plan[6].name, "groundtruth");
  EXPECT_EQ(plan[7].name, "cloudlike");
  EXPECT_FALSE(plan[7].levels.back().cpus.empty()) << "C's noise stays the paper's";
  EXPECT_EQ(settings_json(o)["unpinned_training"], true);

  o.unpinned_training = false;
  EXPECT_EQ(plan_phases(o, two_sockets()).size(), 5u) << "--no-unpinned-training";
  o.unpinned_training = true;
  o.pin_socket = false;
  EXPECT_EQ(plan_phases(o, two_sockets()).size(), 5u) << "--no-pin: A is unpinned already";
  o.pin_socket = true;
  EXPECT_EQ(plan_phases(o, two_cpus()).size(), 5u) << "one socket: pinned is unpinned";
  o.scenarios = "BC";
  EXPECT_EQ(plan_phases(o, two_sockets()).size(), 2u) << "no A, no staircase of A";
}

TEST(Plan, PaperProfileIsTheOriginal) {
  RunOptions o;
  ASSERT_TRUE(apply_profile(o, "paper"));
  EXPECT_EQ(o.window_s, 2.0);
  EXPECT_EQ(o.windows_per_level, 10);
  EXPECT_EQ(o.steps, (std::vector<int>{25, 50, 100}));
  EXPECT_EQ(o.vm.testvm_step_seconds, 30);
  EXPECT_EQ(o.cloudlike_noise_sched, RunOptions::NoiseSched::normal) << "noise as other tenants";
  ASSERT_TRUE(apply_profile(o, "quick"));
  EXPECT_EQ(o.cloudlike_noise_sched, RunOptions::NoiseSched::idle) << "a 2-core host";
  EXPECT_EQ(settings_json(o)["cloudlike_noise_sched"], "idle");
  EXPECT_FALSE(apply_profile(o, "fast"));
  EXPECT_EQ(parse_noise_sched("idle", "--noise-sched").value(), RunOptions::NoiseSched::idle);
  EXPECT_EQ(parse_noise_sched("normal", "--noise-sched").value(), RunOptions::NoiseSched::normal);
  auto bad = parse_noise_sched("batch", "--noise-sched");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "--noise-sched: 'batch' is not one of normal, idle");
}

TEST(StopFlag, SleepUntilReturnsEarlyOnStop) {
  clear_stop();
  EXPECT_TRUE(sleep_until(std::chrono::steady_clock::now()));
  request_stop();
  EXPECT_TRUE(stop_requested());
  EXPECT_FALSE(sleep_until(std::chrono::steady_clock::now() + std::chrono::hours(1)));
  clear_stop();
  EXPECT_FALSE(stop_requested());
}

}  // namespace
}  // namespace cinergy::orchestrator
