// write_report() on fixture run directories: complete, partial, broken; the
// power derivation through the whole path; the size bound; the CLI's errors.
#include "cinergy/report/report.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "cinergy/model/dataset.hpp"
#include "cinergy/model/host_model.hpp"
#include "cinergy/sampler/trace_writer.hpp"
#include "cli_support.hpp"
#include "fixture.hpp"
#include "temp_dir.hpp"
#include "trace.hpp"

namespace fs = std::filesystem;
using cinergy::report::write_report;
using cinergy::test::FixtureOptions;
using cinergy::test::run_cli;
using cinergy::test::slurp;
using cinergy::test::TempDir;

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The content of <script type=application/json id=ID>.
nlohmann::json script_json(const std::string& html, const std::string& id) {
  const std::string open = "<script type=application/json id=" + id + ">";
  auto a = html.find(open);
  if (a == std::string::npos) return nullptr;
  a += open.size();
  auto b = html.find("</script>", a);
  return nlohmann::json::parse(html.substr(a, b - a));
}

std::vector<double> decode(const nlohmann::json& arr, double q) {
  std::vector<double> out;
  long long acc = 0;
  for (const auto& d : arr) {
    if (d.is_null()) {
      out.push_back(NAN);
      continue;
    }
    acc += d.get<long long>();
    out.push_back(static_cast<double>(acc) * q);
  }
  return out;
}

TEST(WriteReport, CompleteFixture) {
  TempDir dir;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), FixtureOptions{}), "");
  const fs::path out = dir.path() / "report.html";
  auto r = write_report(dir.path(), out);
  ASSERT_TRUE(r.has_value()) << r.error().what();
  EXPECT_TRUE(r->missing.empty()) << r->missing.front();
  const std::string html = slurp(out);
  EXPECT_NE(html.find("Permission is hereby granted, free of charge"), std::string::npos)
      << "uPlot's MIT licence text must be in the file";
  EXPECT_NE(html.find("uPlot 1.6.32"), std::string::npos);
  EXPECT_NE(html.find("id=sim-banner"), std::string::npos) << "simulated power said on top";
  EXPECT_EQ(html.find("<script src"), std::string::npos) << "self-contained";
  EXPECT_EQ(html.find("<link "), std::string::npos) << "self-contained";
  EXPECT_EQ(html.find("id=missing"), std::string::npos);
  EXPECT_NE(html.find("<table class=grid id=metrics>"), std::string::npos) << "evaluation table";
  EXPECT_NE(html.find("P(x) ="), std::string::npos) << "model formulas";
  // Manifest facts from the keys the orchestrator writes (rapl.source, start_utc, end_utc).
  EXPECT_NE(html.find("<tr><th>source</th><td>sim</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><th>start</th><td>2026-11-24T03:00:00Z</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><th>end</th><td>2026-11-24T03:30:00Z</td></tr>"), std::string::npos);
  auto data = script_json(html, "cinergy-data");
  ASSERT_TRUE(data.is_object());
  EXPECT_TRUE(data["simulated"].get<bool>());
  EXPECT_EQ(data["traces"].size(), 5u);
  std::vector<std::string> xy;
  for (const auto& c : data["xy"]) xy.push_back(c["id"]);
  EXPECT_TRUE(contains(xy, "model-25") && contains(xy, "model-50") && contains(xy, "model-100"));
  EXPECT_TRUE(contains(xy, "isolated") && contains(xy, "ratio"));
  // Each model chart has the training points and both methods' curves.
  for (const auto& c : data["xy"])
    if (c["id"] == "model-50") {
      EXPECT_EQ(c["series"].size(), 3u) << "training points + both methods' curves";
    } else if (c["id"].get<std::string>().starts_with("model-")) {
      EXPECT_GE(c["series"].size(), 2u) << "training points + the cinergy curve";
    }
  // The cloud-like trace carries the isolated estimates of both methods.
  const auto& cloud = data["traces"][4];
  EXPECT_EQ(cloud["phase"], "cloudlike");
  int estimates = 0;
  for (const auto& s : cloud["series"]) estimates += s["kind"] == "estimate";
  EXPECT_EQ(estimates, 2);
  EXPECT_FALSE(cloud["markers"].empty()) << "level boundaries";
}

// Every drawn model curve lands on the training points of its step (within
// the fit's error).
TEST(WriteReport, ModelCurvesFromTheModelLibrary) {
  TempDir dir;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), FixtureOptions{}), "");
  ASSERT_TRUE(write_report(dir.path(), dir.path() / "r.html"));
  auto data = script_json(slurp(dir.path() / "r.html"), "cinergy-data");
  int curves = 0;
  for (const auto& c : data["xy"]) {
    if (!c["id"].get<std::string>().starts_with("model-")) continue;
    const auto& x = c["x"];
    for (std::size_t s = 1; s < c["series"].size(); ++s) {
      ++curves;
      double worst = 0;
      int compared = 0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (c["series"][s]["y"][i].is_null()) continue;
        double best_dx = 1e9, ty = 0;
        for (std::size_t j = 0; j < x.size(); ++j)
          if (!c["series"][0]["y"][j].is_null() &&
              std::fabs(x[j].get<double>() - x[i].get<double>()) < best_dx) {
            best_dx = std::fabs(x[j].get<double>() - x[i].get<double>());
            ty = c["series"][0]["y"][j];
          }
        if (best_dx < 1) {
          worst = std::max(worst, std::fabs(ty - c["series"][s]["y"][i].get<double>()));
          ++compared;
        }
      }
      EXPECT_GT(compared, 3) << c["id"] << " " << c["series"][s]["label"];
      // A wrong reading of the coefficients is off by tens of W or more; a
      // low-degree CV fit of step 100 (5 levels) is off by up to ~10 W.
      EXPECT_LT(worst, 15.0) << c["id"] << " " << c["series"][s]["label"];
    }
  }
  EXPECT_GE(curves, 4);
}

// A model file the model library cannot read (another schema, or its own
// schema with a broken curve) is unreadable, with the library's message; no
// curve or formula is guessed from it. The other method's file still shows.
TEST(WriteReport, ModelFileTheLibraryCannotReadIsUnreadableNotGuessed) {
  struct Case {
    const char* what;
    std::string model_json;
    std::string message;  // the library's, after "<path>: "
  };
  const std::vector<Case> cases = {
      {"hand-written, another schema",
       R"({"method": "cinergy", "host_threads": 4, "selected_step": 50, "steps": [
            {"step": 50, "degree": 1, "coefficients": [40.0, 20.0],
             "x_scaling": {"center": 50, "scale": 50}, "fit_range": [0, 100]}]})",
       "not a cinergy model (format cinergy-model-2 or cinergy-model-1)"},
      {"library schema, curve without coefficients",
       R"({"format": "cinergy-model-1", "method": "cinergy", "host_threads": 4,
           "vm_vcpus": 2, "fit_range_pct": [0, 100],
           "curves": [{"step_pct": 50, "coef": [], "x_center": 50, "x_scale": 50,
                       "x_range_pct": [0, 100]}]})",
       "curve step 50 has invalid coefficients"},
  };
  for (const auto& c : cases) {
    TempDir dir;
    ASSERT_EQ(cinergy::test::write_fixture(dir.path(), FixtureOptions{}), "");
    dir.write("model.json", c.model_json);
    auto r = write_report(dir.path(), dir.path() / "report.html");
    ASSERT_TRUE(r.has_value()) << c.what << ": " << r.error().what();
    EXPECT_FALSE(contains(r->missing, "model.json")) << c.what << ": it exists";
    const std::string html = slurp(dir.path() / "report.html");
    const std::string line =
        "<li class=warn>unreadable: model.json: " + (dir.path() / "model.json").string() + ": " +
        c.message + "</li>";
    EXPECT_NE(html.find(line), std::string::npos) << c.what << ": " << line;
    EXPECT_EQ(html.find("Model formulas, cinergy"), std::string::npos) << c.what;
    EXPECT_NE(html.find("Model formulas, paper"), std::string::npos) << c.what;
    auto data = script_json(html, "cinergy-data");
    int paper_curves = 0;
    for (const auto& chart : data["xy"]) {
      if (!chart["id"].get<std::string>().starts_with("model-")) continue;
      for (const auto& s : chart["series"]) {
        EXPECT_NE(s["label"], "model (cinergy)") << c.what << ": " << chart["id"];
        paper_curves += s["label"] == "model (paper)";
      }
    }
    EXPECT_EQ(paper_curves, 3) << c.what << ": the paper's curve of each step";
  }
}

// A run of other staircase steps (`cinergy run --steps 20,50,80`): every
// step is read, drawn as a time series and a model chart with its fitted
// curve, and no default step is listed missing.
TEST(WriteReport, AnySetOfStepsIsDrawn) {
  TempDir dir;
  FixtureOptions o;
  o.steps = {20, 50, 80};
  o.level_s = 2;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), o), "");
  ASSERT_TRUE(fs::exists(dir.path() / "trace-training-20.csv.xz"));
  auto r = write_report(dir.path(), dir.path() / "report.html");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  EXPECT_TRUE(r->missing.empty()) << r->missing.front();
  const std::string html = slurp(dir.path() / "report.html");
  auto data = script_json(html, "cinergy-data");
  std::vector<std::string> phases;
  for (const auto& t : data["traces"]) phases.push_back(t["phase"]);
  EXPECT_EQ(phases, (std::vector<std::string>{"training-20", "training-50", "training-80",
                                              "groundtruth", "cloudlike"}));
  std::map<std::string, std::size_t> model_series;
  for (const auto& c : data["xy"])
    if (c["id"].get<std::string>().starts_with("model-"))
      model_series[c["id"]] = c["series"].size();
  EXPECT_EQ(model_series.size(), 3u);
  EXPECT_GE(model_series["model-20"], 2u) << "training points + the cinergy curve";
  EXPECT_EQ(model_series["model-50"], 3u) << "training points + both methods' curves";
  EXPECT_GE(model_series["model-80"], 2u);
  EXPECT_EQ(html.find("training-25"), std::string::npos);
}

// Scenario A's unpinned staircases (a host of several sockets): each is
// read and drawn beside its step's pinned windows, in the step's model chart.
TEST(WriteReport, UnpinnedStaircasesBesideThePinnedOnes) {
  TempDir dir;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), FixtureOptions{}), "");
  fs::path pinned;
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.path().filename().string().ends_with("-training-50.csv")) pinned = e.path();
  ASSERT_FALSE(pinned.empty());
  std::string name = pinned.filename().string();
  name.replace(name.rfind("training-50"), 11, "training-unpinned-50");
  fs::copy_file(pinned, dir.path() / name);
  auto r = write_report(dir.path(), dir.path() / "report.html");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  for (const auto& m : r->missing)
    EXPECT_FALSE(m.starts_with("<host>-")) << "its CSV was read (only its trace is missing): " << m;
  const std::string html = slurp(dir.path() / "report.html");
  auto data = script_json(html, "cinergy-data");
  std::size_t charts = 0;
  for (const auto& c : data["xy"]) {
    if (!c["id"].get<std::string>().starts_with("model-")) continue;
    ++charts;
    std::vector<std::string> labels;
    for (const auto& series : c["series"]) labels.push_back(series["label"]);
    const bool has = std::ranges::find(labels, "unpinned training windows") != labels.end();
    EXPECT_EQ(has, c["id"] == "model-50") << c["id"];
    EXPECT_EQ(labels.front(), "training windows") << c["id"];
  }
  EXPECT_EQ(charts, 3u) << "one chart per step, not one per staircase";
}

// The notebook's figures (section 6) from the directory's own files: the
// paper model's f_50(0), the ground truth, the estimates, step 50.
TEST(WriteReport, ThePapersFiguresFromTheDirectorysFiles) {
  TempDir dir;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), FixtureOptions{}), "");
  auto r = write_report(dir.path(), dir.path() / "report.html");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  const std::string html = slurp(dir.path() / "report.html");
  EXPECT_NE(html.find("<section id=paper-sec><h2>6. The paper's figures</h2>"), std::string::npos);
  auto data = script_json(html, "cinergy-data");
  std::map<std::string, nlohmann::json> charts;
  for (const auto& c : data["xy"]) charts[c["id"].get<std::string>()] = c;
  for (const char* f : {"isolated", "boxes", "exclude", "tdbu-low", "tdbu-high", "ratio"}) {
    const std::string id = std::string("paper-") + f;
    ASSERT_TRUE(charts.contains(id)) << id;
    EXPECT_EQ(charts[id]["container"], "pf-" + std::string(f));
    EXPECT_NE(html.find("<div id=pf-" + std::string(f) + ">"), std::string::npos) << f;
  }
  // Figure "isolated": the ground truth minus f_50(0) x (1 - 2 / 4).
  auto paper = cinergy::model::load_model(dir.path() / "model-paper.json");
  ASSERT_TRUE(paper) << paper.error().message;
  const double not_owed = paper->power_w(0, 50) * (1 - 2.0 / 4);
  auto gt = cinergy::model::load_long_csv(dir.path() / "fixture-host-groundtruth.csv");
  ASSERT_TRUE(gt);
  const auto gt_rows = gt->complete_rows({"vm", "package-global-watt"});
  ASSERT_FALSE(gt_rows.empty());
  const double vm0 = (*gt->column("vm"))[gt_rows[0]];
  const double w0 = (*gt->column("package-global-watt"))[gt_rows[0]] - not_owed;
  const auto& iso = charts["paper-isolated"];
  ASSERT_EQ(iso["series"][0]["label"], "ground truth (VM alone)");
  bool found = false;
  for (std::size_t i = 0; i < iso["x"].size(); ++i)
    if (std::abs(iso["x"][i].get<double>() - vm0) < 1e-9 && iso["series"][0]["y"][i].is_number() &&
        std::abs(iso["series"][0]["y"][i].get<double>() - w0) < 1e-3)
      found = true;
  EXPECT_TRUE(found) << "ground truth point (" << vm0 << ", " << w0 << ")";
  // Box plots: ordered statistics, every ground-truth window in one box.
  std::size_t in_boxes = 0;
  for (const auto& b : charts["paper-boxes"]["boxes"]) {
    EXPECT_LE(b["lo"].get<double>(), b["q1"].get<double>());
    EXPECT_LE(b["q1"].get<double>(), b["med"].get<double>());
    EXPECT_LE(b["med"].get<double>(), b["q3"].get<double>());
    EXPECT_LE(b["q3"].get<double>(), b["hi"].get<double>());
    in_boxes += b["n"].get<std::size_t>();
  }
  EXPECT_EQ(in_boxes, gt_rows.size());
  // exclude_beyond: the windows, the model's curve, and the fit without.
  const auto& ex = charts["paper-exclude"]["series"];
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[1]["label"].get<std::string>().rfind("with exclude_beyond = 150.00 %", 0), 0u);
  EXPECT_EQ(ex[2]["label"].get<std::string>().rfind("without", 0), 0u);
  bool poly = false;
  for (const auto& s : charts["paper-ratio"]["series"])
    poly = poly || s["label"].get<std::string>().starts_with("polynomial, degree");
  EXPECT_TRUE(poly);
}

TEST(WriteReport, PapersFiguresWithoutModelFilesSayWhatTheyNeed) {
  TempDir dir;
  FixtureOptions o;
  o.analysis = false;
  o.traces = false;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), o), "");
  auto r = write_report(dir.path(), dir.path() / "report.html");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  auto data = script_json(slurp(dir.path() / "report.html"), "cinergy-data");
  std::map<std::string, nlohmann::json> charts;
  for (const auto& c : data["xy"]) charts[c["id"].get<std::string>()] = c;
  EXPECT_EQ(charts["paper-isolated"]["placeholder"], true);
  EXPECT_NE(charts["paper-isolated"]["note"].get<std::string>().find("paper model"),
            std::string::npos);
  EXPECT_EQ(charts["paper-tdbu-low"]["placeholder"], true);
  // Step 50 is fitted here without a model file: the fit without the limit.
  EXPECT_FALSE(charts["paper-exclude"].contains("placeholder"));
  EXPECT_EQ(charts["paper-exclude"]["series"].size(), 2u);
}

TEST(WriteReport, MissingTracesStillWritesAndSaysSo) {
  TempDir dir;
  FixtureOptions o;
  o.traces = false;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), o), "");
  auto r = write_report(dir.path(), dir.path() / "report.html");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  EXPECT_TRUE(contains(r->missing, "trace-cloudlike.csv.xz"));
  EXPECT_TRUE(contains(r->missing, "trace-training-25.csv.xz"));
  const std::string html = slurp(dir.path() / "report.html");
  EXPECT_NE(html.find("Missing from this directory"), std::string::npos);
  EXPECT_NE(html.find("<li>trace-groundtruth.csv.xz</li>"), std::string::npos);
  // Time series fall back to the original CSV's 2 s windows.
  auto data = script_json(html, "cinergy-data");
  ASSERT_EQ(data["traces"].size(), 5u);
  EXPECT_TRUE(data["traces"][0].value("from_csv", false));
}

TEST(WriteReport, MissingEvaluationStillWritesAndSaysSo) {
  TempDir dir;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), FixtureOptions{}), "");
  fs::remove(dir.path() / "evaluation.json");
  fs::remove(dir.path() / "evaluation-paper.json");
  auto r = write_report(dir.path(), dir.path() / "report.html");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  EXPECT_EQ(r->missing, (std::vector<std::string>{"evaluation.json", "evaluation-paper.json"}));
  const std::string html = slurp(dir.path() / "report.html");
  EXPECT_NE(html.find("<li>evaluation.json</li>"), std::string::npos);
  EXPECT_NE(html.find("No evaluation.json"), std::string::npos);
  EXPECT_EQ(html.find("<table class=grid id=metrics>"), std::string::npos);
}

TEST(WriteReport, EmptyDirectoryListsEverything) {
  TempDir dir;
  auto r = write_report(dir.path(), dir.path() / "report.html");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  EXPECT_TRUE(contains(r->missing, "manifest.json"));
  EXPECT_TRUE(contains(r->missing, "model.json"));
  EXPECT_TRUE(contains(r->missing, "<host>-groundtruth.csv"));
  EXPECT_TRUE(fs::file_size(dir.path() / "report.html") > 0);
}

TEST(WriteReport, BrokenFilesAreNamedNotFatal) {
  TempDir dir;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), FixtureOptions{}), "");
  dir.write("model.json", "{ not json");
  dir.write("trace-training-50.csv.xz", "this is not xz");
  auto r = write_report(dir.path(), dir.path() / "report.html");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  const std::string html = slurp(dir.path() / "report.html");
  EXPECT_NE(html.find("unreadable: model.json"), std::string::npos);
  EXPECT_NE(html.find("unreadable: trace-training-50.csv.xz"), std::string::npos);
  EXPECT_NE(html.find("not xz data"), std::string::npos);
}

// An original-format file the model library's reader refuses is unreadable,
// with that reader's one-line error (not skipped lines, not "missing").
TEST(WriteReport, MalformedOriginalCsvIsUnreadableWithTheModelReadersError) {
  TempDir dir;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), FixtureOptions{}), "");
  dir.write("fixture-host-groundtruth.csv", "timestamp,domain,measure\n2,vm,12.5\n4,vm,abc\n");
  auto r = write_report(dir.path(), dir.path() / "report.html");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  EXPECT_FALSE(contains(r->missing, "<host>-groundtruth.csv")) << "it exists";
  const std::string html = slurp(dir.path() / "report.html");
  const std::string line = "<li class=warn>unreadable: fixture-host-groundtruth.csv: " +
                           (dir.path() / "fixture-host-groundtruth.csv").string() +
                           ":3: non-numeric measure 'abc' for domain 'vm'</li>";
  EXPECT_NE(html.find(line), std::string::npos) << line;
}

// A run directory of an older version: gzip traces. They are read as before.
TEST(WriteReport, GzipTracesOfOlderRunsStillRead) {
  TempDir dir;
  FixtureOptions o;
  o.trace_suffix = ".csv.gz";
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), o), "");
  ASSERT_TRUE(fs::exists(dir.path() / "trace-cloudlike.csv.gz"));
  auto r = write_report(dir.path(), dir.path() / "report.html");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  EXPECT_TRUE(r->missing.empty()) << r->missing.front();
  const std::string html = slurp(dir.path() / "report.html");
  auto data = script_json(html, "cinergy-data");
  ASSERT_EQ(data["traces"].size(), 5u);
  for (const auto& tr : data["traces"]) EXPECT_FALSE(tr.value("from_csv", false)) << tr["phase"];
  EXPECT_NE(html.find("trace-groundtruth.csv.gz"), std::string::npos);
}

TEST(WriteReport, TruncatedTraceKeepsItsRowsAndSaysSo) {
  TempDir dir;
  FixtureOptions o;
  o.truncate_cloudlike = true;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), o), "");
  auto r = write_report(dir.path(), dir.path() / "report.html");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  const std::string html = slurp(dir.path() / "report.html");
  EXPECT_NE(html.find("truncated:"), std::string::npos);
  EXPECT_NE(html.find("cut short at byte"), std::string::npos);
  EXPECT_NE(html.find("xz stream"), std::string::npos);
}

TEST(WriteReport, NotADirectoryIsAnError) {
  TempDir dir;
  auto r = write_report(dir.path() / "nope", dir.path() / "report.html");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().what().find("nope"), std::string::npos);
  EXPECT_EQ(r.error().what().find('\n'), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() / "report.html"));
}

// Writes a trace with constant power and CPU, in two flushes (xz streams or
// gzip members, as the name says) by the sampler's trace writer.
void write_constant_trace(const fs::path& p, int rows, double watts, double vm_cpus) {
  auto w = cinergy::sampler::TraceWriter::open(
      p, {"t_ns", "simulated", "package-0_energy_uj", "cpu_ns:vm"});
  ASSERT_TRUE(w) << w.error().what();
  for (int i = 0; i < rows; ++i) {
    const long long t = i * 1'000'000LL;  // 1 kHz
    const std::uint64_t v[] = {static_cast<std::uint64_t>(watts * t / 1000.0),
                               static_cast<std::uint64_t>(vm_cpus * t)};
    w->add_row(t, false, v);
    if (i == rows / 2 - 1) {
      ASSERT_TRUE(w->flush());
    }
  }
  ASSERT_TRUE(w->close());
}

class PowerDerived : public ::testing::TestWithParam<const char*> {};

TEST_P(PowerDerived, FromCumulativeEnergy) {
  TempDir dir;
  write_constant_trace(dir.path() / (std::string("trace-groundtruth") + GetParam()), 3000, 37.5,
                       1.25);
  auto r = write_report(dir.path(), dir.path() / "report.html");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  const std::string html = slurp(dir.path() / "report.html");
  auto data = script_json(html, "cinergy-data");
  ASSERT_EQ(data["traces"].size(), 1u);
  const auto& tr = data["traces"][0];
  EXPECT_FALSE(tr["simulated"].get<bool>());
  EXPECT_EQ(html.find("id=sim-banner"), std::string::npos) << "no banner for measured power";
  auto levels = script_json(html, "cinergy-levels-0");
  ASSERT_FALSE(levels.empty());
  const auto& finest = levels.back();
  EXPECT_TRUE(finest["raw"].get<bool>()) << "3000 rows fit the budget at full resolution";
  auto w = decode(finest["y"][0], tr["series"][0]["q"]);
  auto cpu = decode(finest["y"][1], tr["series"][1]["q"]);
  ASSERT_EQ(w.size(), 3000u);
  // Power is the rate over at least 10 ms (10 rows at 1 kHz): none before.
  for (std::size_t i = 0; i < 10; ++i) EXPECT_TRUE(std::isnan(w[i])) << "no power yet at " << i;
  EXPECT_TRUE(std::isnan(cpu[0])) << "no CPU rate at the first sample";
  for (std::size_t i = 1; i < w.size(); ++i) {
    if (i >= 10) {
      ASSERT_NEAR(w[i], 37.5, 0.011) << i;
    }
    ASSERT_NEAR(cpu[i], 1.25, 0.0011) << i;
  }
  // The overview has <= 4000 buckets and the same values.
  auto ov = decode(levels[0]["y"][0], tr["series"][0]["q"]);
  EXPECT_LE(ov.size(), 8000u);
}

INSTANTIATE_TEST_SUITE_P(WriteReport, PowerDerived, ::testing::Values(".csv.xz", ".csv.gz"),
                         [](const auto& info) {
                           return std::string(info.param) == ".csv.xz" ? "Xz" : "Gzip";
                         });

TEST(BuildTrace, LevelsRespectTheBudget) {
  TempDir dir;
  const fs::path p = dir.path() / "trace-cloudlike.csv.xz";
  write_constant_trace(p, 60'000, 20, 0.5);
  for (std::size_t budget : {1'000u, 50'000u, 200'000u, 10'000'000u}) {
    cinergy::report::detail::TraceInput in;
    in.phase = "cloudlike";
    in.trace = p;
    in.budget_values = budget;
    in.overview_buckets = 1000;
    auto out = cinergy::report::detail::build_trace(in);
    ASSERT_TRUE(out.has_value()) << out.error().what();
    auto levels = nlohmann::json::parse(out->levels_js);
    ASSERT_FALSE(levels.empty());
    EXPECT_FALSE(levels[0]["raw"].get<bool>());
    EXPECT_LE(levels[0]["x"].size(), 2000u) << "overview bounded by its bucket count";
    if (levels.size() > 1) {
      EXPECT_LE(out->values, budget) << "budget " << budget;
    }
    // Levels get finer.
    for (std::size_t i = 1; i < levels.size(); ++i)
      EXPECT_GT(levels[i]["x"].size(), levels[i - 1]["x"].size());
    const bool full = levels.back()["raw"].get<bool>();
    // 2 series + x: overview 2000 points, raw 60000 rows.
    EXPECT_EQ(full, (2000 + 60'000) * 3 <= budget)
        << "full resolution iff it fits, budget " << budget;
    EXPECT_EQ(out->health["rows"], 60'000);
    EXPECT_NEAR(out->health["rate_reached_hz"].get<double>(), 1000.0, 0.1);
  }
}

// ---- one reading with the sidecar's figures, two without: the same output ----

// The fixture's cloud-like trace (energy, VM and noise CPU, busy CPUs) with an
// overlay and target-load markers, so every kind of series is built.
cinergy::report::detail::TraceInput cloudlike_input(const fs::path& dir) {
  cinergy::report::detail::TraceInput in;
  in.phase = "cloudlike";
  in.trace = dir / "trace-cloudlike.csv.xz";
  in.meta = nlohmann::json::parse(slurp(dir / "trace-cloudlike.csv.xz.meta.json"));
  in.markers = {{0.0, "level 0", 0.0}, {7.5, "level 1", 25.0}, {15.0, "level 2", 50.0}};
  in.overlays = {{"estimate W", {{4.0, 30.0}, {6.0, 31.5}, {8.0, 29.0}}, 2.0}};
  in.host_threads = 4;
  in.overview_buckets = 100;
  return in;
}

FixtureOptions small_fixture() {
  FixtureOptions o;
  o.rate_hz = 200;  // the cloud-like trace: 48 s, 9601 rows
  o.analysis = false;
  return o;
}

// Budgets giving: the overview alone; envelopes without the raw rows; the raw
// rows and every envelope. 12 numbers a point: x, then 11 series (3 energy,
// the overlay, 5 CPU, host busy, target load).
const std::size_t kBudgets[] = {0, 60'000, 10'000'000};

void expect_same_output(const cinergy::report::detail::TraceOutput& a,
                        const cinergy::report::detail::TraceOutput& b, const std::string& what) {
  EXPECT_EQ(a.levels_js, b.levels_js) << what;
  EXPECT_EQ(a.chart, b.chart) << what;
  EXPECT_EQ(a.values, b.values) << what;
  nlohmann::json ha = a.health, hb = b.health;  // "meta" is the input's, which differs
  ha.erase("meta");
  hb.erase("meta");
  EXPECT_EQ(ha, hb) << what;
}

// in with the sidecar's "trace" figures removed, as an older run's sidecar.
cinergy::report::detail::TraceOutput build_without_figures(cinergy::report::detail::TraceInput in) {
  in.meta->erase("trace");
  auto out = cinergy::report::detail::build_trace(in);
  EXPECT_TRUE(out.has_value()) << out.error().what();
  EXPECT_EQ(out->passes, 2);
  return std::move(*out);
}

TEST(BuildTrace, OneReadingWithTheSidecarsFiguresGivesTheTwoPassOutput) {
  TempDir dir;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), small_fixture()), "");
  auto in = cloudlike_input(dir.path());
  ASSERT_TRUE(in.meta->contains("trace"));
  EXPECT_EQ((*in.meta)["trace"]["rows"], 9601) << "the writer's figures reach the sidecar";
  std::set<std::size_t> level_counts;
  for (std::size_t budget : kBudgets) {
    in.budget_values = budget;
    auto once = cinergy::report::detail::build_trace(in);
    ASSERT_TRUE(once.has_value()) << once.error().what();
    EXPECT_EQ(once->passes, 1) << "budget " << budget;
    const auto twice = build_without_figures(in);
    expect_same_output(*once, twice, "budget " + std::to_string(budget));
    EXPECT_EQ(once->health["rows"], 9601);
    EXPECT_FALSE(once->health["truncated"].get<bool>());
    const auto levels = nlohmann::json::parse(once->levels_js);
    level_counts.insert(levels.size());
    // Not a comparison of two empty outputs: every series has numbers.
    EXPECT_EQ(levels[0]["y"].size(), 11u) << "series";
    for (const auto& y : levels[0]["y"]) EXPECT_GT(y.size(), 100u);
  }
  EXPECT_EQ(level_counts.size(), std::size(kBudgets)) << "each budget gives another plan";
}

TEST(BuildTrace, WrongSidecarFiguresFallBackToTwoPassesWithTheSameOutput) {
  TempDir dir;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), small_fixture()), "");
  const auto in = cloudlike_input(dir.path());
  const nlohmann::json right = (*in.meta)["trace"];
  const std::uint64_t rows = right["rows"];
  const std::int64_t t_first = right["t_first_ns"], t_last = right["t_last_ns"];
  const std::vector<std::pair<const char*, nlohmann::json>> wrong = {
      {"one row more", {{"rows", rows + 1}, {"t_first_ns", t_first}, {"t_last_ns", t_last}}},
      {"one row less", {{"rows", rows - 1}, {"t_first_ns", t_first}, {"t_last_ns", t_last}}},
      {"half the rows: raw level sized too small",
       {{"rows", rows / 2}, {"t_first_ns", t_first}, {"t_last_ns", t_last}}},
      {"a thousand times the rows",
       {{"rows", rows * 1000}, {"t_first_ns", t_first}, {"t_last_ns", t_last}}},
      {"no rows", {{"rows", 0}, {"t_first_ns", t_first}, {"t_last_ns", t_last}}},
      {"first t_ns off by 1 ns",
       {{"rows", rows}, {"t_first_ns", t_first + 1}, {"t_last_ns", t_last}}},
      {"last t_ns off by 1 ns",
       {{"rows", rows}, {"t_first_ns", t_first}, {"t_last_ns", t_last - 1}}},
      {"span twice as long", {{"rows", rows}, {"t_first_ns", t_first}, {"t_last_ns", 2 * t_last}}},
  };
  for (std::size_t budget : kBudgets) {
    auto base = in;
    base.budget_values = budget;
    const auto twice = build_without_figures(base);
    for (const auto& [what, figures] : wrong) {
      auto edited = base;
      (*edited.meta)["trace"] = figures;
      auto out = cinergy::report::detail::build_trace(edited);
      ASSERT_TRUE(out.has_value()) << out.error().what();
      EXPECT_EQ(out->passes, 2) << what;
      expect_same_output(*out, twice, std::string(what) + ", budget " + std::to_string(budget));
    }
  }
}

// The sidecar's figures were taken when the writer closed the trace; the file
// was cut afterwards (the fixture's truncated trace): they claim too many rows.
TEST(BuildTrace, TraceCutAfterItsSidecarFallsBackToTwoPasses) {
  TempDir dir;
  auto o = small_fixture();
  o.truncate_cloudlike = true;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), o), "");
  auto in = cloudlike_input(dir.path());
  in.budget_values = kBudgets[2];
  auto out = cinergy::report::detail::build_trace(in);
  ASSERT_TRUE(out.has_value()) << out.error().what();
  EXPECT_EQ(out->passes, 2);
  EXPECT_TRUE(out->health["truncated"].get<bool>());
  EXPECT_LT(out->health["rows"].get<std::uint64_t>(),
            (*in.meta)["trace"]["rows"].get<std::uint64_t>());
  expect_same_output(*out, build_without_figures(in), "truncated");
}

// A killed run keeps the sidecar written at start: "trace": null (as are
// malformed figures). Two passes, the same output as without the key.
TEST(BuildTrace, KilledRunSidecarWithoutFiguresReadsTwice) {
  TempDir dir;
  ASSERT_EQ(cinergy::test::write_fixture(dir.path(), small_fixture()), "");
  auto in = cloudlike_input(dir.path());
  in.budget_values = kBudgets[2];
  const auto without = build_without_figures(in);
  const nlohmann::json rows = (*in.meta)["trace"]["rows"];
  for (const nlohmann::json& figures :
       {nlohmann::json(nullptr), nlohmann::json{{"rows", rows}},
        nlohmann::json{{"rows", -1}, {"t_first_ns", 0}, {"t_last_ns", 1}},
        nlohmann::json{{"rows", "9601"}, {"t_first_ns", 0}, {"t_last_ns", 1}}}) {
    auto killed = in;
    (*killed.meta)["trace"] = figures;
    auto out = cinergy::report::detail::build_trace(killed);
    ASSERT_TRUE(out.has_value()) << out.error().what();
    EXPECT_EQ(out->passes, 2) << figures;
    expect_same_output(*out, without, figures.dump());
  }
}

TEST(PlanLevels, Table) {
  using cinergy::report::detail::plan_levels;
  struct Case {
    const char* name;
    std::uint64_t rows;
    std::size_t budget;
    std::vector<std::pair<std::size_t, bool>> want;  // (buckets or rows, raw)
  };
  const std::vector<Case> cases = {
      {"no rows", 0, 1000, {}},
      {"short trace: raw only", 5000, 0, {{5000, true}}},
      {"overview only when nothing fits", 1'000'000, 0, {{4000, false}}},
      {"raw first, then what fits between",
       1'000'000,
       2 * (8000 + 1'000'000 + 32000),
       {{4000, false}, {16000, false}, {1'000'000, true}}},
      {"raw does not fit: envelopes only",
       1'000'000,
       2 * (8000 + 32000 + 128000),
       {{4000, false}, {16000, false}, {64000, false}}},
      {"everything", 100'000, 100'000'000, {{4000, false}, {16000, false}, {100'000, true}}},
  };
  for (const auto& c : cases) {
    auto got = plan_levels(c.rows, 2, 4000, c.budget);
    ASSERT_EQ(got.size(), c.want.size()) << c.name;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].buckets, c.want[i].first) << c.name << " level " << i;
      EXPECT_EQ(got[i].raw, c.want[i].second) << c.name << " level " << i;
    }
  }
}

// ---- CLI ----

TEST(ReportCli, BadPathIsOneLineAndNonZero) {
  TempDir dir;
  auto r = run_cli(
      "report " + (dir.path() / "no-such-run").string() + " -o " + (dir.path() / "x.html").string(),
      dir);
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err.rfind("cinergy: report: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("no-such-run does not exist"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(dir.path() / "x.html"));

  dir.write("afile", "x");
  r = run_cli("report " + (dir.path() / "afile").string(), dir);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("is not a directory"), std::string::npos) << r.err;

  r = run_cli("report", dir);
  EXPECT_NE(r.code, 0) << "PATH is required";
}

TEST(ReportCli, WritesIntoTheRunDirectoryByDefault) {
  TempDir dir;
  const fs::path run = dir.path() / "run";
  ASSERT_EQ(cinergy::test::write_fixture(run, FixtureOptions{}), "");
  auto r = run_cli("report " + run.string(), dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(run / "report.html"));
  EXPECT_NE(r.out.find("report: " + (run / "report.html").string()), std::string::npos) << r.out;
}

}  // namespace
