#include "cinergy/orchestrator/staircase.hpp"

#include <gtest/gtest.h>

#include "temp_dir.hpp"

namespace cinergy::orchestrator {
namespace {

Topology two_sockets() {
  // Socket 0 holds CPUs 0,1 and 4,5 (hyperthreads); socket 1 holds 2,3,6,7.
  Topology t;
  t.socket_cpus = {{0, 1, 4, 5}, {2, 3, 6, 7}};
  t.cores = 4;
  return t;
}

struct Case {
  std::vector<std::vector<int>> sockets;
  int step;
  std::size_t levels;   // threads x 100/step + 1
  double last_target;   // always 100 when 100/step is exact
  double first_target;  // step / threads
};

TEST(Staircase, LevelCountAndTargetsForThreadsAndSteps) {
  const std::vector<Case> cases = {
      {{{0, 1}}, 25, 9, 100, 12.5},
      {{{0, 1}}, 50, 5, 100, 25},
      {{{0, 1}}, 100, 3, 100, 50},
      {{{0}}, 25, 5, 100, 25},
      {{{0, 1, 2, 3}, {4, 5, 6, 7}}, 25, 33, 100, 3.125},
      {{{0, 1, 2, 3}, {4, 5, 6, 7}}, 50, 17, 100, 6.25},
      {{{0, 1, 2}}, 30, 10, 90, 10},  // 100/30 = 3 repeats: 9 workers x 30 / 3 = 90 %
  };
  for (const auto& c : cases) {
    Topology t;
    t.socket_cpus = c.sockets;
    auto levels = staircase(t, c.step, false);
    SCOPED_TRACE(::testing::Message() << t.threads() << " threads, step " << c.step);
    ASSERT_EQ(levels.size(), c.levels);
    EXPECT_EQ(levels[0].workers, 0);
    EXPECT_EQ(levels[0].target_pct, 0.0);
    EXPECT_EQ(levels[0].socket, -1);
    EXPECT_DOUBLE_EQ(levels[1].target_pct, c.first_target);
    EXPECT_DOUBLE_EQ(levels.back().target_pct, c.last_target);
    for (std::size_t i = 0; i < levels.size(); ++i) {
      EXPECT_EQ(levels[i].index, static_cast<int>(i));
      EXPECT_EQ(levels[i].workers, static_cast<int>(i));
    }
  }
}

TEST(Staircase, FillsSocketZeroFirstThenSocketOne) {
  auto levels = staircase(two_sockets(), 50, true);
  ASSERT_EQ(levels.size(), 17u);
  // Levels 1..8 (4 CPUs x 2 repeats) on socket 0, 9..16 on socket 1.
  for (int i = 1; i <= 8; ++i) {
    EXPECT_EQ(levels[i].socket, 0) << i;
    EXPECT_EQ(levels[i].cpus, (std::vector<int>{0, 1, 4, 5}));
  }
  for (int i = 9; i <= 16; ++i) {
    EXPECT_EQ(levels[i].socket, 1) << i;
    EXPECT_EQ(levels[i].cpus, (std::vector<int>{2, 3, 6, 7}));
  }
  EXPECT_TRUE(staircase(two_sockets(), 50, false)[3].cpus.empty()) << "no pinning asked";
}

TEST(Topology, ReadsSocketsCoresFromFakeSysfs) {
  test::TempDir sys;
  sys.write("online", "0-3\n");
  const int package[] = {0, 1, 0, 1};
  const int core[] = {0, 0, 1, 1};
  for (int c = 0; c < 4; ++c) {
    sys.write("cpu" + std::to_string(c) + "/topology/physical_package_id",
              std::to_string(package[c]) + "\n");
    sys.write("cpu" + std::to_string(c) + "/topology/core_id", std::to_string(core[c]) + "\n");
  }
  auto t = read_topology(sys.path());
  ASSERT_TRUE(t) << t.error().what();
  EXPECT_EQ(t->socket_cpus, (std::vector<std::vector<int>>{{0, 2}, {1, 3}}));
  EXPECT_EQ(t->threads(), 4);
  EXPECT_EQ(t->sockets(), 2);
  EXPECT_EQ(t->cores, 4);
  EXPECT_EQ(t->cpu_socket(), (std::vector<int>{0, 1, 0, 1}));
  auto j = topology_json(*t);
  EXPECT_EQ(j["threads"], 4);
}

TEST(Topology, OfflineCpusAreLeftOutAndMissingTopologyIsSocketZero) {
  test::TempDir sys;
  sys.write("online", "0,2\n");
  auto t = read_topology(sys.path());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->socket_cpus, (std::vector<std::vector<int>>{{0, 2}}));
  EXPECT_EQ(t->cpu_socket(), (std::vector<int>{0, -1, 0}));
}

TEST(Topology, ErrorsNameTheFile) {
  test::TempDir sys;
  auto t = read_topology(sys.path());
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("online"), std::string::npos);
  sys.write("online", "3-1\n");
  t = read_topology(sys.path());
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("bad CPU list"), std::string::npos);
}

}  // namespace
}  // namespace cinergy::orchestrator
