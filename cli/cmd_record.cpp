// `cinergy record`: sample energy (and subjects' CPU time) for a while, write
// the trace, print the summary. Flag checking and wiring only; the work is in
// the sampler and bpf libraries.
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "cinergy/sampler/energy_source.hpp"
#include "cinergy/sampler/sampler.hpp"
#include "commands.hpp"

namespace cinergy::cli {
namespace {

struct RecordOptions {
  std::optional<double> duration_s;
  double rate_hz = 1000.0;
  sampler::SourceOptions source;
  std::string out;
  bool json = false;
  std::optional<int> pin, fifo;
  std::vector<std::string> cgroups, pids, tids;
  std::string cpu_backend = "auto";
  std::string cgroup2_root;
};

// "PATH[=LABEL]" -> spec. The label is what follows the last '='.
bpf::SubjectSpec subject(bpf::SubjectKind kind, const std::string& arg) {
  bpf::SubjectSpec s;
  s.kind = kind;
  auto eq = arg.rfind('=');
  s.target = eq == std::string::npos ? arg : arg.substr(0, eq);
  s.label = eq == std::string::npos ? "" : arg.substr(eq + 1);
  return s;
}

Result<bool> is_decimal_id(const std::string& flag, const std::string& target) {
  if (target.empty() || target.find_first_not_of("0123456789") != std::string::npos)
    return fail(flag + " " + target + ": not a process/thread id");
  return true;
}

void print_human(const sampler::Summary& s, const std::string& out) {
  if (s.simulated)
    std::printf("SIMULATED power: simulated meter, SPECpower host %s (no real energy measured)\n",
                s.sim_host.c_str());
  std::printf(
      "source %s: %llu samples in %.3f s at %.0f Hz, %llu dropped, %llu missed deadlines, "
      "%llu read errors%s\n",
      s.source.c_str(), static_cast<unsigned long long>(s.samples), s.duration_s, s.rate_hz,
      static_cast<unsigned long long>(s.dropped),
      static_cast<unsigned long long>(s.missed_deadlines),
      static_cast<unsigned long long>(s.read_errors), s.interrupted ? " (interrupted)" : "");
  std::printf("lateness p50 %.1f us, p99 %.1f us, max %.1f us; recorder CPU %.2f %% of one CPU\n",
              s.lateness.p50_us, s.lateness.p99_us, s.lateness.max_us, s.cpu_pct);
  const auto& inv = s.invariants;
  std::printf(
      "invariants: %llu violation(s) in %llu intervals (CPU %llu, host %llu, subjects %llu, "
      "simulated power %llu of %llu windows)\n",
      static_cast<unsigned long long>(inv.violations()),
      static_cast<unsigned long long>(inv.intervals), static_cast<unsigned long long>(inv.cpu_busy),
      static_cast<unsigned long long>(inv.host_busy), static_cast<unsigned long long>(inv.series),
      static_cast<unsigned long long>(inv.sim_power),
      static_cast<unsigned long long>(inv.power_windows));
  if (s.suspect_gaps)
    std::printf("WARNING: %llu reads came after a gap long enough to hide a counter wrap\n",
                static_cast<unsigned long long>(s.suspect_gaps));
  for (const auto& d : s.domains)
    std::printf("  %-16s %12.3f J  %9.3f W%s\n", d.name.c_str(), d.energy_j, d.avg_w,
                s.simulated ? "  (simulated)" : "");
  for (const auto& sub : s.subjects)
    std::printf("  subject %-10s cpu %.3f s, avg %.2f %%, p05/p50/p95 %.2f/%.2f/%.2f %% (%s)%s%s\n",
                sub.label.c_str(), sub.cpu_s, sub.avg_cpu_pct, sub.cpu_pct_p05, sub.cpu_pct_p50,
                sub.cpu_pct_p95, sub.source.c_str(), sub.note.empty() ? "" : ", ",
                sub.note.c_str());
  if (s.host_busy_pct) std::printf("  host busy %.2f %%\n", *s.host_busy_pct);
  for (const auto& n : s.notes) std::printf("note: %s\n", n.c_str());
  if (!out.empty()) std::printf("trace: %s (+ .meta.json)\n", out.c_str());
}

int run_record(const RecordOptions& o) {
  // ---- everything that can be wrong is checked before sampling starts ----
  if (!(o.rate_hz > 0) || o.rate_hz > 100000 || !std::isfinite(o.rate_hz))
    return report_error(fmt::format("--rate must be in (0, 100000] Hz, got {}", o.rate_hz));
  if (o.duration_s && (!(*o.duration_s > 0) || !std::isfinite(*o.duration_s)))
    return report_error(fmt::format("--duration must be > 0 s, got {}", *o.duration_s));

  std::unique_ptr<bpf::CpuAccounting> accounting;
  const bool any_subject = !o.cgroups.empty() || !o.pids.empty() || !o.tids.empty();
  if (any_subject) {
    bpf::Options bo;
    bo.backend = o.cpu_backend;
    bo.cgroup2_root = o.cgroup2_root;
    auto acc = bpf::open_cpu_accounting(bo);
    if (!acc) return report_error(acc.error().what());
    accounting = std::move(*acc);
    if (!accounting->fallback_reason().empty())
      spdlog::warn("CPU accounting uses {}: {}", accounting->backend(),
                   accounting->fallback_reason());
    auto add = [&](bpf::SubjectKind k, const std::string& flag,
                   const std::string& arg) -> Result<void> {
      auto spec = subject(k, arg);
      if (k != bpf::SubjectKind::cgroup) {
        if (auto r = is_decimal_id(flag, spec.target); !r) return std::unexpected(r.error());
      }
      auto idx = accounting->add_subject(spec);
      if (!idx) return std::unexpected(idx.error());
      return ok();
    };
    for (const auto& c : o.cgroups)
      if (auto r = add(bpf::SubjectKind::cgroup, "--cgroup", c); !r)
        return report_error(r.error().what());
    for (const auto& p : o.pids)
      if (auto r = add(bpf::SubjectKind::pid, "--pid", p); !r)
        return report_error(r.error().what());
    for (const auto& t : o.tids)
      if (auto r = add(bpf::SubjectKind::tid, "--tid", t); !r)
        return report_error(r.error().what());
  }

  // The simulated meter follows the host's exact per-CPU busy time when CPU
  // accounting can be opened (then the trace also carries busy_ns:cpuN); else
  // /proc/stat ticks, said in the log.
  if (!accounting && o.source.source == "sim") {
    bpf::Options bo;
    bo.backend = o.cpu_backend;
    bo.cgroup2_root = o.cgroup2_root;
    if (auto acc = bpf::open_cpu_accounting(bo)) {
      accounting = std::move(*acc);
    } else {
      spdlog::warn("simulated meter uses /proc/stat utilisation (10 ms ticks): {}",
                   acc.error().what());
    }
  }
  auto source = sampler::open_energy_source(o.source, accounting.get());
  if (!source) return report_error(source.error().what());
  const bool simulated = (*source)->simulated();
  const std::string sim_host = (*source)->sim_host();

  sampler::SamplerConfig cfg;
  cfg.rate_hz = o.rate_hz;
  cfg.pin_cpu = o.pin;
  cfg.fifo_priority = o.fifo;
  cfg.trace_path = o.out;
  cfg.sysfs_cpu_root = o.source.sysfs_cpu_root;
  cfg.queue_samples = sampler::queue_samples_for(o.rate_hz);
  auto smp = sampler::Sampler::create(std::move(*source), accounting.get(), cfg);
  if (!smp) return report_error(smp.error().what());

  // SIGINT/SIGTERM are blocked here (the sampler threads inherit the mask) and
  // waited for with sigtimedwait: a clean stop without a signal handler.
  sigset_t sigs, old;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, &old);
  if (simulated)
    spdlog::info("SIMULATED power: source sim, SPECpower host {} (no RAPL is read)", sim_host);
  if (auto r = (*smp)->start(); !r) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return report_error(r.error().what());
  }
  spdlog::info(
      "recording at {} Hz{}{}", o.rate_hz,
      o.duration_s ? fmt::format(" for {} s", *o.duration_s) : std::string(" until SIGINT"),
      o.out.empty() ? std::string() : " to " + o.out);
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  bool interrupted = false;
  for (;;) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const double elapsed = static_cast<double>(now.tv_sec - start.tv_sec) +
                           static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9;
    double left = o.duration_s ? *o.duration_s - elapsed : 1.0;
    if (left <= 0) break;
    left = std::min(left, 1.0);
    timespec wait{static_cast<time_t>(left), static_cast<long>((left - std::floor(left)) * 1e9)};
    if (sigtimedwait(&sigs, nullptr, &wait) > 0) {
      interrupted = true;
      break;
    }
  }
  auto summary = (*smp)->stop(interrupted);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);

  if (o.json) {
    auto j = summary.to_json();
    if (!o.out.empty()) j["trace"] = o.out;
    std::printf("%s\n", j.dump().c_str());
  } else {
    print_human(summary, o.out);
  }
  return 0;
}

}  // namespace

void register_record(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<RecordOptions>();
  auto* cmd = app.add_subcommand(
      "record", "Sample every energy domain (and subjects' CPU time) into a trace");
  cmd->add_option("--duration", o->duration_s, "Seconds to record (default: until SIGINT)");
  cmd->add_option("--rate", o->rate_hz, "Samples per second, (0, 100000] (default 1000)");
  cmd->add_option("--source", o->source.source,
                  "auto|powercap|msr|perf|sim (auto never picks sim)");
  cmd->add_option("--powercap-root", o->source.powercap_root,
                  "powercap sysfs root (default /sys/class/powercap)");
  cmd->add_option("--dev-cpu-root", o->source.dev_cpu_root, "MSR device root (default /dev/cpu)");
  cmd->add_option("--perf-root", o->source.perf_sysfs_root, "perf power PMU sysfs directory");
  cmd->add_option("--sysfs-cpu-root", o->source.sysfs_cpu_root,
                  "CPU topology root (default /sys/devices/system/cpu)");
  cmd->add_option("--sim-host", o->source.sim_host,
                  "SPECpower result_id for --source sim (default power_ssj2008-20190730-00996)");
  cmd->add_option("--sim-seed", o->source.sim_seed, "Noise seed of the simulated meter");
  cmd->add_option(
      "--out", o->out,
      "Trace file: .csv.xz (xz), .csv.gz (gzip) or .csv (plain); sidecar <out>.meta.json");
  cmd->add_flag("--json", o->json, "Print the summary as one JSON object");
  cmd->add_option("--pin", o->pin, "Pin the sampling thread to this CPU");
  cmd->add_option("--fifo", o->fifo, "SCHED_FIFO priority of the sampling thread (root)");
  cmd->add_option("--cgroup", o->cgroups, "cgroup2 subject PATH[=LABEL] (repeatable)");
  cmd->add_option("--pid", o->pids, "process subject PID[=LABEL] (repeatable)");
  cmd->add_option("--tid", o->tids, "thread subject TID[=LABEL] (repeatable)");
  cmd->add_option("--cpu-backend", o->cpu_backend, "CPU accounting backend: auto|bpf|procfs");
  cmd->add_option("--cgroup2-root", o->cgroup2_root, "cgroup2 mount (default: detected)");
  cmd->callback([o, &exit_code] { exit_code = run_record(*o); });
}

}  // namespace cinergy::cli
