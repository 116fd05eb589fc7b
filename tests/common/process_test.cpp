// Unit tier of the common toolkit: child processes and readiness waits
// (real /bin/sh, /bin/sleep; no root).
#include "cinergy/common/process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "cinergy/common/files.hpp"
#include "cinergy/common/ready.hpp"
#include "temp_dir.hpp"

namespace cinergy {
namespace {

using namespace std::chrono_literals;
using cinergy::test::TempDir;

TEST(Ready, FileAppears) {
  TempDir dir;
  ReadySpec spec;
  spec.file = dir.path() / "ready";
  spec.timeout = 10s;
  spec.poll = 10ms;
  std::jthread writer([&] {
    std::this_thread::sleep_for(100ms);
    dir.write("ready", "");
  });
  auto r = wait_ready(spec, "vm");
  EXPECT_TRUE(r) << r.error().what();
}

TEST(Ready, MarkerInFile) {
  TempDir dir;
  dir.write("serial.log", "booting\n");
  ReadySpec spec;
  spec.marker_file = dir.path() / "serial.log";
  spec.marker = "cinergy-testvm: init ";
  spec.timeout = 300ms;
  spec.poll = 10ms;
  EXPECT_FALSE(wait_ready(spec, "vm"));
  dir.write("serial.log", "booting\ncinergy-testvm: init uptime_s=1.9\n");
  EXPECT_TRUE(wait_ready(spec, "vm"));
}

TEST(Ready, CommandTrueAndFalse) {
  ReadySpec spec;
  spec.timeout = 5s;
  spec.poll = 10ms;
  spec.command = {"/bin/true"};
  EXPECT_TRUE(wait_ready(spec, "vm"));
  spec.command = {"/bin/false"};
  spec.timeout = 300ms;
  auto r = wait_ready(spec, "test VM 'x'");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "test VM 'x' not ready after 0 s (waiting for command '/bin/false' to exit 0)");
}

TEST(Ready, TimeoutNamesTheFile) {
  TempDir dir;
  ReadySpec spec;
  spec.file = dir.path() / "never";
  spec.timeout = 1s;
  spec.poll = 20ms;
  auto r = wait_ready(spec, "libvirt domain 'd'");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "libvirt domain 'd' not ready after 1 s (waiting for file " +
                                   spec.file.string() + " to appear)");
}

TEST(Ready, VmGoneEndsTheWait) {
  ReadySpec spec;
  spec.command = {"/bin/false"};
  spec.timeout = 30s;
  spec.poll = 10ms;
  auto r = wait_ready(spec, "vm 'v'", [] { return true; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "vm 'v' stopped before it was ready");
}

TEST(Ready, MissingCommandIsAnError) {
  ReadySpec spec;
  spec.command = {"/nonexistent/ready-check"};
  spec.timeout = 5s;
  auto r = wait_ready(spec, "vm");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/ready-check"), std::string::npos);
  EXPECT_NE(r.error().message.find("No such file"), std::string::npos);
}

TEST(Ready, StopRequestEndsTheWait) {
  ReadySpec spec;
  spec.command = {"/bin/false"};
  spec.timeout = 30s;
  spec.poll = 10ms;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = wait_ready(spec, "--cmd x", {}, [] { return true; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--cmd x: stop requested while waiting for it to be ready");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(Ready, NothingToWaitForIsReadyAtOnce) { EXPECT_TRUE(wait_ready(ReadySpec{}, "x")); }
TEST(Process, RunWaitStatusAndTimeout) {
  EXPECT_EQ(run_wait({"/bin/true"}, 5s).value(), 0);
  EXPECT_EQ(run_wait({"/bin/false"}, 5s).value(), 1);
  // Arguments are passed as an argv, never through a shell.
  TempDir dir;
  EXPECT_EQ(run_wait({"/bin/sh", "-c", "echo \"$0\" > \"$1\"", "a; rm -rf /",
                      (dir.path() / "out").string()},
                     5s)
                .value(),
            0);
  EXPECT_EQ(read_file(dir.path() / "out").value(), "a; rm -rf /\n");
  auto slow = run_wait({"/bin/sleep", "10"}, 200ms);
  ASSERT_FALSE(slow);
  EXPECT_NE(slow.error().message.find("did not finish"), std::string::npos);
}

TEST(Process, SpawnOwnGroupAndTerminate) {
  auto pid = spawn({"/bin/sleep", "30"}, SpawnOptions{});
  ASSERT_TRUE(pid) << pid.error().what();
  EXPECT_EQ(::getpgid(*pid), *pid);
  EXPECT_EQ(::getsid(*pid), ::getsid(0));
  EXPECT_FALSE(try_reap(*pid));
  terminate_and_reap(*pid, true, 2s);
  EXPECT_NE(::kill(*pid, 0), 0);
  SpawnOptions session;
  session.new_session = true;
  auto daemon = spawn({"/bin/sleep", "30"}, session);
  ASSERT_TRUE(daemon);
  EXPECT_EQ(::getsid(*daemon), *daemon);
  terminate_and_reap(*daemon, true, 2s);
  EXPECT_NE(::kill(*daemon, 0), 0);
  auto missing = spawn({"/nonexistent/x"}, SpawnOptions{});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errno_value, ENOENT);
  TempDir dir;
  SpawnOptions in_missing_cgroup;
  in_missing_cgroup.cgroup_dir = dir.path() / "nope";
  auto bad_cgroup = spawn({"/bin/true"}, in_missing_cgroup);
  ASSERT_FALSE(bad_cgroup);
  EXPECT_NE(bad_cgroup.error().message.find("joining cgroup"), std::string::npos);
  // Extra cgroups (other hierarchies) are joined after cgroup_dir, each
  // through its cgroup.procs ("0": the writing process itself).
  dir.write("v2/cgroup.procs", "");
  dir.write("v1/cgroup.procs", "");
  SpawnOptions both;
  both.cgroup_dir = dir.path() / "v2";
  both.extra_cgroup_dirs = {dir.path() / "v1"};
  auto joined = spawn({"/bin/true"}, both);
  ASSERT_TRUE(joined) << joined.error().what();
  while (!try_reap(*joined)) std::this_thread::sleep_for(5ms);
  for (const char* d : {"v2", "v1"})
    EXPECT_EQ(read_file(dir.path() / d / "cgroup.procs").value_or(""), "0") << d;
  // An extra cgroup (another hierarchy) that cannot be joined is named.
  SpawnOptions in_missing_extra;
  in_missing_extra.extra_cgroup_dirs = {dir.path() / "v1-nope"};
  auto bad_extra = spawn({"/bin/true"}, in_missing_extra);
  ASSERT_FALSE(bad_extra);
  EXPECT_NE(bad_extra.error().message.find("joining cgroup " + (dir.path() / "v1-nope").string()),
            std::string::npos)
      << bad_extra.error().message;
}

TEST(Process, CaptureOutputStatusAndTimeout) {
  auto out = run_capture({"/bin/sh", "-c", "echo one; echo two >&2; exit 3"}, 5s);
  ASSERT_TRUE(out) << out.error().what();
  EXPECT_EQ(out->exit_code, 3);
  EXPECT_NE(out->output.find("one\n"), std::string::npos);
  EXPECT_NE(out->output.find("two\n"), std::string::npos);
  auto slow = run_capture({"/bin/sleep", "10"}, 200ms);
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->exit_code, -1) << "ended by the timeout";
  auto stopped = run_capture({"/bin/sleep", "10"}, 10s, [] { return true; });
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->exit_code, -1);
  auto big = run_capture({"/bin/sh", "-c", "head -c 200000 /dev/zero"}, 5s);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->output.size(), 65536u) << "capped at 64 KiB";
}

TEST(Process, ProgramLookupFollowsPath) {
  EXPECT_EQ(find_program("/bin/true").value(), "/bin/true");
  auto sh = find_program("sh");
  ASSERT_TRUE(sh) << sh.error().what();
  EXPECT_TRUE(sh->ends_with("/sh"));
  auto none = find_program("cinergy-no-such-program");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().errno_value, ENOENT);
  auto started = spawn({"cinergy-no-such-program"});
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().message, "cannot start cinergy-no-such-program: not found in PATH");
}

TEST(Process, ChildGetsItsCpusOutputFileAndEnvironment) {
  TempDir dir;
  SpawnOptions o;
  o.cpus = {0};
  o.output_file = dir.path() / "out.log";
  o.env_add = {"CINERGY_TEST_VALUE=42"};
  auto pid = spawn(
      {"/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status; echo v=$CINERGY_TEST_VALUE"}, o);
  ASSERT_TRUE(pid) << pid.error().what();
  std::optional<int> status;
  for (int i = 0; i < 500 && !(status = try_reap(*pid)); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(status, 0);
  const auto text = read_file(o.output_file).value_or("");
  EXPECT_NE(text.find("Cpus_allowed_list:\t0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("v=42"), std::string::npos) << text;
  EXPECT_EQ(try_reap(*pid), -1) << "no longer our child";
}

}  // namespace
}  // namespace cinergy
