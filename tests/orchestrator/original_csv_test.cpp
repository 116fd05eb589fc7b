// The original long format, written then parsed back.
#include "cinergy/orchestrator/original_csv.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "temp_dir.hpp"

namespace cinergy::orchestrator {
namespace {

TEST(FormatMeasure, PythonFloatReprOfRoundTo2) {
  const std::vector<std::pair<double, std::string>> cases = {
      {41.2, "41.2"},
      {20.6, "20.6"},
      {3.1349, "3.13"},
      {3.136, "3.14"},
      {0.0, "0.0"},
      {-0.0, "0.0"},
      {-0.001, "0.0"},
      {2101000.0, "2101000.0"},
      {12.5, "12.5"},
      {100.0, "100.0"},
      {7.02, "7.02"},
      {-3.456, "-3.46"},
      {3.125, "3.12"},
      {0.125, "0.12"},
      {2.675, "2.67"},
      {1e-9, "0.0"},
      {123456.789, "123456.79"},
      {0.1 + 0.2, "0.3"},
      {19.999, "20.0"},
  };
  for (const auto& [v, s] : cases) EXPECT_EQ(format_measure(v), s) << v;
}

struct Parsed {
  std::string header;
  std::vector<std::tuple<long, std::string, std::string>> rows;
};

Parsed parse(const std::filesystem::path& p) {
  Parsed out;
  std::ifstream in(p);
  std::getline(in, out.header);
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string ts, domain, measure, extra;
    std::getline(ss, ts, ',');
    std::getline(ss, domain, ',');
    std::getline(ss, measure, ',');
    EXPECT_FALSE(std::getline(ss, extra, ',')) << "more than 3 fields: " << line;
    std::size_t used = 0;
    const long t = std::stol(ts, &used);
    EXPECT_EQ(used, ts.size()) << "timestamp must be whole seconds: " << line;
    out.rows.emplace_back(t, domain, measure);
  }
  return out;
}

TEST(OriginalCsv, WritesTheLongFormatExactly) {
  test::TempDir dir;
  const auto path = original_csv_path(dir.path(), "nova-12.lyon.grid5000.fr", "training-50");
  EXPECT_EQ(path.filename(), "nova-12.lyon.grid5000.fr-training-50.csv");
  {
    auto w = OriginalCsvWriter::open(path);
    ASSERT_TRUE(w) << w.error().what();
    ASSERT_TRUE(w->write_window(2, "training-50", 3.125,
                                {{"cpu%_package-global", 3.1349}, {"cpu%_package-0", 6.25}}));
    ASSERT_TRUE(w->write_window(4, "training-50", 3.125,
                                {{"package-0-joule", 41.2},
                                 {"package-0-watt", 20.6},
                                 {"package-global-joule", 80.1},
                                 {"package-global-watt", 40.05},
                                 {"vm", NAN},
                                 {"freq_package-0", 2101000.0}}));
  }
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  EXPECT_EQ(all.str(),
            "timestamp,domain,measure\n"
            "2,phase,training-50\n"
            "2,target,3.12\n"
            "2,cpu%_package-global,3.13\n"
            "2,cpu%_package-0,6.25\n"
            "4,phase,training-50\n"
            "4,target,3.12\n"
            "4,package-0-joule,41.2\n"
            "4,package-0-watt,20.6\n"
            "4,package-global-joule,80.1\n"
            "4,package-global-watt,40.05\n"
            "4,freq_package-0,2101000.0\n");
  auto parsed = parse(path);
  EXPECT_EQ(parsed.header, "timestamp,domain,measure");
  // Pivot as the notebook does: one value per (timestamp, domain), numbers parse.
  std::map<std::pair<long, std::string>, std::string> pivot;
  for (const auto& [t, d, m] : parsed.rows) {
    EXPECT_TRUE(pivot.emplace(std::make_pair(t, d), m).second) << "duplicate " << t << " " << d;
    if (d != "phase") {
      EXPECT_NO_THROW((void)std::stod(m)) << d << "=" << m;
    }
  }
  EXPECT_EQ(pivot[std::make_pair(4L, std::string("package-global-watt"))], "40.05");
  EXPECT_FALSE(pivot.count(std::make_pair(4L, std::string("vm")))) << "NaN values are left out";
}

TEST(OriginalCsv, GroundTruthHasNoTargetRow) {
  test::TempDir dir;
  const auto path = dir.path() / "h-groundtruth.csv";
  {
    auto w = OriginalCsvWriter::open(path);
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->write_window(1, "groundtruth", std::nullopt, {{"vm", 51.234}, {"CPU0", 25.0}}));
  }
  auto parsed = parse(path);
  ASSERT_EQ(parsed.rows.size(), 3u);
  EXPECT_EQ(std::get<1>(parsed.rows[0]), "phase");
  EXPECT_EQ(std::get<2>(parsed.rows[0]), "groundtruth");
  EXPECT_EQ(std::get<2>(parsed.rows[1]), "51.23");
}

TEST(OriginalCsv, OpenErrorNamesThePath) {
  auto w = OriginalCsvWriter::open("/nonexistent-dir/x.csv");
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().what().find("/nonexistent-dir/x.csv"), std::string::npos);
}

TEST(EventLog, WritesHeaderAndEvents) {
  test::TempDir dir;
  {
    auto e = EventLog::open(dir.path() / "events-training-25.csv");
    ASSERT_TRUE(e);
    e->write(1000, "level_start", 1, -1, 12.5, 1);
    e->write(2'000'001'000, "window_end", 1, 0, 12.5, 1);
    e->write(3'000'000'000, "vm_finished", 0, 3, std::nullopt, 0);
  }
  std::ifstream in(dir.path() / "events-training-25.csv");
  std::stringstream all;
  all << in.rdbuf();
  EXPECT_EQ(all.str(),
            "t_ns,event,level,window,target_pct,workers\n"
            "1000,level_start,1,-1,12.5,1\n"
            "2000001000,window_end,1,0,12.5,1\n"
            "3000000000,vm_finished,0,3,,0\n");
}

}  // namespace
}  // namespace cinergy::orchestrator
