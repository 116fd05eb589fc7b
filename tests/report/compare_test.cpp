// write_compare() and `cinergy compare`: two fixture run directories side
// by side; the numbers are the model library's own (the same as `cinergy
// evaluate`), nothing is written into the directories; errors are one line.
#include "cinergy/report/compare.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "cinergy/model/analyze.hpp"
#include "cinergy/model/host_model.hpp"
#include "cli_support.hpp"
#include "fixture.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using cinergy::test::FixtureOptions;
using cinergy::test::run_cli;
using cinergy::test::slurp;
using cinergy::test::TempDir;
using ::testing::HasSubstr;

namespace {

nlohmann::json script_json(const std::string& html, const std::string& id) {
  const std::string open = "<script type=application/json id=" + id + ">";
  auto a = html.find(open);
  if (a == std::string::npos) return nullptr;
  a += open.size();
  return nlohmann::json::parse(html.substr(a, html.find("</script>", a) - a));
}

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    out.insert(e.path().filename().string() + ":" + std::to_string(fs::file_size(e.path())));
  return out;
}

// Two hosts: the default fixture and a longer one (three VM cycles).
struct TwoHosts {
  TempDir dir;
  fs::path a = dir.path() / "a", b = dir.path() / "b";
  TwoHosts() {
    EXPECT_EQ(cinergy::test::write_fixture(a, FixtureOptions{}), "");
    FixtureOptions o;
    o.vm_cycles = 3;
    o.traces = false;
    EXPECT_EQ(cinergy::test::write_fixture(b, o), "");
  }
};

TEST(WriteCompare, TwoHostsWithTheEvaluateNumbersAndEveryFigure) {
  TwoHosts h;
  const auto before_a = listing(h.a), before_b = listing(h.b);
  const fs::path out = h.dir.path() / "compare.html";
  auto r = cinergy::report::write_compare({{{h.a, std::nullopt}, {h.b, std::nullopt}}, {}}, out);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_TRUE(r->skipped.empty());
  const nlohmann::json* s = &r->hosts;
  ASSERT_EQ(s->size(), 2u);
  // The same host name, told apart by the directories.
  EXPECT_EQ((*s)[0]["name"], "fixture-host (a)");
  EXPECT_EQ((*s)[1]["name"], "fixture-host (b)");
  EXPECT_EQ((*s)[0]["host_threads"], 4);  // from the manifest
  EXPECT_EQ((*s)[0]["vm_vcpus"], 2);
  // The numbers are `cinergy evaluate`'s (model::analyze), for both methods.
  for (std::size_t i = 0; i < 2; ++i)
    for (auto method : {cinergy::model::Method::paper, cinergy::model::Method::cinergy}) {
      cinergy::model::AnalyzeOptions ao;
      ao.data_dir = i == 0 ? h.a : h.b;
      ao.method = method;
      auto e = cinergy::model::analyze(ao);
      ASSERT_TRUE(e) << e.error().what();
      EXPECT_EQ((*s)[i][std::string(cinergy::model::method_name(method))], *e) << i;
    }
  EXPECT_EQ((*s)[0]["paper"]["arithmetic"], "float32");
  EXPECT_EQ((*s)[0]["paper_step50"]["exclude_beyond_pct"], 2 * 100.0 / 4 * 3);
  // Nothing written into the directories.
  EXPECT_EQ(listing(h.a), before_a);
  EXPECT_EQ(listing(h.b), before_b);

  const std::string html = slurp(out);
  EXPECT_THAT(html, HasSubstr("<table class=grid id=compare-table>"));
  EXPECT_THAT(html, HasSubstr("fixture-host (b)"));
  EXPECT_THAT(html, HasSubstr("id=sim-banner")) << "the fixture's power is simulated";
  const auto data = script_json(html, "cinergy-data");
  std::set<std::string> ids;
  for (const auto& c : data["xy"]) {
    ids.insert(c["id"].get<std::string>());
    // Every chart into a container the page has.
    const std::string container = c["container"];
    EXPECT_THAT(html, HasSubstr("<div id=" + container)) << container;
  }
  EXPECT_TRUE(ids.contains("paper-ratio-all"));
  for (const char* f : {"isolated", "boxes", "exclude", "tdbu-low", "tdbu-high", "ratio"})
    for (const char* key : {"h0", "h1"})
      EXPECT_TRUE(ids.contains(std::string("paper-") + f + "-" + key)) << f << " " << key;
}

TEST(WriteCompare, ErrorsNameTheDirectoryOrFile) {
  TempDir dir;
  auto none = cinergy::report::write_compare({}, dir.path() / "c.html");
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error().what(), HasSubstr("no directory"));
  auto missing = cinergy::report::write_compare({{{dir.path() / "nope", std::nullopt}}, {}},
                                                dir.path() / "c.html");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().what(), HasSubstr("no usable directory"));
  EXPECT_THAT(missing.error().what(), HasSubstr("nope: not a directory"));
  TwoHosts h;
  // Beside a usable one, an unusable directory is skipped, named, and listed.
  fs::create_directories(dir.path() / "empty");
  auto some = cinergy::report::write_compare(
      {{{h.a, std::nullopt}, {dir.path() / "empty", std::nullopt}}, {}}, dir.path() / "c.html");
  ASSERT_TRUE(some) << some.error().what();
  EXPECT_EQ(some->hosts.size(), 1u);
  ASSERT_EQ(some->skipped.size(), 1u);
  EXPECT_THAT(some->skipped[0], HasSubstr((dir.path() / "empty").string()));
  EXPECT_THAT(slurp(dir.path() / "c.html"), HasSubstr("<div class=missing id=skipped>"));
  // Same host name and same basename: the whole paths tell them apart.
  fs::create_directories(dir.path() / "x");
  fs::copy(h.a, dir.path() / "x" / "a", fs::copy_options::recursive);
  auto twins = cinergy::report::write_compare(
      {{{h.a, std::nullopt}, {dir.path() / "x" / "a", std::nullopt}}, {}}, dir.path() / "c.html");
  ASSERT_TRUE(twins) << twins.error().what();
  EXPECT_EQ(twins->hosts[0]["name"], "fixture-host (" + fs::absolute(h.a).string() + ")");
  EXPECT_EQ(twins->hosts[1]["name"],
            "fixture-host (" + fs::absolute(dir.path() / "x" / "a").string() + ")");
  auto unwritable =
      cinergy::report::write_compare({{{h.a, std::nullopt}}, {}}, dir.path() / "no-dir" / "c.html");
  ASSERT_FALSE(unwritable);
  EXPECT_THAT(unwritable.error().what(), HasSubstr("cannot write"));
  // Original-format CSVs without a manifest need the host threads.
  fs::create_directories(dir.path() / "csv");
  for (const auto& e : fs::directory_iterator(h.b))
    if (e.path().filename().string().starts_with("fixture-host-"))
      fs::copy_file(e.path(), dir.path() / "csv" / e.path().filename());
  auto no_threads = cinergy::report::write_compare({{{dir.path() / "csv", std::nullopt}}, {}},
                                                   dir.path() / "c.html");
  ASSERT_FALSE(no_threads);
  EXPECT_THAT(no_threads.error().what(), HasSubstr("--host-threads N is required"));
  auto with_threads =
      cinergy::report::write_compare({{{dir.path() / "csv", 4}}, {}}, dir.path() / "c.html");
  EXPECT_TRUE(with_threads) << with_threads.error().what();
}

// ---- CLI ----

TEST(CompareCli, JsonSummaryAndOneLineErrors) {
  TwoHosts h;
  const std::string out = (h.dir.path() / "c.html").string();
  auto r =
      run_cli("compare " + h.a.string() + " " + h.b.string() + " -o " + out + " --json", h.dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["name"], "fixture-host (b)");
  EXPECT_TRUE(fs::exists(out));

  r = run_cli("compare " + h.a.string() + " -o " + out, h.dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("paper   n "));
  EXPECT_THAT(r.out, HasSubstr("compare: " + out));

  // --host-threads: once, or once per PATH.
  r = run_cli("compare " + h.a.string() + " " + h.b.string() +
                  " --host-threads 4 --host-threads 4 --host-threads 4 -o " + out,
              h.dir);
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err,
            "cinergy: --host-threads: give it once (every PATH) or once per PATH (2 paths, 3 "
            "values)\n");
  r = run_cli("compare " + (h.dir.path() / "nope").string() + " -o " + out, h.dir);
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err.rfind("cinergy: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // An unusable directory beside a usable one: a one-line warning, exit 0.
  r = run_cli("compare " + h.a.string() + " " + (h.dir.path() / "nope").string() + " -o " + out,
              h.dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("\nwarning: skipped " + (h.dir.path() / "nope").string() +
                               ": not a directory"));
  std::size_t warnings = 0;
  for (std::size_t at = r.err.find("warning:"); at != std::string::npos;
       at = r.err.find("warning:", at + 1))
    ++warnings;
  EXPECT_EQ(warnings, 1u) << r.err;
  r = run_cli("compare -o " + out, h.dir);
  EXPECT_NE(r.code, 0) << "PATH is required";
}

}  // namespace
