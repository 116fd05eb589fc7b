// Helpers for tests that run `cinergy run` as a user does and check it from
// the outside: start and wait for the binary, read its xz traces, watch
// cgroups' cpu.stat while it runs, find anything it left behind.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cinergy/common/line_reader.hpp"

namespace cinergy::test::run {
namespace fs = std::filesystem;

inline const fs::path kCinergy = fs::path(CINERGY_BINARY_DIR) / "cinergy";

inline std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline fs::path cgroup2_root() {
  for (const char* c : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"})
    if (fs::exists(fs::path(c) / "cgroup.threads")) return c;
  return {};
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::optional<std::uint64_t> usage_usec(const fs::path& cg) {
  std::ifstream in(cg / "cpu.stat");
  std::string k;
  std::uint64_t v;
  while (in >> k >> v)
    if (k == "usage_usec") return v;
  return std::nullopt;
}

// Reads cpu.stat every 50 ms, from the outside, of every directory at most
// three levels under the cgroup2 root that `want` accepts (the VM's or a run's
// subject cgroup), while the run goes on.
class CgroupWatcher {
 public:
  struct Reading {
    std::int64_t t_ns;
    std::uint64_t usage_us;
  };
  CgroupWatcher(fs::path root, std::function<bool(const fs::path&)> want)
      : root_(std::move(root)), want_(std::move(want)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~CgroupWatcher() { stop(); }
  void stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<Reading> readings(const fs::path& cg) {
    std::lock_guard lock(mu_);
    return data_[cg];
  }

 private:
  void loop() {
    while (!done_) {
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(root_, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (it.depth() >= 2) it.disable_recursion_pending();
        if (!it->is_directory(ec) || !want_(it->path())) continue;
        const auto t = mono_ns();
        if (auto u = usage_usec(it->path())) {
          std::lock_guard lock(mu_);
          data_[it->path()].push_back({t, *u});
        }
        it.disable_recursion_pending();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  fs::path root_;
  std::function<bool(const fs::path&)> want_;
  std::atomic<bool> done_{false};
  std::mutex mu_;
  std::map<fs::path, std::vector<Reading>> data_;
  std::thread thread_;
};

// The CSV trace (xz streams, one per second), read with cinergy::read_lines.
struct Trace {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
  int col(const std::string& name) const {
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (columns[i] == name) return static_cast<int>(i);
    return -1;
  }
};

inline Trace read_trace(const fs::path& p) {
  Trace t;
  bool header = true;
  auto stats = cinergy::read_lines(p, [&](std::string_view line) {
    std::stringstream ls{std::string(line)};
    std::string c;
    if (header) {
      while (std::getline(ls, c, ',')) t.columns.push_back(c);
      header = false;
      return;
    }
    std::vector<double> row;
    while (std::getline(ls, c, ',')) row.push_back(std::strtod(c.c_str(), nullptr));
    if (row.size() == t.columns.size()) t.rows.push_back(std::move(row));
  });
  EXPECT_TRUE(stats) << stats.error().what();
  if (stats) {
    EXPECT_EQ(stats->compression, cinergy::Compression::xz) << p;
    EXPECT_FALSE(stats->truncated) << p << ": " << stats->problem;
  }
  return t;
}

// Linear interpolation of column `col` at time t_ns (column 0 is t_ns).
inline double at(const Trace& t, int col, double t_ns) {
  auto it = std::lower_bound(t.rows.begin(), t.rows.end(), t_ns,
                             [](const std::vector<double>& r, double v) { return r[0] < v; });
  if (it == t.rows.begin()) return (*it)[static_cast<std::size_t>(col)];
  if (it == t.rows.end()) return t.rows.back()[static_cast<std::size_t>(col)];
  const auto& b = *it;
  const auto& a = *(it - 1);
  const double f = (t_ns - a[0]) / (b[0] - a[0]);
  return a[static_cast<std::size_t>(col)] +
         f * (b[static_cast<std::size_t>(col)] - a[static_cast<std::size_t>(col)]);
}

// A subject's CPU over the same span from both sides: the trace's
// cumulative column, and its cgroup's cpu.stat as the watcher read it from
// the outside (first and last reading inside the trace's time range).
struct CpuComparison {
  std::size_t readings = 0;  // watcher readings inside the trace
  double seconds = 0;        // span between the first and last of them
  double cpu_stat_ns = 0;    // cpu.stat usage over that span
  double trace_ns = 0;       // the trace column over that span (interpolated)
};
// t0_ns: the trace's CLOCK_MONOTONIC origin (meta "t0_monotonic_ns").
inline CpuComparison compare_cpu(const Trace& trace, int col,
                                 const std::vector<CgroupWatcher::Reading>& readings,
                                 double t0_ns) {
  CpuComparison c;
  if (trace.rows.empty() || col < 0) return c;
  const double first_t = trace.rows.front()[0], last_t = trace.rows.back()[0];
  std::vector<CgroupWatcher::Reading> inside;
  for (const auto& r : readings) {
    const double tt = static_cast<double>(r.t_ns) - t0_ns;
    if (tt >= first_t && tt <= last_t) inside.push_back(r);
  }
  c.readings = inside.size();
  if (inside.size() < 2) return c;
  const auto& a = inside.front();
  const auto& b = inside.back();
  c.seconds = static_cast<double>(b.t_ns - a.t_ns) / 1e9;
  c.cpu_stat_ns = static_cast<double>(b.usage_us - a.usage_us) * 1000.0;
  c.trace_ns = at(trace, col, static_cast<double>(b.t_ns) - t0_ns) -
               at(trace, col, static_cast<double>(a.t_ns) - t0_ns);
  return c;
}

struct Child {
  pid_t pid = -1;
  fs::path out;
};

inline Child start_run(const std::vector<std::string>& args, const fs::path& stdout_file) {
  Child c;
  c.out = stdout_file;
  c.pid = fork();
  if (c.pid == 0) {
    const int fd = ::open(stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int efd =
        ::open((stdout_file.string() + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(efd, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(kCinergy.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(kCinergy.c_str(), argv.data());
    ::_exit(127);
  }
  return c;
}

// Waits up to `timeout` for the child; returns its wait status or -1 (then kills it).
inline int wait_child(pid_t pid, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

inline std::string last_line(const std::string& text) {
  auto s = text;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const auto nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

// Processes left behind by a run with this pid: anything in its cgroups
// (stress-ng, a command subject) or a qemu whose command line names `vm_name`.
inline std::vector<std::string> leftovers(pid_t run_pid, const std::string& vm_name) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto cmdline = slurp(e.path() / "cmdline");
    const auto cgroup = slurp(e.path() / "cgroup");
    const auto stat = slurp(e.path() / "stat");
    const auto close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z') continue;
    std::string args = cmdline;
    std::replace(args.begin(), args.end(), '\0', ' ');
    const bool ours_noise =
        cgroup.find("cinergy/run-" + std::to_string(run_pid) + "-") != std::string::npos;
    const bool vm =
        args.find("qemu-system") != std::string::npos && args.find(vm_name) != std::string::npos;
    if (ours_noise || vm) found.push_back(name + ": " + args);
  }
  return found;
}

// Every trace of a run directory was measured with the BPF accounting and
// has no interval beyond its bounds (the sampler's invariants, counted in
// each sidecar's summary); the manifest says bpf too.
inline void expect_exact_traces(const fs::path& dir, const nlohmann::json& manifest) {
  EXPECT_EQ(manifest["cpu_accounting"]["backend"], "bpf") << manifest["cpu_accounting"].dump();
  std::size_t traces = 0;
  for (const auto& phase : manifest["phases"]) {
    const std::string name = phase.value("phase", "?");
    EXPECT_EQ(phase.value("cpu_backend", ""), "bpf") << name;
    const auto meta_path = dir / (phase.value("trace", "") + ".meta.json");
    std::ifstream in(meta_path);
    ASSERT_TRUE(in) << meta_path;
    const auto meta = nlohmann::json::parse(in);
    EXPECT_EQ(meta["cpu_backend"], "bpf") << name;
    const auto& inv = meta["summary"]["invariants"];
    std::cout << "[measure] " << name << ": " << inv["violations"] << " invariant violation(s) in "
              << inv["intervals"] << " intervals (worst cpu " << inv["worst_cpu_ratio"]
              << ", series " << inv["worst_series_ratio"] << ", power " << inv["worst_power_ratio"]
              << ")\n";
    EXPECT_GT(inv["intervals"].get<std::uint64_t>(), 0u) << name;
    EXPECT_EQ(inv["violations"], 0) << name << ": " << inv.dump();
    ++traces;
  }
  EXPECT_GT(traces, 0u);
}

inline bool run_cgroups_left(const fs::path& root, pid_t run_pid) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root / "cinergy", ec))
    if (e.path().filename().string().starts_with("run-" + std::to_string(run_pid) + "-"))
      return true;
  return false;
}

}  // namespace cinergy::test::run
