// RAII helpers for the kernel tier: test cgroups and child processes that are
// always cleaned up (children killed by PID, cgroups emptied and removed),
// even when an assertion fails.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "cinergy/common/cgroup.hpp"

// Skips (with the reason) unless root, a cgroup2 mount and BTF are there.
#define CINERGY_REQUIRE_BPF_TIER()                                                            \
  do {                                                                                        \
    CINERGY_REQUIRE_ROOT();                                                                   \
    if (::cinergy::test::cgroup2_root_or_empty().empty()) GTEST_SKIP() << "no cgroup2 mount"; \
    if (!std::filesystem::exists("/sys/kernel/btf/vmlinux"))                                  \
      GTEST_SKIP() << "no BTF at /sys/kernel/btf/vmlinux";                                    \
  } while (0)

namespace cinergy::test {

inline std::filesystem::path cgroup2_root_or_empty() {
  auto r = cgroup2_mount();
  return r ? *r : std::filesystem::path{};
}

inline std::optional<std::uint64_t> cpu_stat_usage_ns(const std::filesystem::path& dir) {
  std::ifstream in(dir / "cpu.stat");
  std::string key;
  std::uint64_t v = 0;
  while (in >> key >> v)
    if (key == "usage_usec") return v * 1000;
  return std::nullopt;
}

// A cgroup2 directory cinergy-test-<pid>-<name> under the root, plus any
// sub-directories made with mkdir(); all removed (deepest first) at scope exit
// once empty.
class TestCgroup {
 public:
  TestCgroup(const std::filesystem::path& root, const std::string& name)
      : path_(root / ("cinergy-test-" + std::to_string(::getpid()) + "-" + name)) {
    std::filesystem::create_directory(path_);
    dirs_.push_back(path_);
  }
  ~TestCgroup() {
    // Only tasks this test started can be in its own cgroups (stress-ng
    // workers whose parent was killed, for instance): cgroup.kill ends them.
    for (const auto& d : dirs_) {
      std::ofstream kill(d / "cgroup.kill");
      kill << "1";
    }
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      for (int i = 0; i < 500; ++i) {  // up to 5 s for exiting tasks to leave
        if (::rmdir(it->c_str()) == 0 || errno == ENOENT) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;

  std::filesystem::path mkdir(const std::string& rel) {
    auto p = path_ / rel;
    std::filesystem::create_directories(p);
    dirs_.push_back(p);
    return p;
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::vector<std::filesystem::path> dirs_;
};

// A child started with fork/exec (argv, no shell unless asked), moved into a
// cgroup and optionally pinned before exec. Killed by PID at scope exit.
class Child {
 public:
  Child(std::vector<std::string> argv, const std::filesystem::path& cgroup = {}, int cpu = -1) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    auto procs = (cgroup / "cgroup.procs").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      if (!cgroup.empty()) {
        int fd = ::open(procs.c_str(), O_WRONLY);
        if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(126);
        ::close(fd);
        // Sleep once so the next slice starts inside the cgroup: a task that
        // moves itself is counted from its next switch (see docs/bpf.md).
        timespec ts{0, 1'000'000};
        ::nanosleep(&ts, nullptr);
      }
      if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (::sched_setaffinity(0, sizeof set, &set) != 0) ::_exit(125);
      }
      int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) {
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  // Exit status (as from waitpid), or -1.
  int wait() {
    int status = -1;
    if (pid_ > 0 && !reaped_ && ::waitpid(pid_, &status, 0) == pid_) reaped_ = true;
    return status;
  }
  void kill_and_wait() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// One stress-ng CPU worker per {load %, cgroup}, all at once for `seconds`;
// true when every one exited with status 0.
struct StressWorker {
  int load_pct;
  std::filesystem::path cgroup;
};
inline bool run_stress_workers(std::initializer_list<StressWorker> workers, double seconds) {
  std::vector<std::unique_ptr<Child>> children;
  for (const auto& w : workers)
    children.push_back(std::make_unique<Child>(
        std::vector<std::string>{"stress-ng", "-c", "1", "-l", std::to_string(w.load_pct), "-t",
                                 std::to_string(seconds), "--quiet"},
        w.cgroup));
  bool ok = true;
  for (auto& c : children) ok = c->wait() == 0 && ok;
  return ok;
}

}  // namespace cinergy::test
