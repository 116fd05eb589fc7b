// Starting, waiting for and ending child processes, written once: stress-ng
// workers, qemu, launch scripts, a subject command, helper scripts, version
// strings. Commands are argument vectors, never shell strings. Everything the
// child needs is prepared before fork(); the child makes async-signal-safe
// calls only and reports a failure before exec through a CLOEXEC pipe, so a
// start that fails is an Error naming the stage, never a silent dead child.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy {

struct SpawnOptions {
  // setpgid(0, 0): the child leads its own process group, so -pid signals
  // the whole tree it starts.
  bool own_process_group = true;
  // setsid(): its own session (hence group and scheduler autogroup), like a
  // daemon; takes precedence over own_process_group.
  bool new_session = false;
  // PR_SET_PDEATHSIG(SIGKILL): it dies with us even if we are killed.
  bool die_with_parent = false;
  std::filesystem::path cgroup_dir;  // joins <dir>/cgroup.procs before exec
  // Joined too, after cgroup_dir, each through its cgroup.procs: directories
  // of other hierarchies (a cgroup v1 `cpu` one on hybrid hosts).
  std::vector<std::filesystem::path> extra_cgroup_dirs;
  std::vector<int> cpus;  // sched_setaffinity to these CPUs before exec
  // stdout and stderr: appended to output_file (created 0644), or output_fd
  // when >= 0 (a pipe), else /dev/null. stdin is /dev/null.
  std::filesystem::path output_file;
  int output_fd = -1;
  std::vector<std::string> env_add;  // "KEY=VALUE" added to the inherited environment
};

// argv[0] is looked up in $PATH (in the parent) unless it contains '/'.
// Returns once the child has exec'ed; SIGPIPE is default and no signal is
// blocked in the child.
Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// The absolute path execution would use for `name` ($PATH lookup), or an
// error naming it.
Result<std::string> find_program(const std::string& name);

// Non-blocking reap: nullopt while `pid` runs; its exit status, 128 + signal
// when killed, -1 when it is not (or no longer) our child.
std::optional<int> try_reap(pid_t pid);
// SIGTERM to the process group (or the pid), SIGKILL after `grace`, reaped.
// A group whose leader already ended still gets SIGKILL (its leftovers).
void terminate_and_reap(pid_t pid, bool process_group, std::chrono::milliseconds grace);

// Runs argv to completion in its own process group, output to `output_file`
// or /dev/null; at `timeout`, or as soon as `stop()` returns true, the group
// is ended. Returns the exit status; an error when it could not start or was
// ended early (the message says which).
Result<int> run_wait(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                     const std::filesystem::path& output_file = {},
                     const std::function<bool()>& stop = {});

struct CommandOutput {
  int exit_code = -1;  // -1: ended by the timeout or a stop
  std::string output;  // stdout + stderr, at most 64 KiB
};
// The same, capturing the output (version strings, ready commands).
Result<CommandOutput> run_capture(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout,
                                  const std::function<bool()>& stop = {});

}  // namespace cinergy
