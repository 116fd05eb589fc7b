// `cinergy fit/predict/estimate/evaluate` as a user runs them: exit codes,
// output shape, one-line errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "generator.hpp"
#include "temp_dir.hpp"

namespace cinergy::model {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct CmdResult {
  int rc;
  std::string out, err;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const auto curves =
        testing::load_spec_curves(std::string(CINERGY_DATA_DIR) + "/specpower-curves.csv");
    testing::HostParams p;
    p.threads = 8;
    p.sockets = 1;
    p.seed = 5;
    host_ = new testing::GeneratedHost(testing::generate_host(curves.at(40), p, data()));
  }
  static void TearDownTestSuite() {
    delete host_;
    delete dir_;
  }
  static std::filesystem::path data() { return dir_->path() / "data"; }

  CmdResult run(const std::string& args) {
    const auto out = dir_->path() / "stdout", err = dir_->path() / "stderr";
    const std::string cmd = std::string(CINERGY_BINARY_DIR) + "/cinergy " + args + " >" +
                            out.string() + " 2>" + err.string();
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  }
  static std::string tmp(const std::string& name) { return (dir_->path() / name).string(); }

  static inline test::TempDir* dir_ = nullptr;
  static inline testing::GeneratedHost* host_ = nullptr;
};

TEST_F(CliTest, FitWritesModelAndPrintsFormula) {
  auto r = run("fit " + data().string() + " --host-threads 8 -o " + tmp("model.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("method cinergy"));
  EXPECT_THAT(r.out, HasSubstr("P(x) W = "));
  EXPECT_THAT(r.out, HasSubstr("CV RMSE"));
  auto j = nlohmann::json::parse(slurp(tmp("model.json")));
  EXPECT_EQ(j["method"], "cinergy");
  EXPECT_EQ(j["host_threads"], 8);
  EXPECT_EQ(j["vm_vcpus"], 4);
  EXPECT_EQ(j["curves"].size(), 3u);
  for (const auto& c : j["curves"]) {
    EXPECT_TRUE(c["cv_rmse_w"].is_number());
    EXPECT_TRUE(c["x_scale"].is_number());
    EXPECT_TRUE(c["r2"].is_number());
    EXPECT_EQ(c["coef"].size(), c["degree"].get<std::size_t>() + 1);
  }
  auto p = run("fit " + data().string() + " --host-threads 8 --method paper --json -o " +
               tmp("model-paper.json"));
  ASSERT_EQ(p.rc, 0) << p.err;
  auto pj = nlohmann::json::parse(p.out);
  EXPECT_EQ(pj["method"], "paper");
  EXPECT_EQ(pj["format"], "cinergy-model-2");
  // Every step, as the notebook fits them; float32 scikit-learn curves.
  ASSERT_EQ(pj["curves"].size(), 3u);
  for (const auto& c : pj["curves"]) {
    EXPECT_EQ(c["arithmetic"], "float32");
    EXPECT_TRUE(c["intercept"].is_number());
    EXPECT_EQ(c["x_center"], 0.0);
    EXPECT_EQ(c["train_rmse_by_degree"].size(), 14u);
  }
  // exclude_beyond = 4 * 100 / 8 * 3, compared as the notebook does (uncapped).
  EXPECT_DOUBLE_EQ(pj["fit_range_pct"][1].get<double>(), 150.0);
  EXPECT_THAT(p.out, Not(HasSubstr("NaN")));
}

TEST_F(CliTest, PredictPrintsOneValuePerUtilInOrder) {
  ASSERT_EQ(run("fit " + data().string() + " --host-threads 8 -o " + tmp("m.json")).rc, 0);
  auto r = run("predict --model " + tmp("m.json") + " --host-util 0 --host-util 50 --host-util 20");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream in(r.out);
  std::vector<double> v;
  for (double d; in >> d;) v.push_back(d);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_GT(v[0], 0);
  EXPECT_LT(v[0], v[2]);
  EXPECT_LT(v[2], v[1]);
  auto s = run("predict --model " + tmp("m.json") + " --host-util 20 --step 100");
  ASSERT_EQ(s.rc, 0);
  EXPECT_LT(std::stod(s.out), v[2]);  // concentrated load costs less than spread load

  // --interval: the estimate and its nominal 90 % interval around it.
  auto iv = run("predict --model " + tmp("m.json") + " --host-util 20 --interval");
  ASSERT_EQ(iv.rc, 0) << iv.err;
  std::istringstream ivs(iv.out);
  double w = 0, lo = 0, hi = 0;
  ASSERT_TRUE(ivs >> w >> lo >> hi) << iv.out;
  EXPECT_DOUBLE_EQ(w, v[2]);
  EXPECT_LT(lo, w);
  EXPECT_GT(hi, w);
  ASSERT_EQ(
      run("fit " + data().string() + " --host-threads 8 --method paper -o " + tmp("p.json")).rc, 0);
  auto piv = run("predict --model " + tmp("p.json") + " --host-util 20 --interval");
  EXPECT_EQ(piv.rc, 1);
  EXPECT_THAT(piv.err, HasSubstr("the paper method gives no interval"));

  auto bad = run("predict --model " + tmp("m.json") + " --host-util 120");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_THAT(bad.err, StartsWith("cinergy: --host-util must be in [0, 100]"));
  auto none = run("predict --model " + tmp("nope.json") + " --host-util 1");
  EXPECT_EQ(none.rc, 1);
  EXPECT_THAT(none.err, HasSubstr("nope.json: cannot open"));
}

TEST_F(CliTest, EstimateWritesOneRowPerCloudlikeWindow) {
  ASSERT_EQ(run("fit " + data().string() + " --host-threads 8 -o " + tmp("m2.json")).rc, 0);
  auto r =
      run("estimate " + data().string() + " --model " + tmp("m2.json") + " -o " + tmp("iso.csv"));
  ASSERT_EQ(r.rc, 0) << r.err;
  std::ifstream in(tmp("iso.csv"));
  std::string line;
  std::getline(in, line);
  EXPECT_THAT(line, StartsWith("timestamp,vm,isolated_w,dynamic_w,host_w,ratio"));
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    const auto fields = std::count(line.begin(), line.end(), ',');
    EXPECT_EQ(fields, 11);  // 12 columns: the 10 of before and the interval's two
  }
  EXPECT_EQ(n, host_->cloud_ts_s.size());
}

TEST_F(CliTest, EvaluateJsonHasThePaperMetricsAndBins) {
  for (const char* method : {"cinergy", "paper"}) {
    auto r = run("evaluate " + data().string() + " --host-threads 8 --json --method " + method +
                 " -o " + tmp("eval"));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out.find("NaN"), std::string::npos);
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["method"], method);
    for (const char* k : {"n", "r2", "rmse_w", "mae_w", "mape_pct"})
      EXPECT_TRUE(j[k].is_number()) << k;
    EXPECT_GT(j["n"].get<int>(), 0);
    EXPECT_TRUE(j["binned"].is_array());
    EXPECT_FALSE(j["binned"].empty());
  }
  EXPECT_TRUE(std::filesystem::exists(tmp("eval") + "/evaluation-paper.json"));
  EXPECT_TRUE(std::filesystem::exists(tmp("eval") + "/isolated.csv"));
  auto text = run("evaluate " + data().string() + " --host-threads 8");
  ASSERT_EQ(text.rc, 0);
  EXPECT_THAT(text.out, HasSubstr("R2 "));
  EXPECT_THAT(text.out, HasSubstr("binned: RMSE"));
  auto paper = run("evaluate " + data().string() + " --host-threads 8 --method paper");
  ASSERT_EQ(paper.rc, 0);
  EXPECT_THAT(paper.out, StartsWith("method paper (the notebook's arithmetic, float32): n "));
}

TEST_F(CliTest, BadInputIsOneLineAndNonZero) {
  test::TempDir bad;
  bad.write("h-training-50.csv", "");
  bad.write("h-groundtruth.csv", "timestamp,domain,measure\n2,vm,1\n");
  test::TempDir header;
  header.write("h-training-50.csv", "ts,domain,value\n");
  const std::pair<std::string, std::string> cases[] = {
      {"evaluate " + data().string(), "--host-threads N is required"},
      {"evaluate " + data().string() + " --host-threads 8 --method magic",
       "unknown method 'magic'"},
      {"fit /nonexistent/dir --host-threads 8 -o " + tmp("x.json"), "not a directory"},
      {"fit " + bad.path().string() + " --host-threads 8 -o " + tmp("x.json"),
       "h-training-50.csv: empty file"},
      {"fit " + header.path().string() + " --host-threads 8 -o " + tmp("x.json"),
       "h-training-50.csv:1: wrong header"},
      {"fit " + data().string() + " --host-threads 8 -o /nonexistent/dir/m.json", "cannot write"},
      {"fit " + data().string() + " --host-threads -2 -o " + tmp("x.json"),
       "--host-threads must be positive"},
  };
  for (const auto& [args, expected] : cases) {
    auto r = run(args);
    EXPECT_EQ(r.rc, 1) << args;
    EXPECT_THAT(r.err, StartsWith("cinergy: ")) << args;
    EXPECT_THAT(r.err, HasSubstr(expected)) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace cinergy::model
