#include "cinergy/orchestrator/noise.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <fstream>
#include <thread>

#include "fs_util.hpp"

namespace cinergy::orchestrator {
namespace fs = std::filesystem;

namespace {

constexpr long kCgroup2SuperMagic = 0x63677270;

// argv[0] resolved against PATH in the parent (execv in the child: nothing
// that allocates between fork and exec in a multi-threaded process).
Result<std::string> resolve_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path_env = std::getenv("PATH");
  std::string path = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    auto dir = path.substr(start, end - start);
    if (!dir.empty()) {
      auto candidate = dir + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return fail(fmt::format("'{}' not found in PATH (install it: scripts/install-deps.sh)", name));
}

class ForkExecRunner final : public ProcessRunner {
 public:
  Result<pid_t> spawn(const SpawnRequest& request) override {
    if (request.argv.empty()) return fail("empty command");
    auto program = resolve_program(request.argv[0]);
    if (!program) return std::unexpected(program.error());

    // Everything the child needs is prepared before fork.
    std::vector<char*> argv;
    for (const auto& a : request.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    for (int c : request.cpus)
      if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &cpus);
    const bool pin = !request.cpus.empty();
    const std::string procs = request.cgroup_procs.string();
    const std::string log = request.log_file.empty() ? "/dev/null" : request.log_file.string();

    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return fail_errno("pipe2 for " + request.argv[0]);
    const pid_t pid = ::fork();
    if (pid < 0) {
      const int err = errno;
      ::close(pipefd[0]);
      ::close(pipefd[1]);
      return fail_errno(err, "fork for " + request.argv[0]);
    }
    if (pid == 0) {
      // Child: async-signal-safe calls only. On failure report {stage, errno}.
      auto die = [&](int stage) {
        int msg[2] = {stage, errno};
        [[maybe_unused]] auto n = ::write(pipefd[1], msg, sizeof msg);
        ::_exit(127);
      };
      ::close(pipefd[0]);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);  // the run ignores it; the worker must not
      if (!procs.empty()) {
        const int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) die(1);
        if (::write(fd, "0", 1) != 1) die(1);  // "0": the writing process itself
        ::close(fd);
      }
      if (pin && ::sched_setaffinity(0, sizeof cpus, &cpus) != 0) die(2);
      const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (in < 0 || out < 0) die(3);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execv(program->c_str(), argv.data());
      die(4);
    }
    ::close(pipefd[1]);
    int msg[2] = {0, 0};
    ssize_t n;
    do {
      n = ::read(pipefd[0], msg, sizeof msg);
    } while (n < 0 && errno == EINTR);
    ::close(pipefd[0]);
    if (n == 0) return pid;  // exec succeeded (the pipe closed on exec)
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    static constexpr const char* kStage[] = {"?", "joining cgroup", "setting CPU affinity",
                                             "opening log", "exec"};
    const int stage = (msg[0] >= 1 && msg[0] <= 4) ? msg[0] : 0;
    std::string what = fmt::format("cannot start {}: {}", request.argv[0], kStage[stage]);
    if (stage == 1) what += " " + procs;
    return fail_errno(msg[1], what);
  }

  void signal(pid_t pid, int sig) override {
    if (pid > 0) ::kill(pid, sig);
  }

  bool reap(pid_t pid) override {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    return r == pid || (r < 0 && errno == ECHILD);
  }
};

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

std::unique_ptr<ProcessRunner> make_process_runner() { return std::make_unique<ForkExecRunner>(); }

std::vector<pid_t> cgroup_pids(const fs::path& cgroup_dir) {
  std::vector<pid_t> pids;
  std::ifstream in(cgroup_dir / "cgroup.procs");
  long v = 0;
  while (in >> v)
    if (v > 0) pids.push_back(static_cast<pid_t>(v));
  return pids;
}

Result<void> remove_cgroup_dir(const fs::path& dir) {
  struct statfs st {};
  if (::statfs(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return ok();
    return fail_errno("cannot stat " + dir.string());
  }
  if (static_cast<long>(st.f_type) == kCgroup2SuperMagic) {
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT)
      return fail_errno("cannot remove cgroup " + dir.string());
    return ok();
  }
  std::error_code ec;
  fs::remove_all(dir, ec);  // a fake tree (tests): the "cgroup files" are plain files
  if (ec) return fail_errno(ec.value(), "cannot remove " + dir.string());
  return ok();
}

std::string make_run_id(pid_t pid, std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return fmt::format("run-{}-{}", pid, buf);
}

std::optional<pid_t> run_id_pid(const std::string& run_id) {
  if (!run_id.starts_with("run-")) return std::nullopt;
  const char* b = run_id.data() + 4;
  const char* e = run_id.data() + run_id.size();
  pid_t pid = 0;
  auto [p, ec] = std::from_chars(b, e, pid);
  if (ec != std::errc{} || p == b || pid <= 0 || (p != e && *p != '-')) return std::nullopt;
  return pid;
}

StaleNoise check_stale_noise(const fs::path& cgroup2_root) {
  StaleNoise result;
  std::error_code ec;
  const auto base = cgroup2_root / "cinergy";
  if (!fs::is_directory(base, ec)) return result;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    if (!entry.is_directory(ec)) continue;
    const auto noise = entry.path() / "noise";
    const auto owner = run_id_pid(entry.path().filename().string());
    const bool has_noise = fs::is_directory(noise, ec);
    const bool holds = has_noise && !cgroup_pids(noise).empty();
    const bool owner_alive = owner && process_alive(*owner) && *owner != ::getpid();
    if (holds || owner_alive) {
      result.busy.push_back(has_noise ? noise : entry.path());
      continue;
    }
    if (has_noise && !remove_cgroup_dir(noise)) continue;
    if (::rmdir(entry.path().c_str()) == 0) result.removed.push_back(entry.path());
  }
  return result;
}

Result<std::unique_ptr<NoiseGroup>> NoiseGroup::create(const fs::path& cgroup2_root,
                                                       const fs::path& relative,
                                                       ProcessRunner& runner, fs::path log_file) {
  std::error_code ec;
  if (!fs::is_directory(cgroup2_root, ec))
    return fail(fmt::format("cgroup2 root {} is not a directory", cgroup2_root.string()));
  std::vector<fs::path> created;
  fs::path dir = cgroup2_root;
  for (const auto& part : relative) {
    dir /= part;
    if (::mkdir(dir.c_str(), 0755) == 0) {
      created.push_back(dir);
    } else if (errno != EEXIST) {
      const int err = errno;
      for (auto it = created.rbegin(); it != created.rend(); ++it) ::rmdir(it->c_str());
      return fail_errno(err, "cannot create cgroup " + dir.string());
    }
  }
  if (!cgroup_pids(dir).empty())
    return fail(
        fmt::format("noise cgroup {} already holds processes (another run?)", dir.string()));
  return std::unique_ptr<NoiseGroup>(
      new NoiseGroup(dir, std::move(created), runner, std::move(log_file)));
}

NoiseGroup::~NoiseGroup() { (void)remove(); }

Result<pid_t> NoiseGroup::add_worker(int load_pct, const std::vector<int>& cpus) {
  if (removed_) return fail("noise cgroup " + dir_.string() + " was already removed");
  if (load_pct < 1 || load_pct > 100)
    return fail(fmt::format("stress-ng load {} % out of [1, 100]", load_pct));
  SpawnRequest request;
  request.argv = {"stress-ng", "-c", "1", "-l", std::to_string(load_pct)};
  request.cgroup_procs = dir_ / "cgroup.procs";
  request.cpus = cpus;
  request.log_file = log_file_;
  auto pid = runner_.spawn(request);
  if (!pid) return pid;
  pids_.push_back(*pid);
  return pid;
}

Result<void> NoiseGroup::kill_all(std::chrono::milliseconds timeout) {
  std::error_code ec;
  if (!fs::exists(dir_, ec)) {
    pids_.clear();
    return ok();
  }
  const auto kill_file = dir_ / "cgroup.kill";
  const bool has_kill = fs::exists(kill_file, ec);
  bool kill_written = false;
  if (has_kill) kill_written = detail::write_text(kill_file, "1").has_value();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (!kill_written) {
      for (pid_t p : cgroup_pids(dir_)) runner_.signal(p, SIGKILL);
      for (pid_t p : pids_) runner_.signal(p, SIGKILL);
    }
    std::erase_if(pids_, [&](pid_t p) { return runner_.reap(p); });
    const auto left = cgroup_pids(dir_);
    if (left.empty() && pids_.empty()) return ok();
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(fmt::format("noise cgroup {} still holds {} process(es) after {} ms",
                              dir_.string(), left.size() + pids_.size(), timeout.count()));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Result<void> NoiseGroup::remove() {
  if (removed_) return ok();
  auto killed = kill_all();
  if (!killed) return killed;
  if (auto r = remove_cgroup_dir(dir_); !r) return r;
  // The parents we created (run-id, maybe "cinergy"): only when empty.
  for (auto it = created_.rbegin(); it != created_.rend(); ++it)
    if (*it != dir_) ::rmdir(it->c_str());
  removed_ = true;
  return ok();
}

}  // namespace cinergy::orchestrator
