// `cinergy bench accuracy-cpu`: how exact a subject's CPU time is per
// interval, with every CPU saturated, for the bpf and procfs backends.
//
// The subject is a process of known load: one thread pinned to CPU 0 that
// spins, in its own cgroup, beside `stress-ng -c <online CPUs>` hogs (not in
// the cgroup) that keep every CPU busy and preempt it, and the reader, at
// any moment. The reference is independent of both backends: the spinning
// thread itself records (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID) pairs
// every ~5 us into shared memory. The reader samples the backend at 1 kHz
// (CpuAccounting::read and its instant) and, for windows of 1, 10 and
// 100 ms, compares the backend's CPU time over each window with the
// thread's own (interpolated at the window's two instants): the error in %
// of one CPU over the window. Reported: mean, p50, p99 and max of |error|.
// Root only (BPF, cgroups); numbers on a shared machine are measurements.
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "cinergy/common/cgroup.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"
#include "cinergy/common/topology.hpp"
#include "commands.hpp"

namespace cinergy::cli {
namespace {

namespace fs = std::filesystem;

struct AccuracyOptions {
  double seconds = 10;
  std::vector<std::string> backends = {"bpf", "procfs"};
};

// Written by the spinning child, read by the bench after it ended.
struct SelfSample {
  std::int64_t mono_ns, cpu_ns;
};
// One self-sample every kSelfEveryNs of running (the reference's resolution:
// a window's reference is off by at most about that at each end).
constexpr std::int64_t kSelfEveryNs = 5'000;
constexpr std::size_t kMaxSelfSamples = 16'000'000;  // 80 s at one per 5 us (touched pages only)

std::int64_t clock_of(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The thread's CPU time at `t` from its own samples (linear between the two
// around t; they are ~5 us of running apart, so the interpolation error is at
// most about that much CPU per instant, even across a preemption).
double reference_at(const SelfSample* s, std::size_t n, std::int64_t t) {
  const SelfSample* it = std::lower_bound(
      s, s + n, t, [](const SelfSample& a, std::int64_t v) { return a.mono_ns < v; });
  if (it == s) return static_cast<double>(s[0].cpu_ns);
  if (it == s + n) return static_cast<double>(s[n - 1].cpu_ns);
  const SelfSample& b = *it;
  const SelfSample& a = *(it - 1);
  const double f = static_cast<double>(t - a.mono_ns) / static_cast<double>(b.mono_ns - a.mono_ns);
  return static_cast<double>(a.cpu_ns) + f * static_cast<double>(b.cpu_ns - a.cpu_ns);
}

struct ErrorStats {
  std::size_t windows = 0;
  double mean_pct = 0, p50_pct = 0, p99_pct = 0, max_pct = 0;
};

ErrorStats stats_of(std::vector<double> abs_err_pct) {
  ErrorStats e;
  e.windows = abs_err_pct.size();
  if (abs_err_pct.empty()) return e;
  std::sort(abs_err_pct.begin(), abs_err_pct.end());
  double sum = 0;
  for (double v : abs_err_pct) sum += v;
  e.mean_pct = sum / static_cast<double>(abs_err_pct.size());
  e.p50_pct = abs_err_pct[abs_err_pct.size() / 2];
  e.p99_pct = abs_err_pct[std::min(abs_err_pct.size() - 1, abs_err_pct.size() * 99 / 100)];
  e.max_pct = abs_err_pct.back();
  return e;
}

struct BackendResult {
  std::string backend;
  std::size_t samples = 0;
  double subject_cpu_pct = 0;  // the spinner's share of one CPU under saturation
  std::vector<std::pair<int, ErrorStats>> by_window_ms;
};

Result<BackendResult> measure(const std::string& backend, const AccuracyOptions& o,
                              const fs::path& cg_root) {
  const fs::path cg = cg_root / fmt::format("cinergy-bench-accuracy-{}", ::getpid());
  if (auto r = make_cgroup(cg); !r) return std::unexpected(r.error());
  struct Cleanup {
    fs::path dir;
    ~Cleanup() { (void)kill_and_remove_cgroup(dir, std::chrono::seconds(5)); }
  } cleanup{cg};

  auto* shm =
      static_cast<SelfSample*>(::mmap(nullptr, kMaxSelfSamples * sizeof(SelfSample),
                                      PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (shm == MAP_FAILED) return fail_errno("bench accuracy-cpu: cannot map shared memory");
  struct Unmap {
    void* p;
    ~Unmap() { ::munmap(p, kMaxSelfSamples * sizeof(SelfSample)); }
  } unmap{shm};
  auto* count = new (&shm[0]) std::atomic<std::uint64_t>(0);  // slot 0 holds the count
  auto* self = shm + 1;

  // The subject: joins the cgroup, pins itself to CPU 0 and spins, writing
  // its own CPU clock, until killed.
  const pid_t spinner = ::fork();
  if (spinner < 0) return fail_errno("bench accuracy-cpu: fork");
  if (spinner == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!write_file(cg / "cgroup.procs", "0")) ::_exit(2);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    ::sched_setaffinity(0, sizeof one, &one);
    std::uint64_t n = 0;
    std::int64_t last = 0;
    while (n + 1 < kMaxSelfSamples) {
      const std::int64_t now = clock_of(CLOCK_MONOTONIC);
      if (now - last < kSelfEveryNs) continue;
      self[n] = {now, clock_of(CLOCK_THREAD_CPUTIME_ID)};
      count->store(++n, std::memory_order_release);
      last = now;
    }
    ::_exit(0);
  }
  struct Reap {
    pid_t pid;
    ~Reap() { terminate_and_reap(pid, false, std::chrono::seconds(1)); }
  } reap{spinner};

  bpf::Options ao;
  ao.backend = backend;
  ao.cgroup2_root = cg_root;
  auto acc = bpf::open_cpu_accounting(ao);
  if (!acc) return std::unexpected(acc.error());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // spinner in its cgroup
  if (auto s = (*acc)->add_subject({bpf::SubjectKind::cgroup, cg.string(), "spinner"}); !s)
    return std::unexpected(s.error());

  std::vector<std::uint64_t> series((*acc)->series().size()), busy((*acc)->cpu_count());
  std::vector<std::pair<std::int64_t, std::uint64_t>> samples;
  samples.reserve(static_cast<std::size_t>(o.seconds * 1000) + 16);
  const std::int64_t start = clock_of(CLOCK_MONOTONIC);
  for (std::int64_t k = 1;
       clock_of(CLOCK_MONOTONIC) - start < static_cast<std::int64_t>(o.seconds * 1e9); ++k) {
    const std::int64_t deadline = start + k * 1'000'000;
    timespec ts{static_cast<time_t>(deadline / 1'000'000'000),
                static_cast<long>(deadline % 1'000'000'000)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    std::int64_t at = 0;
    (*acc)->read(series, busy, at);
    samples.emplace_back(at, series[0]);
  }
  const auto n_self = count->load(std::memory_order_acquire);
  if (n_self < 2 || samples.size() < 200)
    return fail("bench accuracy-cpu: the spinner or the reader got no time");

  BackendResult r;
  r.backend = backend;
  r.samples = samples.size();
  const double span = static_cast<double>(samples.back().first - samples.front().first);
  r.subject_cpu_pct =
      100.0 * static_cast<double>(samples.back().second - samples.front().second) / span;
  for (int window_ms : {1, 10, 100}) {
    std::vector<double> errs;
    for (std::size_t i = 0; i + 1 < samples.size();) {
      // The first sample at least `window_ms` after sample i closes the window.
      std::size_t j = i + 1;
      while (j < samples.size() &&
             samples[j].first - samples[i].first < window_ms * 1'000'000 - 50'000)
        ++j;
      if (j >= samples.size()) break;
      const double dt = static_cast<double>(samples[j].first - samples[i].first);
      const double got = static_cast<double>(samples[j].second - samples[i].second);
      const double want = reference_at(self, n_self, samples[j].first) -
                          reference_at(self, n_self, samples[i].first);
      errs.push_back(100.0 * std::abs(got - want) / dt);
      i = j;
    }
    r.by_window_ms.emplace_back(window_ms, stats_of(std::move(errs)));
  }
  return r;
}

}  // namespace

void register_bench_accuracy(CLI::App& bench, int& exit_code) {
  auto o = std::make_shared<AccuracyOptions>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = bench.add_subcommand(
      "accuracy-cpu",
      "Per-interval error of a spinning subject's CPU time under full load, bpf and procfs (root)");
  cmd->add_option("--seconds", o->seconds, "Seconds per backend")->check(CLI::Range(1.0, 60.0));
  cmd->add_option("--backend", o->backends, "Backends to measure (bpf, procfs)")
      ->check(CLI::IsMember({"bpf", "procfs"}));
  cmd->add_flag("--json", *json, "JSON on stdout");
  cmd->callback([o, json, &exit_code] {
    if (::geteuid() != 0) {
      exit_code = report_error("bench accuracy-cpu needs root (BPF, cgroups)");
      return;
    }
    auto root = cgroup2_mount();
    if (!root) {
      exit_code = report_error(root.error().what());
      return;
    }
    auto topo = read_topology();
    const int online = topo ? topo->threads() : 1;
    // Every CPU saturated: one full-load hog per online CPU, outside the cgroup.
    auto hogs = spawn({"stress-ng", "-c", std::to_string(online), "--quiet"}, [] {
      SpawnOptions s;
      s.die_with_parent = true;
      return s;
    }());
    if (!hogs) {
      exit_code = report_error("bench accuracy-cpu: " + hogs.error().what());
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    nlohmann::json out = {{"online_cpus", online}, {"hogs", online}, {"seconds", o->seconds}};
    std::string table = fmt::format(
        "accuracy-cpu: a thread spinning on CPU 0 beside {} full-load stress-ng hogs; per-window "
        "error against its own CPU clock (sampled every ~5 us), % of one CPU\n"
        "{:<8} {:>8} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9}\n",
        online, "backend", "samples", "its CPU %", "window", "mean", "p50", "p99", "max");
    for (const auto& b : o->backends) {
      auto r = measure(b, *o, *root);
      if (!r) {
        terminate_and_reap(*hogs, true, std::chrono::seconds(2));
        exit_code = report_error(r.error().what());
        return;
      }
      nlohmann::json jb = {{"samples", r->samples}, {"subject_cpu_pct", r->subject_cpu_pct}};
      for (const auto& [w, e] : r->by_window_ms) {
        jb["windows"][std::to_string(w) + "ms"] = {{"windows", e.windows},
                                                   {"mean_abs_error_pct", e.mean_pct},
                                                   {"p50_abs_error_pct", e.p50_pct},
                                                   {"p99_abs_error_pct", e.p99_pct},
                                                   {"max_abs_error_pct", e.max_pct}};
        table += fmt::format("{:<8} {:>8} {:>10.1f} {:>6} ms {:>8.3f} {:>9.3f} {:>9.3f} {:>9.3f}\n",
                             b, r->samples, r->subject_cpu_pct, w, e.mean_pct, e.p50_pct, e.p99_pct,
                             e.max_pct);
      }
      out["backends"][b] = jb;
    }
    terminate_and_reap(*hogs, true, std::chrono::seconds(2));
    if (*json)
      std::printf("%s\n", out.dump(2).c_str());
    else
      std::printf("%s", table.c_str());
    exit_code = 0;
  });
}

}  // namespace cinergy::cli
