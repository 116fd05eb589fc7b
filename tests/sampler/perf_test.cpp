#include <gtest/gtest.h>

#include "cinergy/sampler/energy_source.hpp"
#include "temp_dir.hpp"

using namespace cinergy::sampler;
using cinergy::test::TempDir;

TEST(PerfParse, EventConfig) {
  EXPECT_EQ(parse_perf_event_config("event=0x02\n").value(), 2u);
  EXPECT_EQ(parse_perf_event_config("event=0x1f").value(), 31u);
  EXPECT_EQ(parse_perf_event_config("event=7").value(), 7u);
  EXPECT_FALSE(parse_perf_event_config("event=0xzz"));
  EXPECT_FALSE(parse_perf_event_config("config=0x02"));
  EXPECT_FALSE(parse_perf_event_config("event=0x02,umask=0x1"));
  EXPECT_FALSE(parse_perf_event_config(""));
  EXPECT_FALSE(parse_perf_event_config("event="));
}

TEST(PerfParse, DomainNames) {
  EXPECT_EQ(perf_domain_name("energy-pkg", 1), "package-1");
  EXPECT_EQ(perf_domain_name("energy-cores", 0), "core-0");
  EXPECT_EQ(perf_domain_name("energy-ram", 0), "dram-0");
  EXPECT_EQ(perf_domain_name("energy-gpu", 0), "uncore-0");
  EXPECT_EQ(perf_domain_name("energy-psys", 3), "psys");
}

namespace {
void pmu_tree(const TempDir& t) {
  t.write("power/type", "23\n");
  t.write("power/cpumask", "0,18\n");
  t.write("power/events/energy-pkg", "event=0x02\n");
  t.write("power/events/energy-pkg.scale", "2.3283064365386962890625e-10\n");
  t.write("power/events/energy-pkg.unit", "Joules\n");
  t.write("power/events/energy-ram", "event=0x03\n");
  t.write("power/events/energy-ram.scale", "6.103515625e-05\n");
  t.write("power/events/energy-ram.unit", "Joules\n");
}
}  // namespace

TEST(PerfPmu, ReadsFakeSysfs) {
  TempDir t;
  pmu_tree(t);
  auto pmu = read_perf_pmu(t.path() / "power");
  ASSERT_TRUE(pmu) << pmu.error().what();
  EXPECT_EQ(pmu->type, 23u);
  EXPECT_EQ(pmu->cpus, (std::vector<int>{0, 18}));
  ASSERT_EQ(pmu->events.size(), 2u);
  EXPECT_EQ(pmu->events[0].name, "energy-pkg");
  EXPECT_EQ(pmu->events[0].config, 2u);
  EXPECT_DOUBLE_EQ(pmu->events[0].scale, 2.3283064365386962890625e-10);
  EXPECT_EQ(pmu->events[0].unit, "Joules");
  EXPECT_EQ(pmu->events[1].name, "energy-ram");
  EXPECT_DOUBLE_EQ(pmu->events[1].scale, 6.103515625e-05);
}

TEST(PerfPmu, ErrorsNameTheFile) {
  TempDir t;
  EXPECT_FALSE(read_perf_pmu(t.path() / "power"));
  pmu_tree(t);
  t.write("power/events/energy-pkg.scale", "nan\n");
  auto bad_scale = read_perf_pmu(t.path() / "power");
  ASSERT_FALSE(bad_scale);
  EXPECT_NE(bad_scale.error().message.find("energy-pkg.scale"), std::string::npos);
  pmu_tree(t);
  t.write("power/events/energy-ram", "umask=3\n");
  auto bad_event = read_perf_pmu(t.path() / "power");
  ASSERT_FALSE(bad_event);
  EXPECT_NE(bad_event.error().message.find("energy-ram"), std::string::npos);
  pmu_tree(t);
  t.write("power/type", "x\n");
  auto bad_type = read_perf_pmu(t.path() / "power");
  ASSERT_FALSE(bad_type);
  EXPECT_NE(bad_type.error().message.find("power/type"), std::string::npos);
}

TEST(PerfPmu, OpenFailsCleanlyWithoutThePmu) {
  // Type 23 is not a power PMU on this host: perf_event_open fails and says which event.
  TempDir t;
  pmu_tree(t);
  t.write("sys/cpu0/topology/physical_package_id", "0\n");
  t.write("power/type", "987654\n");
  auto s = open_perf(t.path() / "power", t.path() / "sys");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("perf_event_open(power/energy-pkg/"), std::string::npos);
}
