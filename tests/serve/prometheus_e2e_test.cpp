// e2e (root): `cinergy serve` scraped by a real Prometheus server (Debian's
// package, started here on 127.0.0.1 with a temporary config and data
// folder, 1 s scrape interval, the repository's recording rules, stopped by
// its PID) while the test VM runs under a real libvirt daemon. Through
// Prometheus's HTTP API: the VM's series exist;
// rate(cinergy_cpu_seconds_total{thread="total"}) matches the VM cgroup's
// cpu.stat over the same time; the isolated power equals `cinergy predict`
// at the VM's measured share and intensity; the recording rules evaluate;
// stopping the VM makes its series stale and starting it again makes new
// ones (same uuid, another start time); a libvirt daemon restart is
// followed by a reconnection while the VM stays measured.
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "../../orchestrator/vm/src/libvirt_client.hpp"
#include "../../orchestrator/vm/src/vm_impl.hpp"
#include "../../orchestrator/vm/src/vm_internal.hpp"
#include "../vm/e2e_support.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"
#include "cinergy/serve/http_get.hpp"
#include "cinergy/vm/libvirt_daemon.hpp"
#include "cinergy/vm/vm.hpp"
#include "metrics_text.hpp"
#include "requirements.hpp"
#include "serve_support.hpp"
#include "temp_dir.hpp"
#include "test_model.hpp"

namespace cinergy {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace vd = vm::detail;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* kUri = "qemu:///system";
const std::string kCinergy = std::string(CINERGY_BINARY_DIR) + "/cinergy";

std::string g_skip, g_fail;
test::LibvirtForTests g_libvirt;

fs::path cache_dir() { return test::testvm_cache_dir(); }

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A port free now (taken by the kernel, released at once) for Prometheus.
int free_port() { return test::TakenPort().port(); }

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = 250ms) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

// A child process of this test, ended by its PID at scope exit.
struct Process {
  pid_t pid = -1;
  fs::path log;
  ~Process() { stop(); }
  void stop() {
    if (pid > 0) terminate_and_reap(pid, false, 5s);
    pid = -1;
  }
};

// The test's own Prometheus server.
class Prometheus {
 public:
  Prometheus(const fs::path& dir, int target_port) : port_(free_port()) {
    const auto config = dir / "prometheus.yml";
    std::ofstream(config) << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                          << "rule_files:\n  - " << CINERGY_SOURCE_DIR
                          << "/serve/deploy/prometheus/cinergy.rules.yml\n"
                          << "scrape_configs:\n  - job_name: cinergy\n    static_configs:\n"
                          << "      - targets: ['127.0.0.1:" << target_port << "']\n";
    SpawnOptions so;
    so.output_file = dir / "prometheus.log";
    proc_.log = so.output_file;
    auto pid =
        spawn({"prometheus", "--config.file=" + config.string(),
               "--storage.tsdb.path=" + (dir / "data").string(),
               "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"},
              so);
    if (pid) proc_.pid = *pid;
    error_ = pid ? "" : pid.error().what();
  }
  [[nodiscard]] const std::string& error() const { return error_; }
  bool ready() const {
    auto r = serve::http_get(base() + "/-/ready", 2s);
    return r && r->status == 200;
  }
  // /api/v1/query at `at` (Unix s; 0: now): the result vector.
  json query(const std::string& promql, double at = 0) const {
    std::string url = base() + "/api/v1/query?query=" + serve::url_escape(promql);
    if (at > 0) url += "&time=" + std::to_string(at);
    auto r = serve::http_get(url, 5s);
    if (!r || r->status != 200) return json::array();
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "success") return json::array();
    return j["data"]["result"];
  }
  std::string log() const { return read_file(proc_.log).value_or(""); }
  void stop() { proc_.stop(); }

 private:
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port_;
  Process proc_;
  std::string error_;
};

double value_of(const json& sample) { return std::stod(sample["value"][1].get<std::string>()); }

// The VM cgroup's cpu.stat usage, sampled every 100 ms (Unix s, CPU s).
class CpuStatTimeline {
 public:
  explicit CpuStatTimeline(fs::path cgroup) : cgroup_(std::move(cgroup)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        std::ifstream in(cgroup_ / "cpu.stat");
        std::string key;
        long long v = -1;
        while (in >> key >> v)
          if (key == "usage_usec") break;
        if (v >= 0) {
          std::lock_guard lk(mu_);
          points_.emplace_back(unix_now(), static_cast<double>(v) / 1e6);
        }
        std::this_thread::sleep_for(100ms);
      }
    });
  }
  ~CpuStatTimeline() {
    stop_ = true;
    thread_.join();
  }
  // CPU s at Unix time t, interpolated (nullopt outside the timeline).
  std::optional<double> at(double t) const {
    std::lock_guard lk(mu_);
    for (std::size_t i = 1; i < points_.size(); ++i)
      if (points_[i].first >= t && points_[i - 1].first <= t) {
        const auto& [t0, v0] = points_[i - 1];
        const auto& [t1, v1] = points_[i];
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0);
      }
    return std::nullopt;
  }

 private:
  fs::path cgroup_;
  mutable std::mutex mu_;
  std::vector<std::pair<double, double>> points_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string random_uuid() {
  std::mt19937_64 rng(std::random_device{}());
  const auto a = rng(), b = rng();
  char buf[40];
  std::snprintf(
      buf, sizeof buf, "%08llx-%04llx-4%03llx-8%03llx-%012llx",
      static_cast<unsigned long long>(a >> 32), static_cast<unsigned long long>((a >> 16) & 0xffff),
      static_cast<unsigned long long>(a & 0xfff), static_cast<unsigned long long>(b >> 52),
      static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

// The test's transient libvirt domain: created from its XML by start(),
// destroyed by stop(), each through a fresh connection (libvirtd may have
// restarted in between). At scope exit it is destroyed through libvirt or,
// when no daemon answers any more, its qemu process (started for this
// test) is ended by its PID.
class TestDomain {
 public:
  TestDomain(std::string name, std::string xml) : name_(std::move(name)), xml_(std::move(xml)) {}
  ~TestDomain() {
    if (qemu_pid_ <= 0) return;
    if (stop()) return;
    vd::HostPaths host;
    if (!vd::pid_alive(host, qemu_pid_)) return;
    const auto cmdline = read_file("/proc/" + std::to_string(qemu_pid_) + "/cmdline");
    if (!cmdline || cmdline->find(name_) == std::string::npos) return;
    ::kill(qemu_pid_, SIGTERM);
    if (!wait_until([&] { return !vd::pid_alive(host, qemu_pid_); }, 5s, 50ms))
      ::kill(qemu_pid_, SIGKILL);
  }
  Result<vm::VmRuntime> start() {
    auto conn = vd::LibvirtConnection::open(kUri);
    if (!conn) return std::unexpected(conn.error());
    auto dom = conn->create_transient(xml_, name_);
    if (!dom) return std::unexpected(dom.error());
    auto rt = vd::locate_libvirt_domain(vd::HostPaths{}, *dom, kUri, 60s);
    if (rt) qemu_pid_ = rt->qemu_pid;
    return rt;
  }
  Result<void> stop() {
    auto conn = vd::LibvirtConnection::open(kUri);
    if (!conn) return std::unexpected(conn.error());
    if (auto dom = conn->find(name_); dom && dom.active())
      if (auto r = dom.destroy(); !r) return r;
    vd::HostPaths host;
    wait_until([&] { return !vd::pid_alive(host, qemu_pid_); }, 10s, 50ms);
    qemu_pid_ = 0;
    return ok();
  }

 private:
  std::string name_, xml_;
  int qemu_pid_ = 0;
};

class ServePrometheus : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) {
      g_skip = "requires root (run as root or via sudo)";
      return;
    }
    for (auto [prog, pkg] : {std::pair{"qemu-system-x86_64", "qemu-system-x86"},
                             std::pair{"prometheus", "prometheus"}})
      if (!test::program_on_path(prog)) {
        g_skip = std::string(prog) + " not found on PATH (package " + pkg +
                 ", installed by scripts/install-deps.sh)";
        return;
      }
    if (!fs::exists("/sys/kernel/btf/vmlinux")) {
      g_skip = "no BTF at /sys/kernel/btf/vmlinux";
      return;
    }
    g_fail = test::build_testvm();
    if (!g_fail.empty()) return;
    g_libvirt.start();
    g_fail = g_libvirt.error;
  }
  static void TearDownTestSuite() { g_libvirt.stop(); }

 protected:
  void SetUp() override {
    if (!g_skip.empty()) GTEST_SKIP() << g_skip;
    if (!g_fail.empty()) FAIL() << g_fail;
  }
  // The state directory of a libvirt daemon this test run started (itself,
  // or scripts/test.sh, which says so in CINERGY_LIBVIRT_STATE): only such a
  // daemon may be restarted here.
  static std::optional<fs::path> own_daemon_state() {
    fs::path state;
    if (g_libvirt.state)
      state = g_libvirt.state->path();
    else if (const char* env = std::getenv("CINERGY_LIBVIRT_STATE"); env && *env)
      state = env;
    if (state.empty()) return std::nullopt;
    const auto pid = read_trimmed(state / "libvirtd.pid");
    if (!pid || read_trimmed("/proc/" + *pid + "/comm").value_or("") != "libvirtd")
      return std::nullopt;
    return state;
  }
  test::TempDir work_;
};

TEST_F(ServePrometheus, VmSeriesThroughARealPrometheus) {
  const int threads = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  const auto model = work_.path() / "model.json";
  // The host's own load: the VM alone is the curves at its share plus it.
  constexpr double kBackgroundPct = 1.5;
  test::write_test_model(model, threads, false, "cinergy", kBackgroundPct);

  // The test VM as a transient domain with a fixed uuid (created again
  // with the same one: a restart; nothing stays defined on the host),
  // burning 50 % on each vCPU for longer than the test, under TCG.
  vm::VmOptions o;
  o.name = "cinergy-serve-e2e-" + std::to_string(::getpid());
  o.testvm_profile_pct = {50};
  o.testvm_step_seconds = 900;
  o.testvm_vcpus = 2;
  const std::string uuid = random_uuid();
  const vd::TestVmFiles files{
      cache_dir() / "vmlinuz", cache_dir() / "initrd.cpio.gz", work_.path() / "serial.log", {}};
  std::string xml = vd::testvm_domain_xml(o, o.name, files, false);
  xml.insert(xml.find("  <memory"), "  <uuid>" + uuid + "</uuid>\n");
  TestDomain domain(o.name, xml);
  auto rt = domain.start();
  ASSERT_TRUE(rt) << rt.error().what();

  // cinergy serve, then Prometheus scraping it every second.
  Process serve;
  serve.log = work_.path() / "serve.log";
  SpawnOptions so;
  so.output_file = serve.log;
  auto pid =
      spawn({kCinergy, "serve", "--model", model.string(), "--listen", "127.0.0.1:0", "--source",
             "sim", "--connect", kUri, "--interval", "1", "--rate", "1000", "--relist", "5"},
            so);
  ASSERT_TRUE(pid) << pid.error().what();
  serve.pid = *pid;
  std::string text;
  const auto port = test::wait_serving_port(serve.log, 30s, text);
  ASSERT_TRUE(port) << text;
  const int serve_port = *port;
  const std::string metrics_url = "http://127.0.0.1:" + std::to_string(serve_port) + "/metrics";
  fs::create_directories(work_.path() / "prom");
  Prometheus prom(work_.path() / "prom", serve_port);
  ASSERT_TRUE(prom.error().empty()) << prom.error();
  ASSERT_TRUE(wait_until([&] { return prom.ready(); }, 60s)) << prom.log();

  const std::string vm_sel = "kind=\"vm\",name=\"" + o.name + "\"";
  const std::string total_sel = "{" + vm_sel + ",thread=\"total\"}";
  ASSERT_TRUE(wait_until(
      [&] { return prom.query("cinergy_isolated_power_watts{" + vm_sel + "}").size() == 1; }, 90s))
      << "the VM's series never reached Prometheus\n"
      << read_file(serve.log).value_or("") << prom.log();
  const auto first = prom.query("cinergy_cpu_seconds_total" + total_sel);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["metric"]["uuid"], uuid);
  const std::string started1 = first[0]["metric"]["started"];
  for (const char* thread : {"vcpu0", "vcpu1", "emulator"})
    EXPECT_EQ(
        prom.query("cinergy_cpu_seconds_total{" + vm_sel + ",thread=\"" + thread + "\"}").size(),
        1u)
        << thread;

  // The VM's CPU rate against its cgroup's cpu.stat over the same 30 s.
  {
    CpuStatTimeline usage(rt->cgroup);
    std::this_thread::sleep_for(35s);
    const double t = unix_now() - 1;
    const auto rate = prom.query("rate(cinergy_cpu_seconds_total" + total_sel + "[30s])", t);
    const auto u0 = usage.at(t - 30), u1 = usage.at(t);
    ASSERT_EQ(rate.size(), 1u);
    ASSERT_TRUE(u0 && u1);
    const double want = (*u1 - *u0) / 30.0, got = value_of(rate[0]);
    std::printf("[measure] VM CPU over 30 s: rate() %.4f CPUs, cpu.stat %.4f CPUs, %.2f %% off\n",
                got, want, 100 * std::abs(got - want) / want);
    EXPECT_GT(want, 0.2) << "the guest burns";
    EXPECT_NEAR(got, want, 0.04 * want);
  }

  // The isolated power equals `cinergy predict` at the VM's share (plus the
  // model's background load: predict takes the host's load) and intensity of
  // the same interval (one scrape).
  {
    const double t = unix_now() - 1;
    const auto iso = prom.query("cinergy_isolated_power_watts{" + vm_sel + "}", t);
    const auto share = prom.query("cinergy_host_share_percent{" + vm_sel + "}", t);
    const auto intensity = prom.query("cinergy_intensity_percent{" + vm_sel + "}", t);
    const auto prop = prom.query("cinergy_proportional_power_watts{" + vm_sel + "}", t);
    const auto ratio = prom.query("cinergy_ratio{" + vm_sel + "}", t);
    const auto host = prom.query("cinergy_host_power_watts{zone=\"package-global\"}", t);
    ASSERT_TRUE(iso.size() == 1 && share.size() == 1 && prop.size() == 1 && ratio.size() == 1 &&
                host.size() == 1);
    EXPECT_EQ(iso[0]["value"][0], share[0]["value"][0]) << "one scrape";
    const double step = intensity.size() == 1 ? value_of(intensity[0]) : 50.0;
    auto predicted = run_capture(
        {kCinergy, "predict", "--model", model.string(), "--host-util",
         std::to_string(value_of(share[0]) + kBackgroundPct), "--step", std::to_string(step)},
        30s);
    ASSERT_TRUE(predicted && predicted->exit_code == 0);
    const double want = std::stod(predicted->output);
    std::printf(
        "[measure] share %.4f %%, intensity %.2f %%: isolated %.4f W, cinergy predict %.4f W; "
        "proportional %.3f W of host %.3f W (ratio %.3f)\n",
        value_of(share[0]), step, value_of(iso[0]), want, value_of(prop[0]), value_of(host[0]),
        value_of(ratio[0]));
    EXPECT_NEAR(value_of(iso[0]), want, 1e-3);
    // The interval series: the model's own 90 % interval at the same point.
    const auto low = prom.query("cinergy_isolated_power_low_watts{" + vm_sel + "}", t);
    const auto high = prom.query("cinergy_isolated_power_high_watts{" + vm_sel + "}", t);
    ASSERT_TRUE(low.size() == 1 && high.size() == 1);
    auto bounds = run_capture({kCinergy, "predict", "--model", model.string(), "--host-util",
                               std::to_string(value_of(share[0]) + kBackgroundPct), "--step",
                               std::to_string(step), "--interval"},
                              30s);
    ASSERT_TRUE(bounds && bounds->exit_code == 0);
    std::istringstream line(bounds->output);
    double w = 0, want_low = 0, want_high = 0;
    ASSERT_TRUE(line >> w >> want_low >> want_high) << bounds->output;
    std::printf("[measure] interval %.4f .. %.4f W, cinergy predict --interval %.4f .. %.4f W\n",
                value_of(low[0]), value_of(high[0]), want_low, want_high);
    EXPECT_NEAR(value_of(low[0]), want_low, 1e-3);
    EXPECT_NEAR(value_of(high[0]), want_high, 1e-3);
    EXPECT_LE(value_of(low[0]), value_of(iso[0]));
    EXPECT_GE(value_of(high[0]), value_of(iso[0]));
    EXPECT_GT(value_of(share[0]), 5.0);
    EXPECT_GT(value_of(prop[0]), 0);
    EXPECT_LE(value_of(prop[0]), value_of(host[0]) * 1.0001);
    EXPECT_NEAR(value_of(ratio[0]), value_of(prop[0]) / value_of(iso[0]), 1e-6);
    // The repository's recording rules evaluate on these series.
    for (const char* rule :
         {"instance:cinergy_vm_isolated_power_watts:sum",
          "instance:cinergy_host_power_watts:package",
          "instance:cinergy_vm_isolated_over_host:ratio", "fleet:cinergy_vm_ratio"})
      EXPECT_EQ(prom.query(rule).size(), 1u) << rule;
  }

  // Stopped: its series go stale.
  ASSERT_TRUE(domain.stop());
  EXPECT_TRUE(wait_until(
      [&] { return prom.query("cinergy_isolated_power_watts{" + vm_sel + "}").empty(); }, 20s))
      << "the stopped VM's series are still current";
  EXPECT_TRUE(prom.query("cinergy_cpu_seconds_total" + total_sel).empty());

  // Started again: a new series (same uuid, another start time).
  ASSERT_TRUE(domain.start());
  ASSERT_TRUE(wait_until(
      [&] { return prom.query("cinergy_cpu_seconds_total" + total_sel).size() == 1; }, 90s));
  const auto again = prom.query("cinergy_cpu_seconds_total" + total_sel);
  EXPECT_EQ(again[0]["metric"]["uuid"], uuid);
  EXPECT_NE(again[0]["metric"]["started"], started1) << "a restarted VM is a new series";
  std::printf("[measure] restart: series started=%s, then started=%s\n", started1.c_str(),
              again[0]["metric"]["started"].get<std::string>().c_str());

  // libvirtd restarts (only a daemon this test run started): the VM stays
  // measured meanwhile, the connection comes back by itself, and the VM
  // stopping afterwards is seen.
  if (auto state = own_daemon_state()) {
    const auto daemon_pid = std::stoi(read_trimmed(*state / "libvirtd.pid").value());
    ASSERT_EQ(::kill(daemon_pid, SIGTERM), 0);
    EXPECT_TRUE(wait_until([&] { return ::kill(daemon_pid, 0) != 0; }, 30s));
    EXPECT_TRUE(wait_until(
        [&] {
          auto r = serve::http_get(metrics_url, 2s);
          return r && test::sample(r->body, "cinergy_libvirt_up") == 0;
        },
        15s))
        << "serve did not notice the daemon going";
    std::this_thread::sleep_for(3s);
    auto r = serve::http_get(metrics_url, 2s);
    ASSERT_TRUE(r);
    EXPECT_TRUE(test::sample(r->body, "cinergy_isolated_power_watts", {{"name", o.name}}))
        << "the VM stays measured without libvirt";
    auto up = run_wait({(vd::scripts_dir() / "libvirt-up.sh").string(), state->string()}, 60s,
                       work_.path() / "libvirt-up.log");
    ASSERT_TRUE(up && *up == 0) << read_file(work_.path() / "libvirt-up.log").value_or("");
    EXPECT_TRUE(wait_until(
        [&] {
          auto s = serve::http_get(metrics_url, 2s);
          return s && test::sample(s->body, "cinergy_libvirt_up") == 1 &&
                 test::sample(s->body, "cinergy_libvirt_reconnects_total") >= 1;
        },
        60s))
        << read_file(serve.log).value_or("");
    std::printf("[measure] libvirtd restarted: serve reconnected, the VM measured throughout\n");
  } else {
    std::printf("[note] libvirtd restart not exercised: the daemon was not started by this run\n");
  }
  ASSERT_TRUE(domain.stop());
  EXPECT_TRUE(wait_until(
      [&] { return prom.query("cinergy_isolated_power_watts{" + vm_sel + "}").empty(); }, 30s))
      << "the VM stopped after the reconnection is still current";

  // Both stopped by their PIDs.
  prom.stop();
  const auto stop0 = Clock::now();
  ASSERT_EQ(::kill(serve.pid, SIGTERM), 0);
  std::optional<int> status;
  while (!(status = try_reap(serve.pid)) && Clock::now() - stop0 < 5s)
    std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(status);
  serve.pid = -1;
  EXPECT_EQ(*status, 0);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - stop0).count(), 1.0);
}

}  // namespace
}  // namespace cinergy
