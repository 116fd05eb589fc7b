// `cinergy bench bpf`: per-switch cost of the accounting program against an
// empty tp_btf/sched_switch program (and a one-store program), and the
// context-switch rate with and without it, under stress-ng --switch.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "cinergy/bpf/bench.hpp"
#include "cinergy/bpf/cpu_accounting.hpp"
#include "cinergy/common/cgroup.hpp"
#include "empty_switch.skel.h"
#include "libbpf_log.hpp"
#include "prog_ids.hpp"
#include "store_switch.skel.h"

namespace cinergy::bpf {
namespace fs = std::filesystem;

namespace {

// A cgroup made and removed by the bench (tasks left in it are ours: killed).
class BenchCgroup {
 public:
  explicit BenchCgroup(fs::path p) : path_(std::move(p)) {
    std::error_code ec;
    fs::create_directory(path_, ec);
    ok_ = !ec;
  }
  ~BenchCgroup() {
    std::ofstream(path_ / "cgroup.kill") << "1";
    for (int i = 0; i < 500 && ::rmdir(path_.c_str()) != 0 && errno != ENOENT; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BenchCgroup(const BenchCgroup&) = delete;
  BenchCgroup& operator=(const BenchCgroup&) = delete;
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  bool ok_ = false;
};

// Runs stress-ng --switch N for `seconds` inside `cgroup`; returns bogo ops/s
// (real time) from its YAML metrics.
Result<double> run_stress_switch(const fs::path& cgroup, int workers, double seconds) {
  char yaml_tmpl[] = "/tmp/cinergy-bench-XXXXXX";
  int yfd = ::mkstemp(yaml_tmpl);
  if (yfd < 0) return fail_errno("cannot create a temporary file");
  ::close(yfd);
  const std::string yaml = yaml_tmpl;
  // No --quiet: it also drops the metrics from the YAML file.
  std::vector<std::string> argv = {"stress-ng",
                                   "--switch",
                                   std::to_string(workers),
                                   "-t",
                                   std::to_string(static_cast<int>(seconds + 0.5)) + "s",
                                   "--metrics-brief",
                                   "--yaml",
                                   yaml};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const auto procs = (cgroup / "cgroup.procs").string();
  pid_t pid = ::fork();
  if (pid < 0) return fail_errno("fork");
  if (pid == 0) {
    int fd = ::open(procs.c_str(), O_WRONLY);
    if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(126);
    ::close(fd);
    timespec ts{0, 1'000'000};
    ::nanosleep(&ts, nullptr);  // start the next slice inside the cgroup
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::ifstream in(yaml);
  std::string line;
  double rate = -1;
  while (std::getline(in, line)) {
    auto k = line.find("bogo-ops-per-second-real-time:");
    if (k != std::string::npos) rate = std::stod(line.substr(k + 30));
  }
  ::unlink(yaml.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || rate < 0)
    return fail("stress-ng --switch failed (exit status " + std::to_string(status) +
                "; is stress-ng installed?)");
  return rate;
}

struct Stats {
  std::uint64_t cnt = 0, ns = 0;
};
Stats prog_stats(int fd) {
  bpf_prog_info info{};
  __u32 len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return {};
  return {info.run_cnt, info.run_time_ns};
}
double per_call(Stats a, Stats b) {
  return b.cnt > a.cnt ? static_cast<double>(b.ns - a.ns) / static_cast<double>(b.cnt - a.cnt) : 0;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

// The empty reference program, loaded (not attached: the caller picks the
// attach order), destroyed with its owner.
using EmptyProgram = std::unique_ptr<empty_switch, decltype(&empty_switch__destroy)>;
Result<EmptyProgram> load_empty() {
  EmptyProgram p(empty_switch__open_and_load(), &empty_switch__destroy);
  if (!p) return fail_errno("cannot load the empty reference program");
  return p;
}

// Opens the accounting backend with `dummy` registered (so the table probes
// run) and returns it with the id of its program.
Result<std::pair<std::unique_ptr<CpuAccounting>, int>> open_acct(const fs::path& root,
                                                                 const fs::path& dummy) {
  auto before = detail::prog_ids_named("cinergy_sched");
  Options o;
  o.backend = "bpf";
  o.cgroup2_root = root;
  auto acct = open_cpu_accounting(o);
  if (!acct) return std::unexpected(acct.error());
  if (auto r = (*acct)->add_subject({SubjectKind::cgroup, dummy.string(), "idle"}); !r)
    return std::unexpected(r.error());
  int fd = -1;
  for (auto id : detail::prog_ids_named("cinergy_sched"))
    if (!before.contains(id)) fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return fail("cannot find the loaded accounting program");
  return std::pair{std::move(*acct), fd};
}

}  // namespace

Result<std::vector<SwitchBenchRun>> run_switch_bench(const SwitchBenchOptions& options) {
  if (::geteuid() != 0) return fail("bench bpf needs root");
  fs::path root = options.cgroup2_root;
  if (root.empty()) {
    auto r = cgroup2_mount();
    if (!r) return std::unexpected(r.error());
    root = *r;
  }
  const auto tag = "cinergy-bench-" + std::to_string(::getpid());
  BenchCgroup work(root / (tag + "-switch"));
  BenchCgroup dummy(root / (tag + "-idle"));
  if (!work.ok() || !dummy.ok())
    return fail_errno("cannot create bench cgroups under " + root.string());

  std::vector<SwitchBenchRun> runs;
  for (int rep = 0; rep < options.repetitions; ++rep) {
    SwitchBenchRun run;

    {  // per-call costs, both programs on the same switches, stats on.
      // Attach order alternates between repetitions: the first program on a
      // tracepoint can pay cache/TLB misses the second then finds warm.
      detail::route_libbpf_logs_to_spdlog();
      auto empty_obj = load_empty();
      if (!empty_obj) return std::unexpected(empty_obj.error());
      empty_switch* empty = empty_obj->get();
      const bool empty_first = rep % 2 == 1;
      if (empty_first)
        if (int e = empty_switch__attach(empty); e != 0)
          return fail_errno(-e, "cannot attach the empty reference program");
      auto acct = open_acct(root, dummy.path());
      if (!acct) return std::unexpected(acct.error());
      Fd acct_fd(acct->second);
      if (!empty_first)
        if (int e = empty_switch__attach(empty); e != 0)
          return fail_errno(-e, "cannot attach the empty reference program");
      run.empty_attached_first = empty_first;
      const int empty_fd = bpf_program__fd(empty->progs.cinergy_empty_switch);
      Fd stats(bpf_enable_stats(BPF_STATS_RUN_TIME));
      if (stats.get() < 0) return fail_errno("cannot enable BPF run-time stats");

      auto a0 = prog_stats(acct_fd.get()), e0 = prog_stats(empty_fd);
      if (auto r = run_stress_switch(work.path(), options.switch_workers, options.seconds); !r)
        return std::unexpected(r.error());
      auto a1 = prog_stats(acct_fd.get()), e1 = prog_stats(empty_fd);
      run.acct_ns_untracked = per_call(a0, a1);
      run.empty_ns_untracked = per_call(e0, e1);
      run.calls_untracked = a1.cnt - a0.cnt;

      if (auto r = acct->first->add_subject({SubjectKind::cgroup, work.path().string(), "switch"});
          !r)
        return std::unexpected(r.error());
      a0 = prog_stats(acct_fd.get());
      e0 = prog_stats(empty_fd);
      if (auto r = run_stress_switch(work.path(), options.switch_workers, options.seconds); !r)
        return std::unexpected(r.error());
      a1 = prog_stats(acct_fd.get());
      e1 = prog_stats(empty_fd);
      run.acct_ns_tracked = per_call(a0, a1);
      run.empty_ns_tracked = per_call(e0, e1);
      run.calls_tracked = a1.cnt - a0.cnt;
    }
    {  // the one-store reference first on the tracepoint, the empty program second
      std::unique_ptr<store_switch, decltype(&store_switch__destroy)> store_obj(
          store_switch__open(), &store_switch__destroy);
      store_switch* store = store_obj.get();
      if (store == nullptr) return fail_errno("cannot open the one-store reference program");
      const int ncpu = libbpf_num_possible_cpus();
      if (ncpu <= 0) return fail_errno(-ncpu, "cannot count possible CPUs");
      if (int e = bpf_map__set_max_entries(store->maps.store_cpu, static_cast<__u32>(ncpu)); e != 0)
        return fail_errno(-e, "cannot size the one-store reference's map");
      if (int e = store_switch__load(store); e != 0)
        return fail_errno(-e, "cannot load the one-store reference program");
      if (int e = store_switch__attach(store); e != 0)
        return fail_errno(-e, "cannot attach the one-store reference program");
      auto empty_obj = load_empty();
      if (!empty_obj) return std::unexpected(empty_obj.error());
      empty_switch* empty = empty_obj->get();
      if (int e = empty_switch__attach(empty); e != 0)
        return fail_errno(-e, "cannot attach the empty reference program");
      Fd stats(bpf_enable_stats(BPF_STATS_RUN_TIME));
      if (stats.get() < 0) return fail_errno("cannot enable BPF run-time stats");
      const int store_fd = bpf_program__fd(store->progs.cinergy_store_switch);
      const int empty_fd = bpf_program__fd(empty->progs.cinergy_empty_switch);
      auto s0 = prog_stats(store_fd), e0 = prog_stats(empty_fd);
      if (auto r = run_stress_switch(work.path(), options.switch_workers, options.seconds); !r)
        return std::unexpected(r.error());
      auto s1 = prog_stats(store_fd), e1 = prog_stats(empty_fd);
      run.store_ns_first = per_call(s0, s1);
      run.empty_ns_after_store = per_call(e0, e1);
    }
    // Context-switch rate, stats off: no program, the accounting program
    // alone (untracked, then tracked), no program again. The reference is
    // the mean of the two bracketing runs without a program, so a machine
    // whose speed drifts during the repetition (shared hosts) biases neither
    // side.
    auto none_before = run_stress_switch(work.path(), options.switch_workers, options.seconds);
    if (!none_before) return std::unexpected(none_before.error());
    {
      auto acct = open_acct(root, dummy.path());
      if (!acct) return std::unexpected(acct.error());
      Fd acct_fd(acct->second);
      auto r = run_stress_switch(work.path(), options.switch_workers, options.seconds);
      if (!r) return std::unexpected(r.error());
      run.rate_untracked = *r;
      if (auto s = acct->first->add_subject({SubjectKind::cgroup, work.path().string(), "switch"});
          !s)
        return std::unexpected(s.error());
      r = run_stress_switch(work.path(), options.switch_workers, options.seconds);
      if (!r) return std::unexpected(r.error());
      run.rate_tracked = *r;
    }
    auto none_after = run_stress_switch(work.path(), options.switch_workers, options.seconds);
    if (!none_after) return std::unexpected(none_after.error());
    run.rate_none = (*none_before + *none_after) / 2;
    // A program that ran on no switch (stats not counting) would give ratios
    // of 0 or infinity: say so instead.
    for (double ns : {run.acct_ns_untracked, run.empty_ns_untracked, run.acct_ns_tracked,
                      run.empty_ns_tracked, run.store_ns_first, run.empty_ns_after_store})
      if (!(ns > 0))
        return fail(
            "a benchmarked program recorded no run time (BPF run-time stats not counting?)");
    spdlog::info("bench bpf: repetition {}/{} done", rep + 1, options.repetitions);
    runs.push_back(run);
  }
  return runs;
}

}  // namespace cinergy::bpf
