// The deployment files of serve/deploy: the recording rules (promtool's own
// checks and unit tests), the Grafana dashboard and the rules referring only
// to series that serve exposes or the rules record, the systemd unit using
// only flags `cinergy serve` has.
#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"
#include "exposition.hpp"
#include "requirements.hpp"

namespace cinergy::serve::detail {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
const fs::path kDeploy = fs::path(CINERGY_SOURCE_DIR) / "serve/deploy";

// Every family name serve can expose (a snapshot with every optional part).
std::set<std::string> exposed_names() {
  Snapshot s;
  SubjectSample x;
  x.labels = {"vm", "v", "u", "1"};
  x.cpu_s = {{"total", 1}};
  Figures f;
  f.isolated.low_watts = 1;
  f.isolated.high_watts = 2;
  f.intensity_pct = 50;
  f.proportional_w = 1;
  f.ratio = 1;
  x.figures = f;
  s.subjects = {x};
  s.zones = {{"package-global", 1.0, 1}};
  s.libvirt_enabled = true;
  std::set<std::string> names;
  for (const auto& fam : to_families(s)) names.insert(fam.name);
  return names;
}

std::set<std::string> recorded_names(const std::string& rules) {
  std::set<std::string> out;
  const std::regex record("record: ([a-z0-9_:]+)");
  for (std::sregex_iterator it(rules.begin(), rules.end(), record), end; it != end; ++it)
    out.insert((*it)[1]);
  return out;
}

// Metric names used in a PromQL expression: cinergy_* and recorded ones.
std::set<std::string> used_names(const std::string& expr) {
  std::set<std::string> out;
  const std::regex name("((instance|fleet):)?cinergy_[a-z0-9_:]*[a-z0-9]");
  for (std::sregex_iterator it(expr.begin(), expr.end(), name), end; it != end; ++it)
    out.insert(it->str());
  return out;
}

TEST(ServeDeploy, RecordingRulesPassPromtool) {
  CINERGY_REQUIRE_PROGRAM("promtool", "prometheus");
  const auto dir = kDeploy / "prometheus";
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{"promtool", "check", "rules",
                                 (dir / "cinergy.rules.yml").string()},
        {"promtool", "check", "config", (dir / "prometheus.example.yml").string()},
        {"promtool", "test", "rules", (dir / "cinergy.rules.test.yml").string()}}) {
    auto r = run_capture(argv, 60s);
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ(r->exit_code, 0) << argv[1] << " " << argv[2] << ":\n" << r->output;
  }
}

TEST(ServeDeploy, RulesAndDashboardUseOnlySeriesThatExist) {
  const auto rules = read_file(kDeploy / "prometheus/cinergy.rules.yml").value();
  auto known = exposed_names();
  const auto recorded = recorded_names(rules);
  ASSERT_GE(recorded.size(), 8u);
  known.insert(recorded.begin(), recorded.end());
  // The rules' expressions.
  std::size_t exprs = 0;
  for (const auto& n : used_names(rules)) {
    ++exprs;
    EXPECT_TRUE(known.contains(n)) << "cinergy.rules.yml uses " << n;
  }
  EXPECT_GT(exprs, 10u);
  // Every panel query of the dashboard.
  auto dash = nlohmann::json::parse(read_file(kDeploy / "grafana/cinergy-dashboard.json").value());
  EXPECT_EQ(dash["uid"], "cinergy-serve");
  std::size_t queries = 0;
  for (const auto& p : dash["panels"]) {
    ASSERT_TRUE(p.contains("targets")) << p["title"];
    for (const auto& t : p["targets"]) {
      const auto expr = t["expr"].get<std::string>();
      ++queries;
      const auto names = used_names(expr);
      EXPECT_FALSE(names.empty()) << p["title"] << ": " << expr;
      for (const auto& n : names) EXPECT_TRUE(known.contains(n)) << p["title"] << " uses " << n;
    }
  }
  EXPECT_GE(queries, 10u);
  for (const auto& v : dash["templating"]["list"]) {
    if (!v.contains("definition")) continue;
    for (const auto& n : used_names(v["definition"].get<std::string>()))
      EXPECT_TRUE(known.contains(n)) << "variable " << v["name"] << " uses " << n;
  }
}

TEST(ServeDeploy, SystemdUnitRunsServeWithFlagsItHas) {
  const auto unit = read_file(kDeploy / "systemd/cinergy-serve.service").value();
  const auto defaults = read_file(kDeploy / "systemd/cinergy-serve.default").value();
  EXPECT_NE(unit.find("Type=notify"), std::string::npos)
      << "serve says READY=1 when /metrics answers";
  EXPECT_NE(unit.find("EnvironmentFile=-/etc/default/cinergy-serve"), std::string::npos);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(unit, m, std::regex("ExecStart=(\\S+) serve ([^\\n]*)")));
  EXPECT_EQ(m[1], "/usr/local/bin/cinergy");
  auto help = run_capture({std::string(CINERGY_BINARY_DIR) + "/cinergy", "serve", "--help"}, 30s);
  ASSERT_TRUE(help && help->exit_code == 0);
  const std::string line = m[2];
  const std::regex flag("--[a-z0-9-]+");
  std::size_t flags = 0;
  for (const std::string& text : {line, defaults})
    for (std::sregex_iterator it(text.begin(), text.end(), flag), end; it != end; ++it) {
      ++flags;
      EXPECT_NE(help->output.find(it->str()), std::string::npos)
          << it->str() << " is no flag of cinergy serve";
    }
  EXPECT_GE(flags, 5u);
  // Every variable the unit expands has a default, in the unit or the file.
  for (const char* var : {"CINERGY_MODEL", "CINERGY_LISTEN", "CINERGY_CONNECT"}) {
    EXPECT_NE(unit.find(std::string("Environment=") + var + "="), std::string::npos) << var;
    EXPECT_NE(defaults.find(std::string(var) + "="), std::string::npos) << var;
  }
  EXPECT_NE(defaults.find("CINERGY_LISTEN=127.0.0.1:9838"), std::string::npos)
      << "local by default";
}

}  // namespace
}  // namespace cinergy::serve::detail
