#include "cinergy/common/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <thread>

extern char** environ;

namespace cinergy {
namespace {

using Clock = std::chrono::steady_clock;

// Stages a child reports when it fails before exec.
enum Stage : int { kSession = 1, kCgroup, kAffinity, kOutput, kExec };

}  // namespace

Result<std::string> find_program(const std::string& name) {
  if (name.empty()) return fail("empty command");
  if (name.find('/') != std::string::npos) return name;
  const char* path_env = std::getenv("PATH");
  const std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    const auto dir = path.substr(start, end - start);
    if (!dir.empty()) {
      auto candidate = dir + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return fail_errno(ENOENT, "'" + name + "' not found in PATH");
}

Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& o) {
  if (argv.empty() || argv[0].empty()) return fail("spawn: empty command");
  auto program = find_program(argv[0]);
  if (!program) return fail_errno(ENOENT, "cannot start " + argv[0] + ": not found in PATH");

  // Everything the child needs, before fork.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.push_back(*e);
  for (const auto& kv : o.env_add) env.push_back(const_cast<char*>(kv.c_str()));
  env.push_back(nullptr);
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  for (int c : o.cpus)
    if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &cpus);
  // The cgroup.procs files to join, in order; a failure names its index.
  std::vector<std::filesystem::path> join_dirs;
  if (!o.cgroup_dir.empty()) join_dirs.push_back(o.cgroup_dir);
  for (const auto& d : o.extra_cgroup_dirs)
    if (!d.empty()) join_dirs.push_back(d);
  std::vector<std::string> procs;
  for (const auto& d : join_dirs) procs.push_back((d / "cgroup.procs").string());
  const std::string out = o.output_file.empty() ? std::string("/dev/null") : o.output_file.string();
  const int out_flags = o.output_file.empty() ? O_WRONLY : (O_WRONLY | O_CREAT | O_APPEND);

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return fail_errno("cannot start " + argv[0] + ": pipe");
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    return fail_errno(e, "cannot fork for " + argv[0]);
  }
  if (pid == 0) {
    int at = 0;  // which cgroup of join_dirs (kCgroup)
    const auto die = [&](int stage) {
      int report[3] = {stage, errno, at};
      (void)!::write(err_pipe[1], report, sizeof report);
      ::_exit(127);
    };
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (o.die_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (o.new_session) {
      if (::setsid() < 0) die(kSession);
    } else if (o.own_process_group && ::setpgid(0, 0) != 0) {
      die(kSession);
    }
    for (; at < static_cast<int>(procs.size()); ++at) {
      const int fd = ::open(procs[static_cast<std::size_t>(at)].c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::write(fd, "0", 1) != 1) die(kCgroup);  // "0": the writing process
      ::close(fd);
    }
    if (!o.cpus.empty() && ::sched_setaffinity(0, sizeof cpus, &cpus) != 0) die(kAffinity);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int fd_out =
        o.output_fd >= 0 ? o.output_fd : ::open(out.c_str(), out_flags | O_CLOEXEC, 0644);
    if (in < 0 || fd_out < 0) die(kOutput);
    ::dup2(in, 0);
    ::dup2(fd_out, 1);
    ::dup2(fd_out, 2);
    ::execve(program->c_str(), args.data(), env.data());
    die(kExec);
  }
  ::close(err_pipe[1]);
  int report[3] = {0, 0, 0};
  ssize_t n;
  do {
    n = ::read(err_pipe[0], report, sizeof report);
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n != static_cast<ssize_t>(sizeof report)) return pid;  // EOF: exec succeeded
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string where;
  switch (report[0]) {
    case kSession:
      where = o.new_session ? "setsid" : "setpgid";
      break;
    case kCgroup:
      where = "joining cgroup " + (report[2] >= 0 && report[2] < static_cast<int>(join_dirs.size())
                                       ? join_dirs[static_cast<std::size_t>(report[2])].string()
                                       : std::string("?"));
      break;
    case kAffinity:
      where = "setting CPU affinity";
      break;
    case kOutput:
      where = "opening " + out;
      break;
    default:
      where = "exec";
  }
  return fail_errno(report[1], "cannot start " + argv[0] + " (" + where + ")");
}

std::optional<int> try_reap(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return std::nullopt;
  if (r < 0) return errno == ECHILD ? std::optional<int>(-1) : std::nullopt;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return std::nullopt;
}

void terminate_and_reap(pid_t pid, bool process_group, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  const pid_t target = process_group ? -pid : pid;
  if (try_reap(pid)) {
    if (process_group) ::kill(target, SIGKILL);  // leftovers of an ended leader's group
    return;
  }
  ::kill(target, SIGTERM);
  const auto deadline = Clock::now() + grace;
  while (Clock::now() < deadline) {
    if (try_reap(pid)) {
      if (process_group) ::kill(target, SIGKILL);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(target, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

Result<int> run_wait(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                     const std::filesystem::path& output_file, const std::function<bool()>& stop) {
  SpawnOptions o;
  o.output_file = output_file;
  auto pid = spawn(argv, o);
  if (!pid) return std::unexpected(pid.error());
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (auto status = try_reap(*pid)) return *status;
    const bool stopped = stop && stop();
    if (stopped || Clock::now() >= deadline) {
      terminate_and_reap(*pid, true, std::chrono::milliseconds(500));
      return fail(stopped ? argv[0] + " ended early: stop requested"
                          : argv[0] + " did not finish within " + std::to_string(timeout.count()) +
                                " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Result<CommandOutput> run_capture(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout,
                                  const std::function<bool()>& stop) {
  constexpr std::size_t kMaxOutput = 65536;
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return fail_errno("cannot run " + argv.at(0) + ": pipe");
  SpawnOptions o;
  o.output_fd = pipefd[1];
  auto pid = spawn(argv, o);
  ::close(pipefd[1]);
  if (!pid) {
    ::close(pipefd[0]);
    return std::unexpected(pid.error());
  }
  CommandOutput result;
  const auto deadline = Clock::now() + timeout;
  bool open = true, ended = false;
  std::optional<int> status;
  char buf[4096];
  while (!status) {
    if (open) {
      pollfd p{pipefd[0], POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) {
        const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
        if (n > 0 && result.output.size() < kMaxOutput)
          result.output.append(buf, static_cast<std::size_t>(n));
        if (n == 0) open = false;
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    status = try_reap(*pid);
    if (!status && !ended && (Clock::now() >= deadline || (stop && stop()))) {
      ::kill(-*pid, SIGKILL);
      ended = true;
    }
  }
  ::fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0 && result.output.size() < kMaxOutput)
    result.output.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  if (result.output.size() > kMaxOutput) result.output.resize(kMaxOutput);
  result.exit_code = ended ? -1 : *status;
  return result;
}

}  // namespace cinergy
