#include "process_util.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "cinergy/orchestrator/run.hpp"

extern char** environ;

namespace cinergy::orchestrator::detail {

Result<CommandResult> run_command(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout) {
  if (argv.empty()) return fail("empty command");
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return fail_errno("pipe2 for " + argv[0]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);  // the run ignores SIGPIPE; the command gets the default
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(pipefd[1]);
  if (rc != 0) {
    ::close(pipefd[0]);
    return fail_errno(rc, "cannot run " + argv[0]);
  }
  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool open = true;
  bool killed = false;
  int status = 0;
  while (true) {
    if (open) {
      pollfd p{pipefd[0], POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) {
        char buf[4096];
        const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
        if (n > 0 && result.output.size() < 65536)
          result.output.append(buf, static_cast<std::size_t>(n));
        if (n == 0) open = false;
      }
    } else {
      ::usleep(20000);
    }
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (!killed && (std::chrono::steady_clock::now() >= deadline || stop_requested())) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
  }
  // Drain what is left.
  char buf[4096];
  ssize_t n;
  ::fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0 && result.output.size() < 65536)
    result.output.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  result.exit_code = (!killed && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace cinergy::orchestrator::detail
