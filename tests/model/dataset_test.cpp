// Loading and pivoting the original long CSV format, and every bad-input error.
#include "cinergy/model/dataset.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "temp_dir.hpp"

namespace cinergy::model {
namespace {

using ::testing::HasSubstr;

TEST(ParseLongCsv, PivotsToOneRowPerTimestampWithNaNForMissing) {
  const std::string text =
      "timestamp,domain,measure\n"
      "2,phase,training-50\n"
      "2,target,0\n"
      "2,cpu%_package-global,0.5\n"
      "4,phase,training-50\n"
      "4,target,3\n"
      "4,package-global-watt,40.05\n"
      "4,cpu%_package-global,3.13\n"
      "6,package-global-watt,41.5\n";
  auto t = parse_long_csv(text, "x.csv");
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_EQ(t->rows(), 3u);
  EXPECT_EQ(t->phase, "training-50");
  EXPECT_EQ(t->timestamp_s, (std::vector<double>{2, 4, 6}));
  const auto* w = t->column("package-global-watt");
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(std::isnan((*w)[0]));
  EXPECT_DOUBLE_EQ((*w)[1], 40.05);
  EXPECT_DOUBLE_EQ((*w)[2], 41.5);
  const auto* u = t->column("cpu%_package-global");
  EXPECT_TRUE(std::isnan((*u)[2]));
  EXPECT_EQ(t->column("nope"), nullptr);
  // Only row 4 has both.
  EXPECT_EQ(t->complete_rows({"package-global-watt", "cpu%_package-global"}),
            (std::vector<std::size_t>{1}));
  // dropna() over every column, phase included: row 4 only.
  EXPECT_EQ(t->complete_rows({}), (std::vector<std::size_t>{1}));
  EXPECT_TRUE(t->complete_rows({"missing"}).empty());
}

TEST(ParseLongCsv, SortsTimestampsAcceptsCrlfAndNan) {
  const std::string text =
      "timestamp,domain,measure\r\n"
      "4,vm,10\r\n"
      "2,vm,nan\r\n"
      "3.5,vm,+7.25\r\n"
      "\r\n";
  auto t = parse_long_csv(text, "x.csv");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->timestamp_s, (std::vector<double>{2, 3.5, 4}));
  const auto& vm = *t->column("vm");
  EXPECT_TRUE(std::isnan(vm[0]));
  EXPECT_DOUBLE_EQ(vm[1], 7.25);
  EXPECT_DOUBLE_EQ(vm[2], 10);
}

TEST(ParseLongCsv, VcpuColumnsInNumericOrder) {
  const std::string text =
      "timestamp,domain,measure\n2,CPU10,1\n2,CPU2,1\n2,CPU0,1\n2,CPUx,1\n2,cpu%_package-0,1\n";
  auto t = parse_long_csv(text, "x.csv");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->vcpu_columns(), (std::vector<std::string>{"CPU0", "CPU2", "CPU10"}));
}

struct BadCase {
  const char* text;
  const char* expected;
};

TEST(ParseLongCsv, BadInputGivesOneLineErrorNamingFileAndLine) {
  const BadCase cases[] = {
      {"", "f.csv: empty file"},
      {"\n  \n", "f.csv: empty file"},
      {"time,dom,val\n2,vm,1\n", "f.csv:1: wrong header 'time,dom,val'"},
      {"timestamp,domain,measure\n", "f.csv: no data rows"},
      {"timestamp,domain,measure\n2,vm,1\n2,vm,abc\n",
       "f.csv:3: non-numeric measure 'abc' for domain 'vm'"},
      {"timestamp,domain,measure\n2,vm\n", "f.csv:2: expected 3 fields"},
      {"timestamp,domain,measure\n2,vm,1,2\n", "f.csv:2: expected 3 fields"},
      {"timestamp,domain,measure\nx,vm,1\n", "f.csv:2: non-numeric timestamp 'x'"},
      {"timestamp,domain,measure\n2,,1\n", "f.csv:2: empty domain"},
  };
  for (const auto& c : cases) {
    auto t = parse_long_csv(c.text, "f.csv");
    ASSERT_FALSE(t) << c.text;
    EXPECT_THAT(t.error().message, HasSubstr(c.expected)) << c.text;
    EXPECT_EQ(t.error().message.find('\n'), std::string::npos);
  }
  // The phase domain may be text.
  EXPECT_TRUE(parse_long_csv("timestamp,domain,measure\n2,phase,cloudlike\n2,vm,1\n", "f.csv"));
}

TEST(LoadLongCsv, MissingFileAndDirectory) {
  test::TempDir dir;
  auto t = load_long_csv(dir.path() / "nope.csv");
  ASSERT_FALSE(t);
  EXPECT_THAT(t.error().what(), HasSubstr("nope.csv: cannot open"));
  auto d = load_long_csv(dir.path());
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message, HasSubstr("is a directory"));
  dir.write("empty.csv", "");
  auto e = load_long_csv(dir.path() / "empty.csv");
  ASSERT_FALSE(e);
  EXPECT_THAT(e.error().message, HasSubstr("empty.csv: empty file"));
}

const char* kSmall =
    "timestamp,domain,measure\n2,cpu%_package-global,1\n2,package-global-watt,50\n";

TEST(LoadDataset, DiscoversPrefixAndFiles) {
  test::TempDir dir;
  dir.write("nova-1.lyon-training-50.csv", kSmall);
  dir.write("nova-1.lyon-training-100.csv", kSmall);
  dir.write("nova-1.lyon-groundtruth.csv",
            "timestamp,domain,measure\n2,vm,5\n2,CPU0,1\n2,CPU1,1\n");
  dir.write("notes.txt", "ignored");
  dir.write("other.csv", "ignored");
  auto d = load_dataset(dir.path());
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->prefix, "nova-1.lyon");
  EXPECT_EQ(d->training.size(), 2u);
  EXPECT_TRUE(d->training.contains(50));
  EXPECT_TRUE(d->training.contains(100));
  ASSERT_TRUE(d->groundtruth);
  EXPECT_EQ(d->groundtruth->vcpu_columns().size(), 2u);
  EXPECT_FALSE(d->cloudlike);
  EXPECT_FALSE(d->has_manifest);
  auto th = resolve_host_threads(*d, std::nullopt);
  ASSERT_FALSE(th);
  EXPECT_THAT(th.error().message, HasSubstr("--host-threads N is required"));
  EXPECT_EQ(resolve_host_threads(*d, 32).value(), 32);
  EXPECT_FALSE(resolve_host_threads(*d, 0));
}

TEST(LoadDataset, Errors) {
  test::TempDir dir;
  auto a = load_dataset(dir.path() / "missing");
  ASSERT_FALSE(a);
  EXPECT_THAT(a.error().message, HasSubstr("not a directory"));
  auto b = load_dataset(dir.path());
  ASSERT_FALSE(b);
  EXPECT_THAT(b.error().message, HasSubstr("no <prefix>-training"));
  dir.write("a-training-50.csv", kSmall);
  dir.write("b-groundtruth.csv", kSmall);
  auto c = load_dataset(dir.path());
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("several hosts (prefixes a, b)"));
  test::TempDir dir2;
  dir2.write("h-training-25.csv", "timestamp,domain,measure\n2,vm,oops\n");
  auto e = load_dataset(dir2.path());
  ASSERT_FALSE(e);
  EXPECT_THAT(e.error().message, HasSubstr("h-training-25.csv:2: non-numeric measure 'oops'"));
}

TEST(LoadDataset, ManifestGivesHostThreads) {
  test::TempDir dir;
  dir.write("h-training-50.csv", kSmall);
  dir.write("manifest.json", R"({"host": {"threads": 48, "cpu": "x"}})");
  auto d = load_dataset(dir.path());
  ASSERT_TRUE(d);
  EXPECT_EQ(resolve_host_threads(*d, std::nullopt).value(), 48);
  EXPECT_EQ(resolve_host_threads(*d, 8).value(), 8);  // the flag wins

  dir.write("manifest.json", R"({"scenarios": []})");
  auto d2 = load_dataset(dir.path());
  ASSERT_TRUE(d2);
  auto th = resolve_host_threads(*d2, std::nullopt);
  ASSERT_FALSE(th);
  EXPECT_THAT(th.error().message,
              HasSubstr("manifest.json has no host.threads; pass --host-threads"));

  dir.write("manifest.json", "{not json");
  auto d3 = load_dataset(dir.path());
  ASSERT_FALSE(d3);
  EXPECT_THAT(d3.error().message, HasSubstr("manifest.json: not valid JSON"));

  dir.write("manifest.json", R"({"host": {"threads": -3}})");
  EXPECT_FALSE(load_dataset(dir.path()));
}

TEST(LoadDataset, RunDirectoryUsesTheManifestPrefix) {
  test::TempDir dir;
  dir.write("node-7-training-50.csv", kSmall);
  dir.write("events-training-50.csv", "t_ns,event,level,window,target_pct,workers\n");
  dir.write("manifest.json", R"({"host": {"threads": 16}, "csv_prefix": "node-7"})");
  auto d = load_dataset(dir.path());
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->prefix, "node-7");
  EXPECT_EQ(resolve_host_threads(*d, std::nullopt).value(), 16);
  EXPECT_FALSE(d->simulated_power);
  dir.write("manifest.json",
            R"({"host": {"threads": 16}, "csv_prefix": "node-7", "simulated": true})");
  auto s = load_dataset(dir.path());
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->simulated_power);
}

}  // namespace
}  // namespace cinergy::model
