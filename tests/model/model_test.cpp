// Host model, estimate and evaluation: the paper's method on a hand-made
// dataset, the Cinergy method's interpolation, JSON, errors, and accuracy
// against the generator's truth.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "accuracy.hpp"
#include "cinergy/model/analyze.hpp"
#include "cinergy/model/estimate.hpp"
#include "cinergy/model/host_model.hpp"
#include "temp_dir.hpp"

namespace cinergy::model {
namespace {

using ::testing::HasSubstr;

// Long-format writer for hand-made files.
struct Csv {
  std::ostringstream s{"timestamp,domain,measure\n", std::ios::ate};
  Csv& add(int ts, const std::string& d, double v) {
    s << ts << ',' << d << ',' << v << '\n';
    return *this;
  }
  std::string str() const { return s.str(); }
};

// Paper dataset: 8 host threads, a 2-vCPU VM: exclude_beyond = 2*100/8*3 = 75 %.
// Step 50 is exactly P = 30 + 0.5 x below 75 %, and 500 W beyond (must be excluded).
void write_paper_dataset(const test::TempDir& dir) {
  Csv t50;
  int ts = 2;
  t50.add(ts, "target", 0).add(ts, "cpu%_package-global", 0).add(ts, "freq_package-0", 2e6);
  ts += 2;  // the first window has no RAPL rows
  for (int k = 0; k <= 16; ++k, ts += 2) {
    const double x = k * 6.25;
    t50.add(ts, "target", x).add(ts, "cpu%_package-global", x).add(ts, "freq_package-0", 2e6);
    t50.add(ts, "package-global-watt", x <= 75 ? 30 + 0.5 * x : 500);
  }
  // A window missing freq: dropped by the paper's dropna() (its power is absurd).
  t50.add(ts, "target", 50).add(ts, "cpu%_package-global", 50).add(ts, "package-global-watt", 999);
  dir.write("h-training-50.csv", t50.str());

  Csv gt;
  const double gt_rows[][2] = {{8.0, 30.6}, {16.0, 31.2}, {40.0, 33.0}};
  ts = 2;
  for (const auto& r : gt_rows) {
    gt.add(ts, "vm", r[0]).add(ts, "CPU0", r[0] / 2).add(ts, "CPU1", r[0] / 2);
    gt.add(ts, "package-global-watt", r[1]);
    ts += 2;
  }
  dir.write("h-groundtruth.csv", gt.str());

  Csv cl;
  const double cl_vm[] = {8.004, 16.0, 24.0, 40.0};
  ts = 2;
  for (double vm : cl_vm) {
    cl.add(ts, "target", 10).add(ts, "vm", vm).add(ts, "CPU0", vm / 2).add(ts, "CPU1", vm / 2);
    cl.add(ts, "package-global-watt", 80).add(ts, "cpu%_package-global", 40);
    ts += 2;
  }
  // Missing target: dropped by the paper's dropna().
  cl.add(ts, "vm", 8.0).add(ts, "CPU0", 4).add(ts, "CPU1", 4).add(ts, "package-global-watt", 80);
  cl.add(ts, "cpu%_package-global", 40);
  dir.write("h-cloudlike.csv", cl.str());
}

TEST(PaperMethod, ReproducesTheNotebookOnAHandMadeDataset) {
  test::TempDir dir;
  write_paper_dataset(dir);
  auto data = load_dataset(dir.path());
  ASSERT_TRUE(data) << data.error().message;
  auto model = fit_model(*data, {Method::paper, 8, std::nullopt});
  ASSERT_TRUE(model) << model.error().message;
  EXPECT_EQ(model->vm_vcpus, 2);
  EXPECT_DOUBLE_EQ(model->fit_hi_pct, 75.0);
  ASSERT_EQ(model->curves.size(), 1u);
  EXPECT_EQ(model->curves[0].step_pct, 50);
  EXPECT_EQ(model->curves[0].fit.n, 13u);  // x = 0 .. 75: 13 levels, the 999 W row dropped
  EXPECT_EQ(model->curves[0].fit.poly.form, Polynomial::Form::sklearn_f32);
  // The line, up to float32 (the intensity is ignored).
  for (double x : {0.0, 1.0, 12.5, 60.0}) EXPECT_NEAR(model->power_w(x, 100.0), 30 + 0.5 * x, 1e-4);

  auto rows = estimate(*model, *data->cloudlike);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 4u);  // the row without target is dropped
  const auto& r0 = (*rows)[0];
  // float32 throughout: vm / 8, then the curve, then share / cpu% * watt.
  const float share = 8.004f / 8.0f;
  EXPECT_EQ(r0.share_pct, static_cast<double>(share));
  EXPECT_TRUE(r0.share_f32 && r0.isolated_f32);
  EXPECT_NEAR(r0.isolated_w, 30 + 0.5 * 8.004 / 8, 1e-4);
  EXPECT_EQ(r0.isolated_w, static_cast<double>(static_cast<float>(r0.isolated_w)));
  EXPECT_EQ(r0.bottomup_w, static_cast<double>(share / 40.0f * 80.0f));
  EXPECT_EQ(r0.ratio, static_cast<double>(static_cast<float>(r0.bottomup_w) /
                                          static_cast<float>(r0.isolated_w)));

  auto e = evaluate(*model, *rows, *data->groundtruth);
  ASSERT_TRUE(e) << e.error().message;
  // The notebook's matching: 8.004 -> 8 (0.0005 points below), 16 -> 16,
  // 40 -> 40, and 24 -> 16: the nearest (1 point below; 40 is 2 above) is
  // accepted, however far below it lies.
  const double pred[] = {30 + 0.5 * 8.004 / 8, 31.0, 31.5, 32.5};
  const double truth[] = {30.6, 31.2, 31.2, 33.0};
  double ss = 0, sa = 0, ape = 0, mean = 0, tot = 0;
  for (double t : truth) mean += t / 4;
  for (int i = 0; i < 4; ++i) {
    ss += (pred[i] - truth[i]) * (pred[i] - truth[i]);
    sa += std::abs(pred[i] - truth[i]);
    ape += std::abs(pred[i] - truth[i]) / truth[i];
    tot += (truth[i] - mean) * (truth[i] - mean);
  }
  EXPECT_EQ((*e)["method"], "paper");
  EXPECT_EQ((*e)["arithmetic"], "float32");
  EXPECT_EQ((*e)["n"], 4);
  EXPECT_NEAR((*e)["rmse_w"].get<double>(), std::sqrt(ss / 4), 1e-4);
  EXPECT_NEAR((*e)["mae_w"].get<double>(), sa / 4, 1e-4);
  EXPECT_NEAR((*e)["mape_pct"].get<double>(), 100 * ape / 4, 1e-3);
  EXPECT_NEAR((*e)["r2"].get<double>(), 1 - ss / tot, 1e-3);
  EXPECT_FALSE((*e)["binned"].empty());
  EXPECT_EQ(e->dump().find("NaN"), std::string::npos);
}

TEST(PaperMethod, FitsEveryStepAndDropsAWindowWithoutItsPhase) {
  test::TempDir dir;
  write_paper_dataset(dir);
  // A step-25 staircase (P = 35 + 0.6 x) with one window lacking its phase
  // row: pandas' dropna() drops that window (its absurd 900 W with it).
  Csv t25;
  for (int k = 0; k <= 12; ++k) {
    const int ts = 2 + 2 * k;
    const double x = k * 6.25;
    if (k != 5) t25.add(ts, "phase", 0);  // numeric here; text works the same
    t25.add(ts, "target", x).add(ts, "cpu%_package-global", x);
    t25.add(ts, "package-global-watt", k == 5 ? 900 : 35 + 0.6 * x);
  }
  dir.write("h-training-25.csv", t25.str());
  auto data = load_dataset(dir.path());
  ASSERT_TRUE(data) << data.error().message;
  auto model = fit_model(*data, {Method::paper, 8, std::nullopt});
  ASSERT_TRUE(model) << model.error().message;
  ASSERT_EQ(model->curves.size(), 2u);
  const StepCurve* c25 = model->curve(25);
  ASSERT_NE(c25, nullptr);
  EXPECT_EQ(c25->fit.n, 12u);  // 13 windows <= 75 %, one without its phase
  EXPECT_NEAR(c25->power_w(30, false), 35 + 0.6 * 30, 1e-3);
  // The estimate keeps using step 50, whatever the intensity.
  EXPECT_NEAR(model->power_w(30, 25), 30 + 0.5 * 30, 1e-4);
  // The model file holds both, and reads back to the same numbers.
  auto back = model_from_json(to_json(*model), "m.json");
  ASSERT_TRUE(back) << back.error().message;
  for (double x : {0.0, 10.0, 70.0})
    for (int step : {25, 50})
      EXPECT_EQ(back->curve(step)->power_w(x, false), model->curve(step)->power_w(x, false));
}

TEST(PaperMethod, NeedsTheStep50Curve) {
  test::TempDir dir;
  dir.write("h-training-25.csv", "timestamp,domain,measure\n2,vm,1\n");
  auto data = load_dataset(dir.path());
  ASSERT_TRUE(data);
  auto m = fit_model(*data, {Method::paper, 8, 4});
  ASSERT_FALSE(m);
  EXPECT_THAT(m.error().message, HasSubstr("h-training-50.csv: the paper method needs"));
}

TEST(FitModel, Errors) {
  test::TempDir dir;
  write_paper_dataset(dir);
  auto data = load_dataset(dir.path());
  ASSERT_TRUE(data);
  auto a = fit_model(*data, {Method::cinergy, std::nullopt, std::nullopt});
  ASSERT_FALSE(a);
  EXPECT_THAT(a.error().message, HasSubstr("--host-threads"));
  EXPECT_FALSE(fit_model(*data, {Method::cinergy, 8, 0}));
  // A 1000-thread host: the VM region (<= 0.4 %) holds only the idle
  // level; still fitted (the notebook fits it too), and the note says how.
  auto c = fit_model(*data, {Method::cinergy, 1000, 2});
  ASSERT_TRUE(c) << c.error().message;
  bool said = false;
  for (const auto& n : c->notes) said = said || n.find("too few to choose a degree") != n.npos;
  EXPECT_TRUE(said) << nlohmann::json(c->notes).dump();
  EXPECT_FALSE(parse_method("best"));
  EXPECT_THAT(parse_method("best").error().message, HasSubstr("unknown method 'best'"));

  test::TempDir nan_dir;
  nan_dir.write("h-training-50.csv",
                "timestamp,domain,measure\n2,cpu%_package-global,1\n4,package-global-watt,3\n");
  auto nd = load_dataset(nan_dir.path());
  ASSERT_TRUE(nd);
  auto d = fit_model(*nd, {Method::cinergy, 8, 2});
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message, HasSubstr("no usable rows after dropping NaN"));
}

// A training file whose `target` never changes while the load varies (a
// trace of another tool, production data): both methods fit it, the Cinergy
// method with folds from bins of load, said in the model's notes, and its
// curve follows the true one.
TEST(FitModel, ConstantTargetTrainingFileFitsWithBothMethods) {
  test::TempDir dir;
  Csv t50;
  const auto truth = [](double x) { return 55 + 1.9 * x - 0.006 * x * x; };
  unsigned state = 12345;
  const auto uniform = [&state] {  // a fixed LCG: the same file on every machine
    state = state * 1103515245u + 12345u;
    return static_cast<double>((state >> 8) % 100000) / 100000.0;
  };
  for (int ts = 2; ts <= 1200; ts += 2) {
    const double x = std::round(100 * uniform() * 100) / 100;
    t50.add(ts, "target", 50).add(ts, "cpu%_package-global", x);
    t50.add(ts, "package-global-watt", std::round((truth(x) + 2 * (uniform() - 0.5)) * 100) / 100);
  }
  dir.write("h-training-50.csv", t50.str());
  auto data = load_dataset(dir.path());
  ASSERT_TRUE(data) << data.error().message;
  auto paper = fit_model(*data, {Method::paper, 8, 8});
  ASSERT_TRUE(paper) << paper.error().message;
  auto mine = fit_model(*data, {Method::cinergy, 8, 8});
  ASSERT_TRUE(mine) << mine.error().message;
  bool said = false;
  for (const auto& n : mine->notes) said = said || n.find("folds from 10 bins of load") != n.npos;
  EXPECT_TRUE(said) << nlohmann::json(mine->notes).dump();
  EXPECT_THAT(to_json(*mine)["curves"][0].value("folds_from", ""), HasSubstr("give 1 group(s)"));
  for (double x : {5.0, 30.0, 60.0, 95.0}) EXPECT_NEAR(mine->power_w(x, 50), truth(x), 0.6) << x;
}

HostModel two_curve_model() {
  HostModel m;
  m.host_threads = 10;
  m.vm_vcpus = 2;
  StepCurve a, b;
  a.step_pct = 25;
  a.fit.poly = Polynomial{{10.0, 1.0}, 0.0, 1.0};  // 10 + x
  a.fit.x_lo = 0;
  a.fit.x_hi = 50;
  b = a;
  b.step_pct = 100;
  b.fit.poly = Polynomial{{10.0, 0.5}, 0.0, 1.0};  // 10 + 0.5 x
  m.curves = {a, b};
  return m;
}

TEST(CinergyMethod, InterpolatesBetweenStepCurvesByIntensity) {
  const auto m = two_curve_model();
  EXPECT_DOUBLE_EQ(m.power_w(20, 25), 30);
  EXPECT_DOUBLE_EQ(m.power_w(20, 10), 30);  // clamped to the lowest step
  EXPECT_DOUBLE_EQ(m.power_w(20, 100), 20);
  EXPECT_DOUBLE_EQ(m.power_w(20, 62.5), 25);  // half way
  EXPECT_DOUBLE_EQ(m.power_w(20, NAN), m.power_w(20, 50));
  // Beyond the fitted range: linear with the edge slope.
  EXPECT_DOUBLE_EQ(m.power_w(60, 25), 70);
  EXPECT_DOUBLE_EQ(m.idle_w(62.5), 10);
}

// The host's own work (daemons, the sampler) loads it at 2 % in every
// scenario: A's points lie at target + 2, and the VM alone has that work
// beside it, so its isolated power is the curve at share + 2, its dynamic
// part against the curve at 2. Without an idle level nothing is assumed.
// A staircase of step 50 on two sockets: power = 30 + slope x host load.
std::string two_socket_staircase(double slope, bool pinned) {
  Csv t;
  int ts = 2;
  for (int k = 0; k <= 16; ++k)
    for (int w = 0; w < 2; ++w, ts += 2) {
      const double x = k * 6.25;
      // Pinned: socket 0 fills first; unpinned: both sockets alike.
      const double s0 = pinned ? std::min(100.0, 2 * x) : x;
      t.add(ts, "target", x).add(ts, "cpu%_package-global", x);
      t.add(ts, "cpu%_package-0", s0).add(ts, "cpu%_package-1", 2 * x - s0);
      t.add(ts, "package-global-watt", 30 + slope * x);
    }
  return t.str();
}

TEST(CinergyMethod, TrainsOnTheUnpinnedStaircasesWhenTheDataHaveThem) {
  test::TempDir dir;
  dir.write("h-training-50.csv", two_socket_staircase(0.5, true));
  dir.write("h-training-unpinned-50.csv", two_socket_staircase(0.8, false));
  auto data = load_dataset(dir.path());
  ASSERT_TRUE(data) << data.error().message;
  ASSERT_EQ(data->training.size(), 1u);
  ASSERT_EQ(data->training_unpinned.size(), 1u) << "training-unpinned-50 is not step 50's pinned";

  auto m = fit_model(*data, {Method::cinergy, 8, 2});
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->training_placement, Placement::unpinned);
  EXPECT_EQ(m->transfer_scale(), 1.0);
  ASSERT_EQ(m->curves.size(), 1u);
  EXPECT_EQ(m->curves[0].source, "h-training-unpinned-50.csv");
  EXPECT_THAT(nlohmann::json(m->notes).dump(), HasSubstr("unpinned staircases"));
  EXPECT_NEAR(m->power_w(10, 50), 30 + 0.8 * 10, 1e-6) << "the unpinned staircase's curve";
  // The paper method keeps its protocol's pinned staircase.
  auto p = fit_model(*data, {Method::paper, 8, 2});
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->curves[0].source, "h-training-50.csv");
  EXPECT_NEAR(p->power_w(10, 50), 30 + 0.5 * 10, 1e-3);

  // The model file keeps it; files from before it read as pinned; others refused.
  auto j = to_json(*m);
  EXPECT_EQ(j["training_placement"], "unpinned");
  auto back = model_from_json(j, "m.json");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->training_placement, Placement::unpinned);
  j.erase("training_placement");
  auto old = model_from_json(j, "m.json");
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->training_placement, Placement::pinned);
  EXPECT_EQ(old->transfer_scale(), kPinnedTransferScale);
  j["training_placement"] = "sideways";
  EXPECT_THAT(model_from_json(j, "m.json").error().message, HasSubstr("training_placement"));

  // Without them: pinned across the data's two sockets, or one socket.
  std::filesystem::remove(dir.path() / "h-training-unpinned-50.csv");
  data = load_dataset(dir.path());
  ASSERT_TRUE(data) << data.error().message;
  m = fit_model(*data, {Method::cinergy, 8, 2});
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->training_placement, Placement::pinned);
  EXPECT_EQ(m->transfer_scale(), kPinnedTransferScale);
  EXPECT_THAT(nlohmann::json(m->notes).dump(), HasSubstr("show 2 sockets"));
  test::TempDir one;
  Csv t1;
  for (int k = 0, ts = 2; k <= 8; ++k, ts += 2)
    t1.add(ts, "target", k * 12.5)
        .add(ts, "cpu%_package-global", k * 12.5)
        .add(ts, "cpu%_package-0", k * 12.5)
        .add(ts, "package-global-watt", 30 + 0.5 * k * 12.5);
  one.write("h-training-50.csv", t1.str());
  data = load_dataset(one.path());
  ASSERT_TRUE(data) << data.error().message;
  m = fit_model(*data, {Method::cinergy, 8, 2});
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->training_placement, Placement::one_socket);
  EXPECT_EQ(m->transfer_scale(), 1.0);
}

TEST(CinergyMethod, TheVmAloneKeepsTheHostsBackgroundLoad) {
  test::TempDir dir;
  Csv t50;
  int ts = 2;
  for (double bg : {1.5, 2.5, 2.0, 9.0}) {  // idle level; one window caught a cron job
    t50.add(ts, "target", 0).add(ts, "cpu%_package-global", bg);
    t50.add(ts, "package-global-watt", 30 + 0.5 * bg);
    ts += 2;
  }
  for (int k = 1; k <= 16; ++k)
    for (int w = 0; w < 2; ++w, ts += 2) {
      const double x = k * 6.25 + 2;
      t50.add(ts, "target", k * 6.25).add(ts, "cpu%_package-global", x);
      t50.add(ts, "package-global-watt", 30 + 0.5 * x);
    }
  dir.write("h-training-50.csv", t50.str());
  Csv cl;
  cl.add(2, "target", 0).add(2, "vm", 16).add(2, "CPU0", 8).add(2, "CPU1", 8);
  cl.add(2, "package-global-watt", 32).add(2, "cpu%_package-global", 4);
  dir.write("h-cloudlike.csv", cl.str());
  auto data = load_dataset(dir.path());
  ASSERT_TRUE(data) << data.error().message;

  auto m = fit_model(*data, {Method::cinergy, 8, 2});
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_DOUBLE_EQ(m->background_pct, 2.25);  // median of 1.5, 2.0, 2.5, 9.0
  EXPECT_THAT(nlohmann::json(m->notes).dump(), HasSubstr("background load 2.250 %"));
  auto rows = estimate(*m, *data->cloudlike);
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_DOUBLE_EQ((*rows)[0].share_pct, 2.0);
  EXPECT_NEAR((*rows)[0].isolated_w, 30 + 0.5 * (2.0 + 2.25), 1e-6);
  EXPECT_NEAR((*rows)[0].dynamic_w, 0.5 * 2.0, 1e-6);
  EXPECT_LE((*rows)[0].isolated_low_w, (*rows)[0].isolated_w);
  EXPECT_GE((*rows)[0].isolated_high_w, (*rows)[0].isolated_w);

  // The model file keeps it; a file from before it estimates at the share.
  auto j = to_json(*m);
  auto back = model_from_json(j, "m.json");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_DOUBLE_EQ(back->background_pct, 2.25);
  j.erase("background_pct");
  auto old = model_from_json(j, "m.json");
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_DOUBLE_EQ(old->background_pct, 0.0);
  EXPECT_NEAR(old->isolated(2.0, 50).isolated_w, 30 + 0.5 * 2.0, 1e-6);
  j["background_pct"] = -1;
  EXPECT_THAT(model_from_json(j, "m.json").error().message, HasSubstr("background_pct"));

  // The paper method evaluates at the share, as the notebook.
  auto p = fit_model(*data, {Method::paper, 8, 2});
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_DOUBLE_EQ(p->background_pct, 0.0);

  // No idle level: no background, and the note says why.
  test::TempDir no_idle;
  Csv t50b;
  ts = 2;
  for (int k = 1; k <= 16; ++k, ts += 2) {
    t50b.add(ts, "target", k * 6.25).add(ts, "cpu%_package-global", k * 6.25);
    t50b.add(ts, "package-global-watt", 30 + 0.5 * k * 6.25);
  }
  no_idle.write("h-training-50.csv", t50b.str());
  auto d2 = load_dataset(no_idle.path());
  ASSERT_TRUE(d2) << d2.error().message;
  auto m2 = fit_model(*d2, {Method::cinergy, 8, 2});
  ASSERT_TRUE(m2) << m2.error().message;
  EXPECT_DOUBLE_EQ(m2->background_pct, 0.0);
  EXPECT_THAT(nlohmann::json(m2->notes).dump(), HasSubstr("no idle level"));
}

// Three staircases of 9 levels, 4 windows each, power f(load, step) plus
// a fixed pattern of +-0.2 W noise.
template <typename F>
void write_staircases(const test::TempDir& dir, F f) {
  for (int step : {25, 50, 100}) {
    Csv t;
    int ts = 2;
    for (int level = 0; level <= 8; ++level)
      for (int w = 0; w < 4; ++w, ts += 2) {
        const double x = level * 5.0;
        t.add(ts, "target", x).add(ts, "cpu%_package-global", x);
        t.add(ts, "package-global-watt", f(x, step) + ((w + level) % 2 == 0 ? 0.2 : -0.2));
      }
    dir.write("h-training-" + std::to_string(step) + ".csv", t.str());
  }
}

// Where the curve turns sharply (here at 20 % load: the last core of a
// socket busy, say), no polynomial of the levels follows it, and the level
// means, linear between them, win the cross-validation; a smooth curve keeps
// the polynomial. Both say so in the notes, and the choice survives the JSON.
TEST(CinergyMethod, LevelMeansReplaceThePolynomialWhereTheyPredictHeldOutLevelsBetter) {
  auto corner = [](double x, int step) {
    return 50 + (1 + step / 400.0) * (2 * std::min(x, 20.0) + 0.2 * std::max(0.0, x - 20));
  };
  test::TempDir dir;
  write_staircases(dir, corner);
  auto data = load_dataset(dir.path());
  ASSERT_TRUE(data) << data.error().message;
  auto m = fit_model(*data, {Method::cinergy, 40, 8});  // fit region: loads <= 40 %
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_TRUE(m->levels) << nlohmann::json(m->notes).dump();
  EXPECT_THAT(nlohmann::json(m->notes).dump(), HasSubstr("linear between the load levels' means"));
  EXPECT_LT(m->levels->cv_mse_w2, m->joint->cv_mse_w2);
  for (int step : {25, 100}) {
    ASSERT_EQ(m->curve(step)->knot_x_pct.size(), 9u);
    for (double x : {0.0, 2.5, 12.0, 20.0, 33.0, 40.0})
      EXPECT_NEAR(m->power_w(x, step), corner(x, step), 1e-9) << x << " " << step;
    // Beyond the last level: its segment's slope.
    EXPECT_NEAR(m->power_w(50, step), corner(40, step) + (1 + step / 400.0) * 0.2 * 10, 1e-9);
  }
  const Interval iv = m->isolated_interval(12, 50);
  EXPECT_LT(iv.low_w, m->power_w(12, 50));
  EXPECT_GT(iv.high_w, m->power_w(12, 50));
  auto back = model_from_json(to_json(*m), "m.json");
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_TRUE(back->levels);
  for (double x : {0.0, 7.0, 33.0, 60.0})
    for (double s : {25.0, 60.0, 100.0}) EXPECT_DOUBLE_EQ(back->power_w(x, s), m->power_w(x, s));
  EXPECT_DOUBLE_EQ(back->isolated_interval(12, 50).high_w, iv.high_w);
  auto bad = to_json(*m);
  bad["curves"][0]["knots_x_pct"] = nlohmann::json::array({5.0, 1.0});
  bad["curves"][0]["knots_w"] = nlohmann::json::array({50.0, 51.0});
  EXPECT_THAT(model_from_json(bad, "bad.json").error().message, HasSubstr("knots must be"));

  auto smooth = [](double x, int step) { return 50 + (1.5 + step / 400.0) * x - 0.01 * x * x; };
  test::TempDir dir2;
  write_staircases(dir2, smooth);
  auto data2 = load_dataset(dir2.path());
  ASSERT_TRUE(data2) << data2.error().message;
  auto m2 = fit_model(*data2, {Method::cinergy, 40, 8});
  ASSERT_TRUE(m2) << m2.error().message;
  EXPECT_FALSE(m2->levels);
  EXPECT_THAT(nlohmann::json(m2->notes).dump(), HasSubstr("the joint polynomial (CV RMSE"));
  EXPECT_TRUE(m2->curve(50)->knot_x_pct.empty());
}

TEST(CinergyMethod, IntensityIsTheLoadWeightedMeanVcpuLoad) {
  EXPECT_DOUBLE_EQ(vcpu_intensity_pct({50, 50}), 50);
  EXPECT_DOUBLE_EQ(vcpu_intensity_pct({100, 0, 0, 0}), 100);
  EXPECT_DOUBLE_EQ(vcpu_intensity_pct({20, 95, 60, 3}),
                   (20. * 20 + 95. * 95 + 60. * 60 + 9) / (20 + 95 + 60 + 3));
  EXPECT_DOUBLE_EQ(vcpu_intensity_pct({150, NAN}), 100);
  EXPECT_TRUE(std::isnan(vcpu_intensity_pct({})));
  EXPECT_TRUE(std::isnan(vcpu_intensity_pct({0.1, 0.1})));
}

TEST(ModelJson, RoundTripsAndRejectsGarbage) {
  test::TempDir dir;
  write_paper_dataset(dir);
  auto data = load_dataset(dir.path());
  ASSERT_TRUE(data);
  auto m = fit_model(*data, {Method::cinergy, 8, std::nullopt});
  ASSERT_TRUE(m) << m.error().message;
  const auto j = to_json(*m);
  EXPECT_EQ(j.dump().find("NaN"), std::string::npos);
  ASSERT_TRUE(save_json(j, dir.path() / "m.json"));
  auto back = load_model(dir.path() / "m.json");
  ASSERT_TRUE(back) << back.error().message;
  for (double x : {0.0, 3.0, 20.0, 49.0})
    for (double s : {25.0, 50.0, 100.0}) EXPECT_DOUBLE_EQ(back->power_w(x, s), m->power_w(x, s));
  dir.write("bad.json", "[1,2]");
  EXPECT_THAT(load_model(dir.path() / "bad.json").error().message,
              HasSubstr("not a cinergy model"));
  dir.write("bad2.json", R"({"format":"cinergy-model-1","method":"paper"})");
  EXPECT_THAT(load_model(dir.path() / "bad2.json").error().message, HasSubstr("malformed model"));
  EXPECT_FALSE(load_model(dir.path() / "none.json"));
}

// Format 1 (before the notebook's arithmetic): a paper model held one scaled
// step-50 curve; such files of older runs still read and evaluate as then.
TEST(ModelJson, ReadsFormat1PaperModelsAndChecksTheSteps) {
  const std::string curve50 =
      R"({"step_pct": 50, "coef": [40.0, 20.0], "x_center": 50, "x_scale": 50,
          "x_range_pct": [0, 100]})";
  auto v1 = model_from_json(nlohmann::json::parse(R"({"format": "cinergy-model-1",
      "method": "paper", "host_threads": 4, "vm_vcpus": 2, "fit_range_pct": [0, 100],
      "curves": [)" + curve50 + "]}"),
                            "v1.json");
  ASSERT_TRUE(v1) << v1.error().message;
  EXPECT_EQ(v1->curves[0].fit.poly.form, Polynomial::Form::scaled);
  EXPECT_DOUBLE_EQ(v1->power_w(75, 50), 40 + 20 * 0.5);
  auto two = model_from_json(nlohmann::json::parse(R"({"format": "cinergy-model-1",
      "method": "paper", "host_threads": 4, "vm_vcpus": 2, "fit_range_pct": [0, 100],
      "curves": [)" + curve50 + "," +
                                                   R"({"step_pct": 25, "coef": [1.0],
          "x_center": 0, "x_scale": 1, "x_range_pct": [0, 100]}]})"),
                             "two.json");
  ASSERT_FALSE(two);
  EXPECT_THAT(two.error().message, HasSubstr("format-1 paper model holds exactly"));
  auto no50 = model_from_json(nlohmann::json::parse(R"({"format": "cinergy-model-2",
      "method": "paper", "host_threads": 4, "vm_vcpus": 2, "fit_range_pct": [0, 150],
      "curves": [{"step_pct": 25, "coef": [0.0, 1.0], "intercept": 3.0, "arithmetic": "float32",
                  "x_center": 0, "x_scale": 1, "x_range_pct": [0, 100]}]})"),
                              "no50.json");
  ASSERT_FALSE(no50);
  EXPECT_THAT(no50.error().message, HasSubstr("needs its step-50 curve"));
}

TEST(Evaluate, NoMatchGivesNullsWithReasonsNotNaN) {
  const auto m = two_curve_model();
  auto gt = parse_long_csv(
      "timestamp,domain,measure\n2,vm,10\n2,package-global-watt,12\n4,vm,20\n4,package-global-watt,"
      "14\n",
      "gt.csv");
  ASSERT_TRUE(gt);
  std::vector<EstimateRow> rows(1);
  rows[0].share_pct = 0.9985;  // ground-truth shares are 1.0 and 2.0: 0.0015 above
  rows[0].isolated_w = 11;
  auto e = evaluate(m, rows, *gt);
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["n"], 0);
  EXPECT_TRUE((*e)["r2"].is_null());
  EXPECT_TRUE((*e)["rmse_w"].is_null());
  EXPECT_THAT((*e)["null_reasons"]["rmse_w"].get<std::string>(), HasSubstr("within 0.001"));
  EXPECT_EQ(e->dump().find("NaN"), std::string::npos);
  // 0.9995 is a match (1.0 lies 0.0005 above); so is 1.5 (half way: the first row in time
  // wins, share 1.0, 12 W); one match has no R2.
  rows[0].share_pct = 0.9995;
  rows.push_back(rows[0]);
  rows[1].share_pct = 1.5;
  rows[1].isolated_w = 13;
  auto e2 = evaluate(m, rows, *gt);
  ASSERT_TRUE(e2);
  EXPECT_EQ((*e2)["n"], 2);
  EXPECT_DOUBLE_EQ((*e2)["mae_w"].get<double>(), 1.0);  // |11 - 12| and |13 - 12|
  EXPECT_TRUE((*e2)["r2"].is_null());
  EXPECT_THAT((*e2)["null_reasons"]["r2"].get<std::string>(), HasSubstr("does not vary"));
  auto bad = parse_long_csv("timestamp,domain,measure\n2,vm,10\n", "gt.csv");
  auto e3 = evaluate(m, rows, *bad);
  ASSERT_FALSE(e3);
  EXPECT_THAT(e3.error().message, HasSubstr("gt.csv: needs 'vm' and 'package-global-watt'"));
}

// Curves fitted on [0, 50] % of host load: estimates at 54 % and within are
// read where the curves were fitted; at 56 % and beyond they are counted
// and said extrapolated.
TEST(Evaluate, CountsEstimatesOutsideTheFittedLoadRange) {
  auto m = two_curve_model();
  auto gt = parse_long_csv(
      "timestamp,domain,measure\n2,vm,10\n2,package-global-watt,12\n4,vm,20\n4,package-global-watt,"
      "14\n",
      "gt.csv");
  ASSERT_TRUE(gt);
  std::vector<EstimateRow> rows(3);
  rows[0].share_pct = 1.0;
  rows[1].share_pct = 54.0;
  rows[2].share_pct = 56.0;
  for (auto& r : rows) r.isolated_w = 11;
  auto e = evaluate(m, rows, *gt);
  ASSERT_TRUE(e);
  const auto& x = (*e)["extrapolated"];
  EXPECT_EQ(x["n"], 1);
  EXPECT_EQ(x["of"], 3);
  EXPECT_DOUBLE_EQ(x["fit_range_pct"][0].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(x["fit_range_pct"][1].get<double>(), 50.0);
  EXPECT_EQ(extrapolation_note(*e),
            "1 of 3 estimates EXTRAPOLATED (VM share outside the fitted load range 0.0 to 50.0 %)");
  // Curves fitted near full load only (a host kept busy by other work).
  for (auto& c : m.curves) c.fit.x_lo = 98.0, c.fit.x_hi = 100.0;
  auto busy = evaluate(m, rows, *gt);
  ASSERT_TRUE(busy);
  EXPECT_EQ((*busy)["extrapolated"]["n"], 3);
  rows.resize(1);
  rows[0].share_pct = 99.0;
  auto inside = evaluate(m, rows, *gt);
  ASSERT_TRUE(inside);
  EXPECT_EQ((*inside)["extrapolated"]["n"], 0);
  EXPECT_EQ(extrapolation_note(*inside), "");
}

// By position in the replayed profile: each cloud-like window against the
// ground-truth window of the same timestamp, kept when the VM shares agree
// within 2.5 points. The notebook's matching rejects a C share just below
// every B share; by position it is matched.
TEST(Evaluate, ByPositionMatchesEqualTimestampsWhenTheSharesAgree) {
  auto m = two_curve_model();  // 10 threads: share = vm / 10
  auto gt = parse_long_csv(
      "timestamp,domain,measure\n"
      "1,vm,200\n1,package-global-watt,40\n"   // share 20
      "2,vm,400\n2,package-global-watt,60\n"   // share 40
      "3,vm,100\n3,package-global-watt,30\n",  // share 10
      "gt.csv");
  ASSERT_TRUE(gt);
  std::vector<EstimateRow> rows(4);
  rows[0] = {.timestamp_s = 1, .share_pct = 19.5, .isolated_w = 38};  // 0.5 below: matched
  rows[1] = {.timestamp_s = 2, .share_pct = 39.0, .isolated_w = 63};  // 1 below: matched
  rows[2] = {.timestamp_s = 3, .share_pct = 14.0, .isolated_w = 30};  // 4 points off: rejected
  rows[3] = {.timestamp_s = 9, .share_pct = 10.0, .isolated_w = 30};  // no such window
  for (auto& r : rows) r.vm_pct = r.share_pct * 10;
  auto off = evaluate(m, rows, *gt);
  ASSERT_TRUE(off);
  EXPECT_TRUE((*off)["by_position"].is_null());
  EXPECT_TRUE((*off)["null_reasons"].contains("by_position"));
  // The notebook's matching: 19.5 -> 20 is above by 0.5: rejected; 39 -> 40
  // rejected; 14 -> 10 kept; 10 -> 10 kept.
  EXPECT_EQ((*off)["n"], 2);
  auto on = evaluate(m, rows, *gt, {.by_position = true});
  ASSERT_TRUE(on);
  const auto& p = (*on)["by_position"];
  ASSERT_TRUE(p.is_object()) << on->dump();
  EXPECT_EQ(p["n"], 2);
  EXPECT_EQ(p["rejected_share"], 1);
  EXPECT_NEAR(p["rmse_w"].get<double>(), std::sqrt((4.0 + 9.0) / 2), 1e-12);
  EXPECT_NEAR(p["mae_w"].get<double>(), 2.5, 1e-12);
  EXPECT_NEAR(p["mape_pct"].get<double>(), 100 * (2.0 / 40 + 3.0 / 60) / 2, 1e-12);
  EXPECT_EQ((*on)["n"], 2) << "the notebook's matching is unchanged";
}

TEST(Analyze, WritesTheThreeFilesPerMethod) {
  test::TempDir dir;
  write_paper_dataset(dir);
  for (Method method : {Method::cinergy, Method::paper}) {
    AnalyzeOptions o;
    o.data_dir = dir.path();
    o.host_threads = 8;
    o.method = method;
    o.out_dir = dir.path() / "out";
    auto j = analyze(o);
    ASSERT_TRUE(j) << j.error().message;
    EXPECT_EQ((*j)["method"], method_name(method));
  }
  for (const char* f : {"model.json", "isolated.csv", "evaluation.json", "model-paper.json",
                        "isolated-paper.csv", "evaluation-paper.json"})
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "out" / f)) << f;
  std::ifstream in(dir.path() / "out" / "isolated.csv");
  std::string header;
  std::getline(in, header);
  EXPECT_THAT(header, HasSubstr("timestamp,vm,isolated_w,dynamic_w,host_w,ratio"));

  test::TempDir no_cloud;
  no_cloud.write("h-training-50.csv", Csv{}.str());
  std::filesystem::copy(dir.path() / "h-training-50.csv", no_cloud.path() / "h-training-50.csv",
                        std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy(dir.path() / "h-groundtruth.csv", no_cloud.path() / "h-groundtruth.csv");
  auto j = analyze({no_cloud.path(), 8, std::nullopt, Method::cinergy, {}});
  ASSERT_FALSE(j);
  EXPECT_THAT(j.error().message, HasSubstr("h-cloudlike.csv: missing"));
}

// The acceptance criterion of issue 4, on 12 generated hosts of 8..160 threads.
TEST(Accuracy, CinergyBeatsThePaperAgainstTheTruthOnEveryHost) {
  using namespace testing;
  const auto curves = load_spec_curves(std::string(CINERGY_DATA_DIR) + "/specpower-curves.csv");
  ASSERT_GT(curves.size(), 500u);
  test::TempDir tmp;
  std::vector<AccuracyRow> rows;
  for (const auto& [curve, params] : accuracy_hosts(curves, 1)) {
    auto row = run_accuracy_host(curve, params, tmp.path() / std::to_string(params.threads));
    ASSERT_TRUE(row) << row.error().message;
    rows.push_back(std::move(*row));
  }
  ASSERT_GE(rows.size(), 10u);
  double sum_ratio = 0;
  for (const auto& r : rows) {
    const double ratio = r.cinergy.rmse_truth_w / r.paper.rmse_truth_w;
    EXPECT_LT(ratio, 1.0) << r.host.threads << " threads";  // the issue asks < 2
    sum_ratio += ratio;
  }
  EXPECT_LT(sum_ratio / static_cast<double>(rows.size()), 0.6);
  std::printf("%s", accuracy_table(rows).c_str());
}

}  // namespace
}  // namespace cinergy::model
