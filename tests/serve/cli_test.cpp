// `cinergy serve` as a user runs it: bad input is one line and exit 1
// before anything starts; SIGTERM and SIGINT stop it within a second, exit 0.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <thread>

#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"
#include "cinergy/serve/http_get.hpp"
#include "serve_support.hpp"
#include "temp_dir.hpp"
#include "test_model.hpp"

namespace cinergy {
namespace {

using namespace std::chrono_literals;
const std::string kCinergy = std::string(CINERGY_BINARY_DIR) + "/cinergy";

struct Run {
  int exit_code = -1;
  std::string err, out;
};
Run run(const std::string& args) {
  test::TempDir t;
  const auto err = t.path() / "err";
  FILE* p = popen((kCinergy + " " + args + " 2>" + err.string()).c_str(), "r");
  Run r;
  std::array<char, 4096> buf{};
  while (p && std::fgets(buf.data(), buf.size(), p)) r.out += buf.data();
  const int status = p ? pclose(p) : -1;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = read_file(err).value_or("");
  return r;
}
void expect_one_line_error(const Run& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

class ServeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    threads_ = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
    test::write_test_model(dir_.path() / "model.json", threads_);
    model_ = " --model " + (dir_.path() / "model.json").string();
  }
  test::TempDir dir_;
  int threads_ = 0;
  std::string model_;
};

TEST_F(ServeCli, BadInputIsOneLineAndExit1) {
  expect_one_line_error(run("serve --source sim"), "--model is required");
  const auto other = dir_.path() / "other.json";
  test::write_test_model(other, threads_ + 62);
  expect_one_line_error(run("serve --source sim --connect none --model " + other.string()),
                        "fitted on a host with " + std::to_string(threads_ + 62) +
                            " threads, this host has " + std::to_string(threads_) + ":");
  const auto none = (dir_.path() / "none").string();
  expect_one_line_error(run("serve --connect none" + model_ + " --powercap-root " + none +
                            " --perf-root " + none + " --dev-cpu-root " + none),
                        "use --source sim");
  expect_one_line_error(run("serve --source sim --connect none --listen 9838" + model_),
                        "--listen 9838: no port");
  expect_one_line_error(run("serve --source sim --connect none --interval 0" + model_),
                        "--interval");
  expect_one_line_error(run("serve --source sim --connect none --rate 0" + model_), "--rate");
  expect_one_line_error(run("serve --source sim --connect none --pid 999999999" + model_),
                        "--pid 999999999: no such process");
  expect_one_line_error(run("serve --source sim --connect none --cgroup ../x" + model_),
                        "--cgroup ../x");
  expect_one_line_error(run("serve --source sim --connect none --bogus" + model_), "--bogus");
}

TEST_F(ServeCli, APortInUseIsOneLine) {
  test::TakenPort busy;
  ASSERT_GT(busy.port(), 0);
  const std::string addr = "127.0.0.1:" + std::to_string(busy.port());
  expect_one_line_error(run("serve --source sim --connect none --listen " + addr + model_),
                        "--listen " + addr + ": address already in use");
}

// Started as a daemon, scraped once, then signalled: it must be gone within
// a second, with exit 0 and its last line saying it stopped.
void stops_cleanly_on(int sig, const std::string& model_args) {
  test::TempDir t;
  const auto log = t.path() / "serve.log";
  SpawnOptions so;
  so.output_file = log;
  auto pid =
      spawn({kCinergy, "serve", "--source", "sim", "--connect", "none", "--listen", "127.0.0.1:0",
             "--cpu-backend", "procfs", "--interval", "0.2", "--model", model_args},
            so);
  ASSERT_TRUE(pid) << pid.error().what();
  std::string text;
  const auto port = test::wait_serving_port(log, 10s, text);
  ASSERT_TRUE(port) << text;
  auto r = serve::http_get("http://127.0.0.1:" + std::to_string(*port) + "/metrics", 2s);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_NE(r->body.find("cinergy_power_simulated 1"), std::string::npos);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(*pid, sig), 0);
  std::optional<int> status;
  while (!(status = try_reap(*pid)) && std::chrono::steady_clock::now() - t0 < 5s)
    std::this_thread::sleep_for(5ms);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!status) terminate_and_reap(*pid, false, 100ms);
  ASSERT_TRUE(status) << "still running 5 s after the signal";
  std::printf("[measure] signal %d -> exit in %.3f s\n", sig, s);
  EXPECT_EQ(*status, 0);
  EXPECT_LT(s, 1.0);
  text = read_file(log).value_or("");
  EXPECT_NE(text.find("stopped: "), std::string::npos) << text;
}

TEST_F(ServeCli, SigtermStopsWithinASecond) {
  stops_cleanly_on(SIGTERM, (dir_.path() / "model.json").string());
}
TEST_F(ServeCli, SigintStopsWithinASecond) {
  stops_cleanly_on(SIGINT, (dir_.path() / "model.json").string());
}

}  // namespace
}  // namespace cinergy
