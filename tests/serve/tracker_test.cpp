// The Tracker on fake trees (procfs CPU accounting): subjects that come and
// go, exact CPU seconds, VM threads and intensity, the proportional split
// and the energy integrals, new series for a re-created subject.
#include "tracker.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <thread>

#include "cinergy/model/estimate.hpp"
#include "cinergy/model/host_model.hpp"
#include "temp_dir.hpp"
#include "test_model.hpp"

namespace cinergy::serve::detail {
namespace {
namespace fs = std::filesystem;

class ServeTracker : public ::testing::Test {
 protected:
  void SetUp() override {
    tick_ns_ = 1e9 / static_cast<double>(::sysconf(_SC_CLK_TCK));
    proc_stat(0);
    cg("vmscope/emulator", 0);
    cg("vmscope/vcpu0", 0);
    cg("vmscope/vcpu1", 0);
    cg("vmscope", 0);
    cg("batch", 0);
    task(300, 1000, 'S');
    test::write_test_model(dir_.path() / "model.json", 2);
    auto m = PowerModel::load(dir_.path() / "model.json");
    ASSERT_TRUE(m);
    model_.emplace(std::move(*m));
    auto direct = model::load_model(dir_.path() / "model.json");
    ASSERT_TRUE(direct);
    direct_ = std::move(*direct);
    bpf::Options o;
    o.backend = "procfs";
    o.cgroup2_root = dir_.path() / "cg";
    o.proc_root = dir_.path() / "proc";
    auto a = bpf::open_cpu_accounting(o);
    ASSERT_TRUE(a) << a.error().what();
    acc_ = std::move(*a);
  }
  void cg(const std::string& rel, std::uint64_t usage_usec) {
    dir_.write("cg/" + rel + "/cpu.stat", "usage_usec " + std::to_string(usage_usec) + "\n");
  }
  // Both CPUs busy `ticks` in all (cpu0 gets them).
  void proc_stat(std::uint64_t ticks) {
    dir_.write("proc/stat", "cpu  0 0 0 0\ncpu0 " + std::to_string(ticks) +
                                " 0 0 100\ncpu1 0 0 0 100\nbtime 1700000000\n");
  }
  void task(int pid, std::uint64_t runtime_ns, char state, long start = 500) {
    const auto p = std::to_string(pid);
    std::string fields;
    for (int f = 4; f <= 21; ++f) fields += " 1";
    const std::string stat = p + " (job) " + state + fields + " " + std::to_string(start) + " 0\n";
    dir_.write("proc/" + p + "/stat", stat);
    dir_.write("proc/" + p + "/comm", "job\n");
    dir_.write("proc/" + p + "/status", "Tgid:\t" + p + "\n");
    dir_.write("proc/" + p + "/task/" + p + "/stat", stat);
    dir_.write("proc/" + p + "/task/" + p + "/schedstat", std::to_string(runtime_ns) + " 0 0\n");
  }
  Tracker make(std::vector<std::string> cgroups, std::vector<std::string> pids) {
    auto c = parse_cgroup_targets(cgroups, dir_.path() / "cg");
    auto p = parse_pid_targets(pids, dir_.path() / "proc");
    EXPECT_TRUE(c && p);
    return Tracker(*acc_, *model_, std::move(*c), std::move(*p), dir_.path() / "proc",
                   {"package-0", "package-global"});
  }
  static sampler::Snapshot energy(std::int64_t t_ns, std::uint64_t uj) {
    sampler::Snapshot e;
    e.t_ns = t_ns;
    e.energy_uj = {uj, uj};
    return e;
  }
  vm::RunningDomain vm() const {
    vm::RunningDomain d;
    d.name = "web";
    d.uuid = "11111111-2222-3333-4444-555555555555";
    d.cgroup = dir_.path() / "cg/vmscope";
    d.vcpus = 2;
    d.started_unix_s = 1764578400.25;
    return d;
  }
  static const SubjectSample* find(const Snapshot& s, const std::string& name) {
    for (const auto& x : s.subjects)
      if (x.labels.name == name) return &x;
    return nullptr;
  }
  test::TempDir dir_;
  double tick_ns_ = 0;
  std::optional<PowerModel> model_;
  model::HostModel direct_;
  std::unique_ptr<bpf::CpuAccounting> acc_;
};

TEST_F(ServeTracker, FiguresOfAVmOverAnInterval) {
  auto t = make({}, {});
  const std::vector<vm::RunningDomain> domains = {vm()};
  t.sync(&domains);
  ASSERT_EQ(t.size(), 1u);
  t.step(nullptr);
  Snapshot s;
  t.fill(s);
  ASSERT_EQ(s.subjects.size(), 1u);
  EXPECT_FALSE(s.subjects[0].figures) << "no complete interval yet";
  EXPECT_EQ(s.subjects[0].labels.kind, "vm");
  EXPECT_EQ(s.subjects[0].labels.started, "1764578400.250");

  const auto e0 = energy(0, 0);
  t.step(&e0);  // a first (idle) interval
  t.fill(s);
  const double iso_j0 = s.subjects[0].isolated_j, prop_j0 = s.subjects[0].proportional_j;
  // Over the next interval: vCPUs 0.3 and 0.1 s, emulator 0.05 s; the host
  // busy 0.9 s in all; 150 J in 1 s of sampler time.
  cg("vmscope", 450'000);
  cg("vmscope/vcpu0", 300'000);
  cg("vmscope/vcpu1", 100'000);
  cg("vmscope/emulator", 50'000);
  proc_stat(static_cast<std::uint64_t>(std::llround(0.9e9 / tick_ns_)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  t.sync(&domains);
  const auto e = energy(1'000'000'000, 150'000'000);
  t.step(&e);
  t.fill(s);
  const auto& x = s.subjects[0];
  ASSERT_TRUE(x.figures);
  ASSERT_EQ(x.cpu_s.size(), 4u);
  EXPECT_EQ(x.cpu_s[0], (std::pair<std::string, double>{"total", 0.45}));
  EXPECT_EQ(x.cpu_s[1].first, "emulator");
  EXPECT_EQ(x.cpu_s[2], (std::pair<std::string, double>{"vcpu0", 0.3}));
  EXPECT_EQ(x.cpu_s[3], (std::pair<std::string, double>{"vcpu1", 0.1}));
  const auto& f = *x.figures;
  const double dt = 45.0 / f.cpu_pct;  // the interval's length, from the figures themselves
  EXPECT_GT(dt, 0.19);
  EXPECT_NEAR(f.share_pct, f.cpu_pct / 2, 1e-12);
  EXPECT_NEAR(f.intensity_pct, model::vcpu_intensity_pct({30 / dt, 10 / dt}), 1e-9);
  EXPECT_NEAR(f.isolated.watts, direct_.power_w(f.share_pct, f.intensity_pct), 1e-9);
  ASSERT_TRUE(f.proportional_w);
  const double busy_s = std::llround(0.9e9 / tick_ns_) * tick_ns_ / 1e9;
  EXPECT_NEAR(*f.proportional_w, 150.0 * 0.45 / busy_s, 1e-9);
  EXPECT_NEAR(x.isolated_j - iso_j0, f.isolated.watts * dt, 1e-9);
  EXPECT_NEAR(x.proportional_j - prop_j0, *f.proportional_w * dt, 1e-9);
  ASSERT_EQ(s.zones.size(), 2u);
  EXPECT_DOUBLE_EQ(*s.zones[1].power_w, 150.0);
  EXPECT_DOUBLE_EQ(s.zones[1].energy_j, 150.0);
  EXPECT_NEAR(s.host_busy_cpu_s, busy_s, 1e-9);
}

TEST_F(ServeTracker, SubjectsComeAndGoAsNewSeries) {
  auto t = make({"batch=jobs", "later"}, {"300=p"});
  t.sync(nullptr);
  EXPECT_EQ(t.size(), 2u) << "batch and the pid; 'later' does not exist yet";
  t.step(nullptr);
  Snapshot s;
  t.fill(s);
  ASSERT_NE(find(s, "jobs"), nullptr);
  ASSERT_NE(find(s, "p"), nullptr);
  EXPECT_EQ(find(s, "p")->labels.kind, "pid");
  const auto first_started = find(s, "jobs")->labels.started;

  cg("later", 7);  // appears
  cg("batch", 2'000'000);
  t.sync(nullptr);
  t.step(nullptr);
  t.fill(s);
  EXPECT_EQ(t.size(), 3u);
  ASSERT_NE(find(s, "later"), nullptr);
  EXPECT_DOUBLE_EQ(find(s, "jobs")->cpu_s[0].second, 2.0);

  // batch removed: its series end; the pid exits (a zombie): it ends too,
  // and a new process under that pid is another one, not measured.
  fs::remove_all(dir_.path() / "cg/batch");
  task(300, 2000, 'Z');
  t.sync(nullptr);
  t.fill(s);
  EXPECT_EQ(find(s, "jobs"), nullptr);
  EXPECT_EQ(find(s, "p"), nullptr);
  EXPECT_EQ(t.ended(), 2u);
  task(300, 0, 'R', 900);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  cg("batch", 0);  // created again: another cgroup, another series
  t.sync(nullptr);
  t.step(nullptr);
  t.fill(s);
  ASSERT_NE(find(s, "jobs"), nullptr);
  EXPECT_NE(find(s, "jobs")->labels.started, first_started);
  EXPECT_DOUBLE_EQ(find(s, "jobs")->cpu_s[0].second, 0.0) << "a new counter";
  EXPECT_EQ(find(s, "p"), nullptr);
  EXPECT_EQ(acc_->series().size(), 2u) << "the accounting holds only what is measured";
}

TEST_F(ServeTracker, AVmThatStopsEndsAndARestartIsANewSeries) {
  auto t = make({}, {});
  std::vector<vm::RunningDomain> domains = {vm()};
  t.sync(&domains);
  t.step(nullptr);
  domains.clear();  // libvirt: stopped
  t.sync(&domains);
  EXPECT_EQ(t.size(), 0u);
  auto again = vm();
  again.started_unix_s += 60;
  domains = {again};
  t.sync(&domains);
  t.step(nullptr);
  Snapshot s;
  t.fill(s);
  ASSERT_EQ(s.subjects.size(), 1u);
  EXPECT_EQ(s.subjects[0].labels.started, "1764578460.250");
  // A VM still listed (libvirt away) whose cgroup went: it ends.
  fs::remove_all(dir_.path() / "cg/vmscope");
  t.sync(&domains);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.ended(), 2u);
}

TEST(ServeTargets, BadArgumentsAreOneLineNamingThem) {
  test::TempDir d;
  auto dup = parse_cgroup_targets({"a/x=n", "b/y=n"}, d.path());
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("'n' is used twice"), std::string::npos);
  auto dup_default = parse_cgroup_targets({"a/x", "b/x"}, d.path());
  EXPECT_FALSE(dup_default) << "both named x";
  auto up = parse_cgroup_targets({"../etc"}, d.path());
  ASSERT_FALSE(up);
  EXPECT_NE(up.error().message.find("--cgroup ../etc"), std::string::npos);
  auto ok = parse_cgroup_targets({"machine/vm1", "/machine/vm2=two"}, d.path());
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)[0].name, "vm1");
  EXPECT_EQ((*ok)[0].dir, d.path() / "machine/vm1");
  EXPECT_EQ((*ok)[1].dir, d.path() / "machine/vm2");
  auto nopid = parse_pid_targets({"123456789"}, d.path());
  ASSERT_FALSE(nopid);
  EXPECT_NE(nopid.error().message.find("--pid 123456789: no such process"), std::string::npos);
  EXPECT_FALSE(parse_pid_targets({"abc"}, d.path()));
  EXPECT_FALSE(parse_pid_targets({"-4=x"}, d.path()));
  EXPECT_EQ(started_label(1764578400.25), "1764578400.250");
}

}  // namespace
}  // namespace cinergy::serve::detail
