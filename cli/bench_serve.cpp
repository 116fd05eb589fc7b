// `cinergy bench serve`: the cost of `cinergy serve` itself, measured from
// the outside on a real daemon (a child process): its CPU time over a window
// while it samples at --rate, exports every --interval and is scraped every
// --scrape-every s, with --subjects cgroup subjects (empty cgroups of the
// bench's own, so the figure is serve's own work); then the latency of
// --scrapes back-to-back scrapes of /metrics, each a new connection as
// Prometheus makes them. Targets (README "Performance"): CPU <= 2 % of one
// CPU at 1 kHz, 1 s, 10 subjects; scrape p99 < 10 ms with 100 subjects.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "cinergy/common/cgroup.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"
#include "cinergy/serve/http_get.hpp"
#include "commands.hpp"

namespace cinergy::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct BenchServeOptions {
  int subjects = 10;
  double seconds = 60;
  double rate_hz = 1000;
  double interval_s = 1;
  double scrape_every_s = 15;
  int scrapes = 500;
  std::string source = "sim";
  std::string cpu_backend = "auto";
  bool json = false;
};

// utime + stime of a process, s (all its threads).
std::optional<double> process_cpu_s(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  const auto paren = text->rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream in(text->substr(paren + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int f = 3; f <= 13 && in >> field; ++f) {
  }
  if (!(in >> utime >> stime)) return std::nullopt;
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::ranges::sort(v);
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

// The bench's own subjects and model, removed at the end.
struct Fixture {
  fs::path dir, cgroups;
  ~Fixture() {
    if (!cgroups.empty()) (void)kill_and_remove_cgroup(cgroups, 5s);
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

int run_bench_serve(const BenchServeOptions& o) {
  if (::geteuid() != 0)
    return report_error("bench serve: needs root (its cgroup subjects, the BPF accounting)");
  if (o.subjects < 1 || o.subjects > 1000) return report_error("--subjects must be 1..1000");
  if (!(o.seconds > 0) || o.scrapes < 1 || !(o.scrape_every_s > 0))
    return report_error("--seconds, --scrapes and --scrape-every must be positive");
  auto root = cgroup2_mount();
  if (!root) return report_error(root.error().what());
  Fixture fx;
  char tmpl[] = "/tmp/cinergy-bench-serve-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return report_error("cannot create a temporary directory");
  fx.dir = tmpl;
  // A model of this host (the figures are not the point here, their cost is).
  const int threads = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  std::ofstream(fx.dir / "model.json")
      << R"({"format":"cinergy-model-1","method":"cinergy","host_threads":)" << threads
      << R"(,"vm_vcpus":2,"fit_range_pct":[0,100],"curves":[{"step_pct":50,"coef":[95,35,-5],)"
      << R"("x_center":50,"x_scale":50,"x_range_pct":[0,100]}]})";
  fx.cgroups = *root / fmt::format("cinergy-bench-serve-{}", ::getpid());
  if (auto r = make_cgroup(fx.cgroups); !r) return report_error(r.error().what());
  std::vector<std::string> argv = {fs::read_symlink("/proc/self/exe").string(),
                                   "serve",
                                   "--model",
                                   (fx.dir / "model.json").string(),
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--connect",
                                   "none",
                                   "--source",
                                   o.source,
                                   "--rate",
                                   fmt::format("{}", o.rate_hz),
                                   "--interval",
                                   fmt::format("{}", o.interval_s),
                                   "--cpu-backend",
                                   o.cpu_backend};
  for (int i = 0; i < o.subjects; ++i) {
    const auto d = fx.cgroups / fmt::format("s{}", i);
    if (auto r = make_cgroup(d); !r) return report_error(r.error().what());
    argv.push_back("--cgroup");
    argv.push_back(fmt::format("{}=s{}", d.string(), i));
  }
  SpawnOptions so;
  so.output_file = fx.dir / "serve.log";
  auto pid = spawn(argv, so);
  if (!pid) return report_error(pid.error().what());
  struct Stop {
    pid_t pid;
    ~Stop() { terminate_and_reap(pid, false, 5s); }
  } stop{*pid};

  const std::regex serving("serving http://127\\.0\\.0\\.1:([0-9]+)/metrics");
  std::smatch m;
  std::string log;
  for (int i = 0; i < 600 && !std::regex_search(log, m, serving); ++i) {
    if (try_reap(*pid)) return report_error("bench serve: cinergy serve ended: " + log);
    std::this_thread::sleep_for(50ms);
    log = read_file(fx.dir / "serve.log").value_or("");
  }
  if (!std::regex_search(log, m, serving))
    return report_error("bench serve: cinergy serve did not start: " + log);
  const std::string url = "http://127.0.0.1:" + m[1].str() + "/metrics";
  std::this_thread::sleep_for(std::chrono::duration<double>(3 * o.interval_s + 1));  // warm up

  // Phase 1: serve's CPU over the window, scraped as Prometheus would.
  const auto cpu0 = process_cpu_s(*pid);
  const auto t0 = Clock::now();
  std::size_t bytes = 0;
  for (auto next = t0; Clock::now() - t0 < std::chrono::duration<double>(o.seconds);) {
    if (auto r = serve::http_get(url, 5s); r) bytes = r->body.size();
    next += std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(o.scrape_every_s));
    std::this_thread::sleep_until(
        std::min(next, t0 + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(o.seconds))));
  }
  const auto cpu1 = process_cpu_s(*pid);
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!cpu0 || !cpu1) return report_error("bench serve: cannot read the daemon's CPU time");
  const double cpu_pct = 100 * (*cpu1 - *cpu0) / wall;

  // Phase 2: back-to-back scrapes, each its own connection.
  std::vector<double> ms;
  std::size_t failed = 0;
  std::string last;
  for (int i = 0; i < o.scrapes; ++i) {
    const auto s0 = Clock::now();
    auto r = serve::http_get(url, 5s);
    const double took = std::chrono::duration<double, std::milli>(Clock::now() - s0).count();
    if (!r || r->status != 200) {
      ++failed;
      continue;
    }
    ms.push_back(took);
    last = std::move(r->body);
  }
  const auto count_in = [&](const std::string& metric) {
    const auto at = last.find("\n" + metric + " ");
    return at == std::string::npos ? -1.0 : std::stod(last.substr(at + metric.size() + 2));
  };
  nlohmann::json j = {{"subjects", o.subjects},
                      {"rate_hz", o.rate_hz},
                      {"interval_s", o.interval_s},
                      {"source", o.source},
                      {"window_s", wall},
                      {"scrape_every_s", o.scrape_every_s},
                      {"serve_cpu_pct", cpu_pct},
                      {"metrics_bytes", bytes},
                      {"scrapes", o.scrapes},
                      {"scrapes_failed", failed},
                      {"scrape_ms",
                       {{"p50", quantile(ms, 0.5)},
                        {"p99", quantile(ms, 0.99)},
                        {"max", ms.empty() ? 0 : *std::ranges::max_element(ms)}}},
                      {"sampler_samples", count_in("cinergy_sampler_samples_total")},
                      {"sampler_dropped", count_in("cinergy_sampler_dropped_total")},
                      {"load_avg_1m", std::stod(read_file("/proc/loadavg").value_or("0"))}};
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf(
        "cinergy serve, %d cgroup subjects, %s at %.0f Hz, figures every %g s:\n"
        "  own CPU %.2f %% of one CPU over %.0f s (scraped every %g s; /metrics %zu bytes)\n"
        "  %d scrapes back to back: p50 %.2f ms, p99 %.2f ms, max %.2f ms, %zu failed\n"
        "  sampler: %.0f samples, %.0f dropped; load average %.2f\n",
        o.subjects, o.source.c_str(), o.rate_hz, o.interval_s, cpu_pct, wall, o.scrape_every_s,
        bytes, o.scrapes, quantile(ms, 0.5), quantile(ms, 0.99),
        j["scrape_ms"]["max"].get<double>(), failed, j["sampler_samples"].get<double>(),
        j["sampler_dropped"].get<double>(), j["load_avg_1m"].get<double>());
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

void register_bench_serve(CLI::App& bench, int& exit_code) {
  auto o = std::make_shared<BenchServeOptions>();
  auto* cmd = bench.add_subcommand(
      "serve", "CPU of cinergy serve and the latency of its /metrics (root; a real daemon)");
  cmd->add_option("--subjects", o->subjects, "cgroup subjects (default 10)");
  cmd->add_option("--seconds", o->seconds, "CPU measurement window (default 60)");
  cmd->add_option("--rate", o->rate_hz, "serve --rate (default 1000)");
  cmd->add_option("--interval", o->interval_s, "serve --interval (default 1)");
  cmd->add_option("--scrape-every", o->scrape_every_s,
                  "Seconds between scrapes during the CPU window (default 15)");
  cmd->add_option("--scrapes", o->scrapes, "Back-to-back scrapes timed afterwards (default 500)");
  cmd->add_option("--source", o->source, "serve --source (default sim)");
  cmd->add_option("--cpu-backend", o->cpu_backend, "serve --cpu-backend (default auto)");
  cmd->add_flag("--json", o->json, "One JSON object");
  cmd->callback([o, &exit_code] { exit_code = run_bench_serve(*o); });
}

}  // namespace cinergy::cli
