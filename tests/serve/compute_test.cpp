// The per-interval arithmetic (compute.hpp) against the model library
// itself, and the exposition of a snapshot in the text format.
#include "compute.hpp"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cmath>

#include "cinergy/model/estimate.hpp"
#include "cinergy/model/host_model.hpp"
#include "exposition.hpp"
#include "metrics_text.hpp"
#include "temp_dir.hpp"
#include "test_model.hpp"

namespace cinergy::serve::detail {
namespace {

// The host's own load in the test model (% of the host): the VM alone is
// the curves at its share plus this.
constexpr double kBackgroundPct = 1.5;

// The test model through the adapter and through the model library itself.
struct Models {
  explicit Models(int threads) {
    const auto file = dir.path() / "model.json";
    test::write_test_model(file, threads, false, "cinergy", kBackgroundPct);
    auto a = PowerModel::load(file);
    auto d = model::load_model(file);
    EXPECT_TRUE(a && d);
    adapter.emplace(std::move(*a));
    direct = std::move(*d);
  }
  test::TempDir dir;
  std::optional<PowerModel> adapter;
  model::HostModel direct;
};

TEST(ServeCompute, IsolatedIsTheModelAtTheSharesAndIntensity) {
  Models m(8);
  EXPECT_EQ(m.adapter->host_threads(), 8);
  EXPECT_EQ(m.adapter->method(), "cinergy");
  EXPECT_TRUE(m.adapter->gives_intervals());
  // A VM of 2 vCPUs over 2 s: vCPUs at 90 % and 30 %, 1.3 CPU-s in total.
  const HostInterval host{2.0, 6.0, 200.0};
  const double vcpu[] = {90.0, 30.0};
  const auto f = compute_figures(*m.adapter, host, 2.6, vcpu);
  EXPECT_DOUBLE_EQ(f.cpu_pct, 130.0);
  EXPECT_DOUBLE_EQ(f.share_pct, 130.0 / 8);
  const double intensity = model::vcpu_intensity_pct({90.0, 30.0});
  EXPECT_DOUBLE_EQ(f.intensity_pct, intensity);
  EXPECT_DOUBLE_EQ(intensity, (90.0 * 90 + 30 * 30) / 120.0);  // 75 %
  const double x = 130.0 / 8 + kBackgroundPct;
  EXPECT_DOUBLE_EQ(f.isolated.watts, m.direct.power_w(x, intensity));
  EXPECT_DOUBLE_EQ(f.isolated.idle_watts, m.direct.power_w(kBackgroundPct, intensity));
  EXPECT_GT(f.isolated.watts, f.isolated.idle_watts);
  // The model's own 90 % interval, around the estimate.
  ASSERT_TRUE(f.isolated.low_watts && f.isolated.high_watts);
  const auto iv = m.direct.isolated_interval(x, intensity);
  EXPECT_DOUBLE_EQ(*f.isolated.low_watts, iv.low_w);
  EXPECT_DOUBLE_EQ(*f.isolated.high_watts, iv.high_w);
  EXPECT_LE(*f.isolated.low_watts, f.isolated.watts);
  EXPECT_GE(*f.isolated.high_watts, f.isolated.watts);
  ASSERT_TRUE(f.proportional_w && f.ratio);
  EXPECT_DOUBLE_EQ(*f.proportional_w, 200.0 * 2.6 / 6.0);
  EXPECT_DOUBLE_EQ(*f.ratio, *f.proportional_w / f.isolated.watts);
}

TEST(ServeCompute, ThePaperMethodGivesNoInterval) {
  test::TempDir dir;
  const auto file = dir.path() / "model.json";
  test::write_test_model(file, 8, false, "paper");
  auto a = PowerModel::load(file);
  ASSERT_TRUE(a) << a.error().what();
  EXPECT_EQ(a->method(), "paper");
  EXPECT_FALSE(a->gives_intervals());
  const auto e = a->isolated(20.0, 50.0);
  EXPECT_TRUE(std::isfinite(e.watts));
  EXPECT_FALSE(e.low_watts || e.high_watts) << "the notebook has no interval: none invented";
}

TEST(ServeCompute, EdgeCases) {
  Models m(4);
  const HostInterval host{1.0, 0.0, 80.0};
  // Not a VM: intensity unknown, the model's default is used.
  auto idle = compute_figures(*m.adapter, host, 0.0, {});
  EXPECT_TRUE(std::isnan(idle.intensity_pct));
  EXPECT_DOUBLE_EQ(idle.isolated.watts, m.direct.power_w(kBackgroundPct, std::nan("")));
  EXPECT_DOUBLE_EQ(*idle.proportional_w, 0.0) << "nothing ran";
  // No host power over the interval: no proportional power, no ratio.
  auto nopower = compute_figures(*m.adapter, {1.0, 2.0, std::nullopt}, 1.0, {});
  EXPECT_FALSE(nopower.proportional_w || nopower.ratio);
  // Counters read a little apart: a share of the busy time above 1 is capped.
  auto capped = compute_figures(*m.adapter, {1.0, 0.5, 100.0}, 0.6, {});
  EXPECT_DOUBLE_EQ(*capped.proportional_w, 100.0);
}

Snapshot two_subjects() {
  Snapshot s;
  SubjectSample vm;
  vm.labels = {"vm", "web", "8f0c1a2b-0000-0000-0000-000000000001", "1764578400.250"};
  vm.cpu_s = {{"total", 12.5}, {"emulator", 0.5}, {"vcpu0", 7}, {"vcpu1", 5}};
  Figures f;
  f.cpu_pct = 120;
  f.share_pct = 15;
  f.intensity_pct = 62.5;
  f.isolated.watts = 140;
  f.isolated.idle_watts = 60;
  f.proportional_w = 70;
  f.ratio = 0.5;
  vm.figures = f;
  vm.isolated_j = 1400;
  vm.proportional_j = 700;
  SubjectSample fresh;  // added in the last interval: CPU only
  fresh.labels = {"cgroup", "batch", "", "1764578401.000"};
  fresh.cpu_s = {{"total", 0.001}};
  s.subjects = {vm, fresh};
  s.zones = {{"package-0", 180.0, 5000}, {"package-global", 180.0, 5000}};
  s.simulated = true;
  s.samples = 1000;
  s.version = "0.1.0";
  s.model_idle_w = 55;
  s.libvirt_enabled = true;
  s.libvirt_up = true;
  return s;
}

TEST(ServeExposition, ContractNamesLabelsAndTypes) {
  const auto text = prometheus::TextSerializer().Serialize(to_families(two_subjects()));
  using test::sample;
  const std::vector<std::pair<std::string, std::string>> web = {
      {"kind", "vm"},
      {"name", "web"},
      {"uuid", "8f0c1a2b-0000-0000-0000-000000000001"},
      {"started", "1764578400.250"}};
  EXPECT_EQ(sample(text, "cinergy_isolated_power_watts", web), 140);
  EXPECT_EQ(sample(text, "cinergy_isolated_energy_joules_total", web), 1400);
  EXPECT_EQ(sample(text, "cinergy_isolated_dynamic_power_watts", web), 80);
  EXPECT_EQ(sample(text, "cinergy_proportional_power_watts", web), 70);
  EXPECT_EQ(sample(text, "cinergy_ratio", web), 0.5);
  EXPECT_EQ(sample(text, "cinergy_host_share_percent", web), 15);
  EXPECT_EQ(sample(text, "cinergy_intensity_percent", web), 62.5);
  auto with_thread = [&](const char* thread) {
    auto l = web;
    l.emplace_back("thread", thread);
    return sample(text, "cinergy_cpu_seconds_total", l);
  };
  EXPECT_EQ(with_thread("total"), 12.5);
  EXPECT_EQ(with_thread("vcpu1"), 5);
  EXPECT_EQ(with_thread("emulator"), 0.5);
  // A subject without a complete interval yet: CPU, no power figures.
  EXPECT_EQ(sample(text, "cinergy_cpu_seconds_total", {{"name", "batch"}, {"uuid", ""}}), 0.001);
  EXPECT_FALSE(sample(text, "cinergy_isolated_power_watts", {{"name", "batch"}}));
  EXPECT_EQ(sample(text, "cinergy_host_power_watts", {{"zone", "package-global"}}), 180);
  EXPECT_EQ(sample(text, "cinergy_host_energy_joules_total", {{"zone", "package-0"}}), 5000);
  EXPECT_EQ(sample(text, "cinergy_power_simulated"), 1);
  EXPECT_EQ(sample(text, "cinergy_sampler_samples_total"), 1000);
  EXPECT_EQ(sample(text, "cinergy_sampler_dropped_total"), 0);
  EXPECT_EQ(sample(text, "cinergy_build_info", {{"version", "0.1.0"}}), 1);
  EXPECT_EQ(sample(text, "cinergy_subjects", {{"kind", "vm"}}), 1);
  EXPECT_EQ(sample(text, "cinergy_libvirt_up"), 1);
  EXPECT_EQ(sample(text, "cinergy_model_idle_power_watts"), 55);
  EXPECT_NE(text.find("# TYPE cinergy_isolated_energy_joules_total counter"), std::string::npos);
  EXPECT_NE(text.find("# TYPE cinergy_cpu_seconds_total counter"), std::string::npos);
  EXPECT_NE(text.find("# TYPE cinergy_isolated_power_watts gauge"), std::string::npos);
  // No prediction interval from today's model: no invented _low/_high series.
  EXPECT_EQ(text.find("cinergy_isolated_power_low_watts"), std::string::npos);
  EXPECT_EQ(text.find("cinergy_isolated_power_high_watts"), std::string::npos);
}

TEST(ServeExposition, IntervalSeriesWhenTheModelGivesThem) {
  auto s = two_subjects();
  s.subjects[0].figures->isolated.low_watts = 130;
  s.subjects[0].figures->isolated.high_watts = 150;
  const auto text = prometheus::TextSerializer().Serialize(to_families(s));
  EXPECT_EQ(test::sample(text, "cinergy_isolated_power_low_watts", {{"name", "web"}}), 130);
  EXPECT_EQ(test::sample(text, "cinergy_isolated_power_high_watts", {{"name", "web"}}), 150);
  EXPECT_FALSE(test::sample(text, "cinergy_isolated_power_low_watts", {{"name", "batch"}}));
}

TEST(ServeExposition, PublishedFamiliesAreWhatCollectReturns) {
  Exposition e;
  EXPECT_TRUE(e.Collect().empty());
  e.publish(to_families(two_subjects()));
  const auto a = e.Collect();
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a.front().name, "cinergy_isolated_power_watts");
  e.publish({});
  EXPECT_TRUE(e.Collect().empty());
}

}  // namespace
}  // namespace cinergy::serve::detail
