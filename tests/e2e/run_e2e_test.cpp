// `cinergy run` end to end: every file of the run directory, the VM's CPU in
// the trace against its cgroup's cpu.stat read independently by this test
// while the run goes on, the original-format CSVs, finite evaluation
// metrics; and a SIGTERM in the middle of scenario C (VM + stress-ng).
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "cinergy/common/line_reader.hpp"
#include "cinergy/common/process.hpp"
#include "cinergy/vm/host_vms.hpp"
#include "requirements.hpp"
#include "run_support.hpp"
#include "temp_dir.hpp"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const std::string kVmName = "cinergy-testvm";
using namespace cinergy::test::run;

// Directories named after the test VM (its libvirt scope or plain-qemu cgroup).
bool vm_dir(const fs::path& p) { return p.filename().string().find(kVmName) != std::string::npos; }

bool domain_running() {
  auto hv = cinergy::vm::HostVms::connect("qemu:///system");
  return hv && hv->domain_running(kVmName);
}

#define CINERGY_E2E_PREREQS()                                                              \
  do {                                                                                     \
    CINERGY_REQUIRE_ROOT();                                                                \
    if (!fs::exists(kCinergy)) GTEST_SKIP() << kCinergy << " not built";                   \
    CINERGY_REQUIRE_PROGRAM("qemu-system-x86_64", "qemu-system-x86");                      \
    CINERGY_REQUIRE_PROGRAM("stress-ng", "stress-ng");                                     \
    if (cgroup2_root().empty()) GTEST_SKIP() << "no cgroup2 mount";                        \
    if (domain_running()) GTEST_SKIP() << "a domain named " << kVmName << " already runs"; \
  } while (0)

TEST(RunE2E, QuickRunProducesEveryFileAndTheVmCpuMatchesCpuStat) {
  CINERGY_E2E_PREREQS();
  if (!cinergy::vm::HostVms::connect("qemu:///system"))
    std::cout << "note: no libvirt daemon answers on qemu:///system: the test VM runs as plain "
                 "qemu (scripts/test.sh starts one)\n";
  cinergy::test::TempDir tmp;
  const auto dir = tmp.path() / "run";
  CgroupWatcher watcher(cgroup2_root(), vm_dir);
  const auto started = std::chrono::steady_clock::now();
  auto child =
      start_run({"run", "--testvm", "--profile", "quick", "--source", "sim", "--out", dir.string()},
                tmp.path() / "stdout.txt");
  const int status = wait_child(child.pid, std::chrono::seconds(900));
  watcher.stop();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto out = slurp(child.out);
  ASSERT_NE(status, -1) << "cinergy run did not finish in 15 minutes\n" << out;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "status " << status << "\n"
      << out << slurp(child.out.string() + ".err");
  std::cout << "quick run took " << seconds << " s\n";
  EXPECT_EQ(last_line(out), "run directory: " + dir.string());

  // Every file.
  const auto manifest = json::parse(slurp(dir / "manifest.json"));
  const std::string prefix = manifest["csv_prefix"];
  std::vector<std::string> phases = {"training-25", "training-50", "training-100", "groundtruth",
                                     "cloudlike"};
  for (const auto& ph : phases) {
    for (const auto& f : {"trace-" + ph + ".csv.xz", "trace-" + ph + ".csv.xz.meta.json",
                          "events-" + ph + ".csv", prefix + "-" + ph + ".csv"})
      EXPECT_TRUE(fs::exists(dir / f) && fs::file_size(dir / f) > 0) << f;
  }
  for (const char* f : {"model.json", "isolated.csv", "evaluation.json", "model-paper.json",
                        "isolated-paper.csv", "evaluation-paper.json", "report.html"})
    EXPECT_TRUE(fs::exists(dir / f) && fs::file_size(dir / f) > 0) << f;

  // Manifest.
  EXPECT_EQ(manifest["status"], "completed");
  // Every interval of every trace within its bounds, measured with bpf; the
  // report's run health says so.
  expect_exact_traces(dir, manifest);
  EXPECT_NE(slurp(dir / "report.html").find("invariant violations / intervals"), std::string::npos);
  EXPECT_EQ(manifest["interrupted"], false);
  EXPECT_EQ(manifest["simulated"], true);
  EXPECT_EQ(manifest["host"]["threads"], static_cast<int>(std::thread::hardware_concurrency()));
  EXPECT_FALSE(manifest["end_utc"].is_null());
  EXPECT_EQ(manifest["phases"].size(), 5u);
  EXPECT_EQ(manifest["vm"]["kind"], "testvm");
  // The accelerator actually used, and why: KVM only when a guest booted
  // under it; when /dev/kvm opens and TCG was used, the reason says so.
  {
    const auto& vm = manifest["vm"];
    EXPECT_EQ(vm.value("accel_requested", ""), "auto");
    const std::string accel = vm.value("accel", ""), why = vm.value("accel_reason", "");
    EXPECT_TRUE(accel == "kvm" || accel == "tcg") << accel;
    EXPECT_FALSE(why.empty());
    const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      EXPECT_NE(why.find(accel == "kvm" ? "booted under KVM" : "under KVM"), std::string::npos)
          << why;
    } else {
      EXPECT_EQ(accel, "tcg");
    }
    std::cout << "[note] test VM accelerator: " << accel << " (" << why << ")\n";
    EXPECT_NE(slurp(dir / "report.html").find("VM accelerator"), std::string::npos);
  }
  for (const char* k : {"cinergy", "kernel", "stress-ng", "libvirt"})
    EXPECT_TRUE(manifest["versions"].contains(k)) << k;

  // Original-format files parse: header, 3 fields, whole-second timestamps,
  // numbers, phase rows, no RAPL rows in the first window only.
  for (const auto& ph : phases) {
    SCOPED_TRACE(ph);
    std::ifstream in(dir / (prefix + "-" + ph + ".csv"));
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    EXPECT_EQ(line, "timestamp,domain,measure");
    std::map<long, std::map<std::string, std::string>> pivot;
    while (std::getline(in, line)) {
      std::stringstream ls(line);
      std::string ts, d, m;
      std::getline(ls, ts, ',');
      std::getline(ls, d, ',');
      std::getline(ls, m);
      ASSERT_EQ(ts.find_first_not_of("0123456789"), std::string::npos) << line;
      ASSERT_TRUE(pivot[std::stol(ts)].emplace(d, m).second) << "duplicate " << line;
      if (d != "phase") {
        char* end = nullptr;
        const double v = std::strtod(m.c_str(), &end);
        EXPECT_TRUE(end && *end == 0 && std::isfinite(v)) << line;
      }
    }
    ASSERT_GE(pivot.size(), 2u);
    const auto& first = pivot.begin()->second;
    EXPECT_FALSE(first.count("package-global-watt")) << "first window: no RAPL rows";
    for (auto it = std::next(pivot.begin()); it != pivot.end(); ++it) {
      EXPECT_EQ(it->second.at("phase"), ph);
      EXPECT_TRUE(it->second.count("package-global-watt")) << "t=" << it->first;
      EXPECT_TRUE(it->second.count("cpu%_package-global")) << "t=" << it->first;
      const bool staircase = ph != "groundtruth";
      EXPECT_EQ(it->second.count("target") == 1, staircase) << "t=" << it->first;
      if (ph == "groundtruth" || ph == "cloudlike") {
        EXPECT_TRUE(it->second.count("vm")) << "t=" << it->first;
        EXPECT_TRUE(it->second.count("CPU0") && it->second.count("CPU1")) << "t=" << it->first;
      }
    }
  }

  // The VM's CPU in the groundtruth trace matches its cgroup's cpu.stat.
  const json* gt = nullptr;
  for (const auto& p : manifest["phases"])
    if (p["phase"] == "groundtruth") gt = &p;
  ASSERT_NE(gt, nullptr);
  const fs::path vm_cgroup = (*gt)["vm_runtime"]["cgroup"].get<std::string>();
  const auto meta = json::parse(slurp(dir / "trace-groundtruth.csv.xz.meta.json"));
  const double t0 = meta["t0_monotonic_ns"].get<double>();
  const auto trace = read_trace(dir / "trace-groundtruth.csv.xz");
  const int vm_col = trace.col("cpu_ns:vm");
  ASSERT_GT(vm_col, 0) << "no cpu_ns:vm column";
  ASSERT_GT(trace.rows.size(), 100u);
  // The sidecar's final figures (what lets the report read the trace once)
  // are the file's.
  EXPECT_EQ(meta["trace"]["rows"].get<std::size_t>(), trace.rows.size());
  EXPECT_EQ(meta["trace"]["t_first_ns"].get<double>(), trace.rows.front()[0]);
  EXPECT_EQ(meta["trace"]["t_last_ns"].get<double>(), trace.rows.back()[0]);
  const auto cmp = compare_cpu(trace, vm_col, watcher.readings(vm_cgroup), t0);
  ASSERT_GE(cmp.readings, 20u) << "the test saw too few readings of " << vm_cgroup;
  std::cout << "VM CPU over " << cmp.seconds << " s: cpu.stat " << cmp.cpu_stat_ns / 1e9
            << " s, trace " << cmp.trace_ns / 1e9 << " s (backend " << (*gt)["cpu_backend"]
            << ")\n";
  ASSERT_GT(cmp.cpu_stat_ns, 1e9) << "the test VM should burn more than 1 s of CPU";
  EXPECT_NEAR(cmp.trace_ns, cmp.cpu_stat_ns, 0.03 * cmp.cpu_stat_ns + 20e6);

  // Evaluation: finite metrics for both methods.
  for (const char* f : {"evaluation.json", "evaluation-paper.json"}) {
    const auto ev = json::parse(slurp(dir / f));
    SCOPED_TRACE(f);
    ASSERT_TRUE(ev["binned_rmse_w"].is_number()) << ev.dump();
    EXPECT_TRUE(std::isfinite(ev["binned_rmse_w"].get<double>()));
    EXPECT_TRUE(ev["binned_mape_pct"].is_number()) << ev.dump();
    if (!ev["rmse_w"].is_null()) {
      EXPECT_TRUE(std::isfinite(ev["rmse_w"].get<double>()));
    }
  }

  // The run ends with one accuracy line per method, with the evaluation's
  // figures, marked simulated; the Cinergy method's evaluation has matches.
  for (const char* m : {"cinergy", "paper"}) {
    const auto ev = json::parse(slurp(
        dir / (std::string("evaluation") + (std::string(m) == "paper" ? "-paper" : "") + ".json")));
    const std::string line = fmt::format("accuracy, {} method: {} of {} cloud-like windows matched",
                                         m, ev["n"].get<int>(), ev["n_cloudlike"].get<int>());
    EXPECT_NE(out.find(line), std::string::npos) << line << "\n" << out;
    std::cout << "evaluation (" << m << "): n " << ev["n"] << ", RMSE " << ev["rmse_w"]
              << " W, MAPE " << ev["mape_pct"] << " %, binned RMSE " << ev["binned_rmse_w"]
              << " W\n";
  }
  // Matches: by position in the test VM's replayed profile (the notebook's
  // matching, kept for parity, needs B's share at or below C's, which an
  // idle noise leaves to chance: its n is printed above).
  for (const char* f : {"evaluation.json", "evaluation-paper.json"}) {
    const auto ev = json::parse(slurp(dir / f));
    const auto& p = ev["by_position"];
    ASSERT_TRUE(p.is_object()) << f << ": " << ev.dump();
    std::cout << "[measure] " << f << " by profile position: n " << p["n"] << " (rejected by share "
              << p["rejected_share"] << "), RMSE " << p["rmse_w"] << " W, MAPE " << p["mape_pct"]
              << " %\n";
    EXPECT_GT(p["n"].get<int>(), 0) << f;
  }
  EXPECT_NE(out.find("by profile position"), std::string::npos);
  EXPECT_NE(out.find("matched to the ground truth"), std::string::npos);
  EXPECT_NE(out.find("(SIMULATED power)"), std::string::npos);
  // Each phase's share of work outside the run is recorded.
  for (const auto& p : manifest["phases"]) {
    ASSERT_TRUE(p.contains("other_cpu_pct")) << p.dump();
    EXPECT_GE(p["other_cpu_pct"]["mean"].get<double>(), 0.0);
  }

  // The baseline is the notebook's: the paper method's matched windows and
  // metrics equal those of tests/model/paper_reference.py (pandas and
  // scikit-learn) on this very run directory, and there are matches.
  {
    const auto ev = json::parse(slurp(dir / "evaluation-paper.json"));
    EXPECT_GT(ev["n"].get<int>(), 0) << ev.dump();
    auto ref = cinergy::run_capture(
        {"/usr/bin/python3", std::string(CINERGY_SOURCE_DIR) + "/tests/model/paper_reference.py",
         "check-dir", dir.string(), "--cinergy", kCinergy.string()},
        std::chrono::seconds(120));
    ASSERT_TRUE(ref) << ref.error().what();
    std::cout << "paper reference: " << ref->output;
    EXPECT_EQ(ref->exit_code, 0) << ref->output;
    std::cout << "paper method on the quick run: " << ev["n"] << " matched, RMSE " << ev["rmse_w"]
              << " W, MAPE " << ev["mape_pct"] << " %\n";
  }

  // The run's own report in headless Chromium from file:// (issue 6): no
  // console error, every chart drew; screenshot and report kept as artifacts.
  {
    const std::filesystem::path artifacts =
        std::filesystem::path(CINERGY_BINARY_DIR) / "tests" / "e2e" / "artifacts";
    std::filesystem::create_directories(artifacts);
    std::filesystem::copy_file(dir / "report.html", artifacts / "quick-run-report.html",
                               std::filesystem::copy_options::overwrite_existing);
    const std::string checker = std::string(CINERGY_SOURCE_DIR) + "/tests/report/check_report.sh";
    const std::string report = (artifacts / "quick-run-report.html").string();
    const std::string shot = (artifacts / "quick-run-report.png").string();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::execl("/bin/bash", "bash", checker.c_str(), report.c_str(), shot.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
      std::cout
          << "note: chromium is missing: the quick run's report was not opened in a browser\n";
    } else {
      EXPECT_EQ(WEXITSTATUS(status), 0) << "check_report.sh failed on " << report;
    }
  }

  // Nothing left behind.
  EXPECT_TRUE(leftovers(child.pid, kVmName).empty()) << leftovers(child.pid, kVmName).front();
  EXPECT_FALSE(run_cgroups_left(cgroup2_root(), child.pid));
  EXPECT_FALSE(domain_running());
}

// The quick run's ground truth (the TCG guest at its 95 % point on every
// CPU) is where the stale run queue clock showed (docs/bpf.md): before the
// fix, 4 of 4 scenario-B runs had an interval longer than its bound (one
// CPU's busy time 30 to 36 us over, 1.002 to 1.0056x). Three runs in a row,
// every interval of every trace within its bounds; the stale switches the
// accounting corrected are in the trace's sidecar and printed.
TEST(RunE2E, ScenarioBThreeTimesEveryIntervalWithinItsBounds) {
  CINERGY_E2E_PREREQS();
  for (int i = 1; i <= 3; ++i) {
    SCOPED_TRACE("run " + std::to_string(i));
    cinergy::test::TempDir tmp;
    const auto dir = tmp.path() / "run";
    auto child = start_run({"run", "--testvm", "--profile", "quick", "--source", "sim",
                            "--scenarios", "B", "--no-analysis", "--out", dir.string()},
                           tmp.path() / "stdout.txt");
    const int status = wait_child(child.pid, std::chrono::seconds(600));
    const auto out = slurp(child.out);
    ASSERT_NE(status, -1) << "cinergy run did not finish in 10 minutes\n" << out;
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "status " << status << "\n"
        << out << slurp(child.out.string() + ".err");
    const auto manifest = json::parse(slurp(dir / "manifest.json"));
    expect_exact_traces(dir, manifest);
    const auto meta = json::parse(slurp(dir / "trace-groundtruth.csv.xz.meta.json"));
    const auto& acc = meta["summary"]["accounting"];
    ASSERT_TRUE(acc.contains("stale_clock_switches")) << meta["summary"].dump();
    std::cout << "[measure] run " << i << ": " << acc["stale_clock_switches"]
              << " switch(es) with a stale run queue clock, corrected by "
              << acc["stale_clock_corrected_ns"].get<double>() / 1e6 << " ms in all\n";
  }
}

TEST(RunE2E, SigtermDuringScenarioCStopsEverythingCleanly) {
  CINERGY_E2E_PREREQS();
  cinergy::test::TempDir tmp;
  const auto dir = tmp.path() / "run";
  auto child = start_run({"run", "--testvm", "--profile", "quick", "--source", "sim", "--scenarios",
                          "C", "--out", dir.string()},
                         tmp.path() / "stdout.txt");
  // Wait until C has the VM and at least 2 stress-ng workers (level 2 started).
  const auto events = dir / "events-cloudlike.csv";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  bool level2 = false;
  while (std::chrono::steady_clock::now() < deadline && !level2) {
    level2 = slurp(events).find("level_start,2,") != std::string::npos;
    int st;
    if (::waitpid(child.pid, &st, WNOHANG) == child.pid)
      FAIL() << "run ended early\n" << slurp(child.out);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(level2) << "scenario C never reached level 2\n" << slurp(child.out);
  const auto noise =
      json::parse(slurp(dir / "manifest.json"))["cgroups"]["noise"].get<std::string>();
  std::vector<std::string> pids;
  {
    std::ifstream in(fs::path(noise) / "cgroup.procs");
    std::string p;
    while (in >> p) pids.push_back(p);
  }
  EXPECT_GE(pids.size(), 2u) << "stress-ng workers should run in " << noise;
  ASSERT_EQ(::kill(child.pid, SIGTERM), 0);
  const int status = wait_child(child.pid, std::chrono::seconds(60));
  const auto out = slurp(child.out);
  ASSERT_NE(status, -1) << "no exit within 60 s of SIGTERM\n" << out;
  ASSERT_TRUE(WIFEXITED(status)) << "killed by a signal: not a clean exit (status " << status
                                 << ")";
  EXPECT_NE(WEXITSTATUS(status), 0) << "an interrupted run exits non-zero";
  EXPECT_EQ(last_line(out), "run directory: " + dir.string());

  const auto manifest = json::parse(slurp(dir / "manifest.json"));
  EXPECT_EQ(manifest["interrupted"], true);
  EXPECT_EQ(manifest["status"], "interrupted");
  EXPECT_EQ(manifest["interrupted_at"]["scenario"], "cloudlike");
  EXPECT_GE(manifest["interrupted_at"]["level"].get<int>(), 2);
  EXPECT_EQ(manifest["interrupted_by"], "SIGTERM");
  EXPECT_FALSE(manifest["end_utc"].is_null());
  // The trace was flushed and its sidecar says interrupted.
  const auto meta = json::parse(slurp(dir / "trace-cloudlike.csv.xz.meta.json"));
  EXPECT_GT(read_trace(dir / "trace-cloudlike.csv.xz").rows.size(), 100u);
  EXPECT_NE(meta.dump().find("\"interrupted\":true"), std::string::npos) << meta.dump();

  const auto left = leftovers(child.pid, kVmName);
  EXPECT_TRUE(left.empty()) << left.front();
  for (const auto& p : pids)
    EXPECT_FALSE(fs::exists("/proc/" + p + "/cmdline") && !slurp("/proc/" + p + "/cmdline").empty())
        << p;
  EXPECT_FALSE(run_cgroups_left(cgroup2_root(), child.pid)) << "run cgroup left";
  EXPECT_FALSE(fs::exists(noise));
  EXPECT_FALSE(domain_running()) << "domain left running";
}

}  // namespace
