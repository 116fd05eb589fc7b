// The whole daemon in-process on a fake host (fake cgroup2 and /proc trees,
// procfs CPU accounting, the simulated meter, libvirt's mock test:///): a
// VM and a cgroup found, their series served at /metrics over HTTP, a stop
// that returns at once; and every refusal of Server::create as one line.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "../../orchestrator/vm/src/libvirt_client.hpp"
#include "../vm/fake_host.hpp"
#include "cinergy/serve/http_get.hpp"
#include "cinergy/serve/serve.hpp"
#include "metrics_text.hpp"
#include "test_model.hpp"

namespace cinergy::serve {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class ServeServer : public ::testing::Test {
 protected:
  void SetUp() override {
    // Held open so the watcher's connection shares the mock's state.
    auto conn = vm::detail::LibvirtConnection::open("test:///default");
    ASSERT_TRUE(conn) << conn.error().what();
    conn_ = std::move(*conn);
    host_.dir.write("sys/online", "0-1\n");
    host_.libvirt_domain("test", 4000, "/machine/qemu-1-test.libvirt-qemu");
    for (const char* d : {"", "/emulator", "/vcpu0", "/vcpu1", "/vcpu2"})
      cg(std::string("machine/qemu-1-test.libvirt-qemu") + d, 0);
    cg("batch", 0);
    host_.dir.write("proc/stat",
                    "cpu  0 0 0 0\ncpu0 0 0 0 100\ncpu1 0 0 0 100\nbtime 1700000000\n");
    test::write_test_model(host_.dir.path() / "model.json", 2);
    o_.model_file = host_.dir.path() / "model.json";
    o_.listen = "127.0.0.1:0";
    o_.connect_uri = "test:///default";
    o_.source.source = "sim";
    o_.source.sysfs_cpu_root = host_.dir.path() / "sys";
    o_.rate_hz = 200;
    o_.interval_s = 0.2;
    o_.cpu_backend = "procfs";
    o_.cgroup2_root = host_.paths.cgroup2_root;
    o_.proc_root = host_.paths.proc_root;
    o_.libvirt_run_dir = host_.paths.libvirt_run_dir;
    o_.cgroups = {"batch=jobs"};
  }
  void cg(const std::string& rel, std::uint64_t usage_usec) {
    host_.dir.write("cgroup/" + rel + "/cpu.stat",
                    "usage_usec " + std::to_string(usage_usec) + "\n");
  }
  std::string create_error(ServeOptions o) {
    auto s = Server::create(std::move(o));
    return s ? std::string("(created)") : s.error().what();
  }
  std::optional<vm::detail::LibvirtConnection> conn_;
  vm::detail::FakeHost host_;
  ServeOptions o_;
};

std::string scrape(int port) {
  auto r = http_get("http://127.0.0.1:" + std::to_string(port) + "/metrics", 2s);
  EXPECT_TRUE(r) << r.error().what();
  return r ? r->body : "";
}

TEST_F(ServeServer, ServesTheVmAndTheCgroupAndStopsAtOnce) {
  auto server = Server::create(o_);
  ASSERT_TRUE(server) << server.error().what();
  Result<void> ran = ok();
  std::thread t([&] { ran = (*server)->run(); });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((*server)->port() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  const int port = (*server)->port();
  ASSERT_GT(port, 0);
  // CPU time written after the subjects were added counts from there, exactly.
  cg("machine/qemu-1-test.libvirt-qemu", 1'500'000);
  cg("machine/qemu-1-test.libvirt-qemu/vcpu0", 1'000'000);
  cg("batch", 250'000);
  std::string text;
  const std::vector<std::pair<std::string, std::string>> vm = {{"kind", "vm"}, {"name", "test"}};
  auto vm_total = vm;
  vm_total.emplace_back("thread", "total");
  while (std::chrono::steady_clock::now() < deadline) {
    text = scrape(port);
    if (test::sample(text, "cinergy_cpu_seconds_total", vm_total) == 1.5 &&
        test::sample(text, "cinergy_proportional_power_watts", vm))
      break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(test::sample(text, "cinergy_cpu_seconds_total", vm_total), 1.5) << text;
  auto vcpu0 = vm;
  vcpu0.emplace_back("thread", "vcpu0");
  EXPECT_EQ(test::sample(text, "cinergy_cpu_seconds_total", vcpu0), 1.0);
  const auto uuid = test::samples(text, "cinergy_isolated_power_watts", vm);
  ASSERT_EQ(uuid.size(), 1u);
  EXPECT_EQ(uuid[0].label("uuid").size(), 36u) << "the domain's uuid";
  EXPECT_FALSE(uuid[0].label("started").empty());
  EXPECT_EQ(test::sample(text, "cinergy_cpu_seconds_total",
                         {{"kind", "cgroup"}, {"name", "jobs"}, {"thread", "total"}}),
            0.25);
  EXPECT_EQ(test::sample(text, "cinergy_power_simulated"), 1);
  EXPECT_EQ(test::sample(text, "cinergy_libvirt_up"), 1);
  EXPECT_GT(*test::sample(text, "cinergy_sampler_samples_total"), 0);
  EXPECT_EQ(test::sample(text, "cinergy_sampler_dropped_total"), 0);
  EXPECT_TRUE(test::sample(text, "cinergy_host_power_watts", {{"zone", "package-global"}}));
  EXPECT_EQ(test::sample(text, "cinergy_model_info", {{"host_threads", "2"}}), 1);
  // Nothing but GET /metrics.
  auto other = http_get("http://127.0.0.1:" + std::to_string(port) + "/", 2s);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);

  const auto t0 = std::chrono::steady_clock::now();
  (*server)->request_stop();
  t.join();
  const double stop_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[measure] stop took %.3f s\n", stop_s);
  EXPECT_TRUE(ran) << ran.error().what();
  EXPECT_LT(stop_s, 1.0);
  EXPECT_FALSE(http_get("http://127.0.0.1:" + std::to_string(port) + "/metrics", 1s))
      << "nothing listens after the stop";
}

TEST_F(ServeServer, RefusesEachBadInputWithOneLine) {
  auto o = o_;
  test::write_test_model(host_.dir.path() / "other.json", 32);
  o.model_file = host_.dir.path() / "other.json";
  EXPECT_EQ(create_error(o),
            o.model_file.string() +
                " was fitted on a host with 32 threads, this host has 2: its power curves do not "
                "describe this host (fit a model here with `cinergy run`, or pass --force to use "
                "it anyway)");
  o.force = true;
  EXPECT_EQ(create_error(o), "(created)");

  o = o_;
  o.source.source = "auto";
  o.source.powercap_root = host_.dir.path() / "none";
  o.source.perf_sysfs_root = host_.dir.path() / "none";
  o.source.dev_cpu_root = host_.dir.path() / "none";
  const auto no_rapl = create_error(o);
  EXPECT_NE(no_rapl.find("no RAPL energy source on this host"), std::string::npos) << no_rapl;
  EXPECT_NE(no_rapl.find("--source sim"), std::string::npos) << no_rapl;

  o = o_;
  o.model_file = host_.dir.path() / "missing.json";
  EXPECT_NE(create_error(o).find("missing.json: cannot open"), std::string::npos);
  o = o_;
  o.model_file.clear();
  EXPECT_NE(create_error(o).find("--model is required"), std::string::npos);
  o = o_;
  o.interval_s = 0.01;
  EXPECT_NE(create_error(o).find("--interval"), std::string::npos);
  o = o_;
  o.rate_hz = 0;
  EXPECT_NE(create_error(o).find("--rate"), std::string::npos);
  o = o_;
  o.listen = "::1";
  EXPECT_NE(create_error(o).find("--listen ::1"), std::string::npos);
  o = o_;
  o.pids = {"999999999"};
  EXPECT_NE(create_error(o).find("--pid 999999999: no such process"), std::string::npos);
  o = o_;
  o.cgroups = {"a=x", "b=x"};
  EXPECT_NE(create_error(o).find("used twice"), std::string::npos);
}

}  // namespace
}  // namespace cinergy::serve
