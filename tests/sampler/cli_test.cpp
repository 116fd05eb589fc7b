// Runs build/cinergy with bad input: one line on stderr, non-zero exit, no sampling.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "cinergy/common/line_reader.hpp"
#include "temp_dir.hpp"

using cinergy::test::TempDir;

namespace {
struct Run {
  int exit_code;
  std::string stderr_text, stdout_text;
};
Run run(const std::string& args) {
  TempDir t;
  const auto err = t.path() / "err";
  const std::string cmd =
      std::string(CINERGY_BINARY_DIR) + "/cinergy " + args + " 2>" + err.string();
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (p && std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = p ? pclose(p) : -1;
  std::FILE* f = std::fopen(err.c_str(), "r");
  std::string e;
  while (f && std::fgets(buf.data(), buf.size(), f)) e += buf.data();
  if (f) std::fclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, e, out};
}
// Exactly one line, starting with "cinergy: " (or CLI11's own one-line message).
void expect_one_line_error(const Run& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(needle), std::string::npos) << r.stderr_text;
  EXPECT_TRUE(r.stdout_text.empty()) << r.stdout_text;
}
}  // namespace

TEST(RecordCli, BadRatesAndDurations) {
  expect_one_line_error(run("record --source sim --rate 0 --duration 1"), "--rate");
  expect_one_line_error(run("record --source sim --rate -5 --duration 1"), "--rate");
  expect_one_line_error(run("record --source sim --rate 100001 --duration 1"), "--rate");
  expect_one_line_error(run("record --source sim --duration 0"), "--duration");
  expect_one_line_error(run("record --source sim --duration -3"), "--duration");
  expect_one_line_error(run("record --source sim --rate abc --duration 1"), "--rate");
}

TEST(RecordCli, BadSourcesAndPaths) {
  expect_one_line_error(
      run("record --source powercap --powercap-root /nonexistent/pc --duration 1"),
      "/nonexistent/pc");
  TempDir empty;
  expect_one_line_error(
      run("record --source powercap --powercap-root " + empty.path().string() + " --duration 1"),
      "no intel-rapl");
  TempDir unreadable;
  unreadable.write("intel-rapl:0/name", "package-0\n");
  unreadable.write("intel-rapl:0/max_energy_range_uj", "1000\n");
  std::filesystem::create_directories(unreadable.path() / "intel-rapl:0/energy_uj");
  expect_one_line_error(run("record --source powercap --powercap-root " +
                            unreadable.path().string() + " --duration 1"),
                        "intel-rapl:0/energy_uj");
  expect_one_line_error(run("record --source sim --duration 1 --out /nonexistent-dir/x.csv.gz"),
                        "/nonexistent-dir/x.csv.gz");
  TempDir out_dir;
  const auto dat = out_dir.path() / "x.dat";
  expect_one_line_error(run("record --source sim --duration 1 --out " + dat.string()),
                        "must end in .csv.xz, .csv.gz or .csv");
  EXPECT_FALSE(std::filesystem::exists(dat));
  expect_one_line_error(run("record --source sim --sim-host nope --duration 1"),
                        "unknown --sim-host 'nope'");
  expect_one_line_error(run("record --source bogus --duration 1"), "unknown --source 'bogus'");
  expect_one_line_error(run("record --source sim --pin 99999 --duration 1"), "--pin");
  expect_one_line_error(run("record --source sim --pid abc --duration 1"), "");
}

TEST(RecordCli, AutoNeverFallsBackToSim) {
  TempDir t;
  const auto r =
      run("record --duration 1 --powercap-root " + t.path().string() + " --dev-cpu-root " +
          t.path().string() + " --perf-root " + (t.path() / "none").string());
  expect_one_line_error(r, "--source sim");
}

TEST(RecordCli, SimRunIsLabelledSimulated) {
  TempDir t;
  const auto out = t.path() / "r.csv.xz";
  const auto r = run("record --source sim --duration 0.3 --rate 200 --json --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("\"simulated\":true"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("\"package-global\""), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stderr_text.find("SIMULATED"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(out.string() + ".meta.json"));
  // The xz trace reads back: header, then rows whose simulated column is 1.
  std::vector<std::string> lines;
  auto read = cinergy::read_lines(out, [&](std::string_view l) { lines.emplace_back(l); });
  ASSERT_TRUE(read) << read.error().what();
  EXPECT_EQ(read->compression, cinergy::Compression::xz);
  EXPECT_FALSE(read->truncated) << read->problem;
  ASSERT_GE(lines.size(), 2u);
  EXPECT_TRUE(lines[0].starts_with("t_ns,simulated,")) << lines[0];
  for (std::size_t i = 1; i < lines.size(); ++i)
    ASSERT_EQ(lines[i].substr(lines[i].find(',') + 1, 2), "1,") << lines[i];
}

TEST(ProbeCli, ExitsZeroAndPrintsJson) {
  TempDir t;
  const auto r =
      run("probe --json --poll-ms 20 --no-kvm-check --powercap-root " + t.path().string());
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("\"powercap\""), std::string::npos);
  EXPECT_NE(r.stdout_text.find("\"fix\""), std::string::npos);
  EXPECT_NE(r.stdout_text.find("\"topology\""), std::string::npos);
}
