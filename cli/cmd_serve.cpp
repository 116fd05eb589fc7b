// `cinergy serve`: flags and signals only; the daemon is the serve library
// (serve/, docs/serve.md).
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <atomic>
#include <memory>
#include <thread>

#include "cinergy/serve/serve.hpp"
#include "commands.hpp"

namespace cinergy::cli {
namespace {

struct Flags {
  serve::ServeOptions o;
  double relist_s = 10;
};

// SIGINT, SIGTERM and SIGHUP are blocked before any thread starts (every
// thread inherits the mask) and taken by one thread with sigtimedwait: a
// clean stop without a signal handler. SIGPIPE is ignored (a scraper that
// hangs up mid-answer must not end the daemon).
int run_serve(Flags& f) {
  f.o.relist_period = std::chrono::milliseconds(static_cast<long>(f.relist_s * 1000));
  if (!(f.relist_s > 0)) return report_error("--relist must be > 0 s");
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t sigs, old;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, &old);

  auto server = serve::Server::create(std::move(f.o));
  if (!server) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return report_error(server.error().what());
  }
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    const timespec tick{0, 100'000'000};
    while (!done.load()) {
      const int sig = sigtimedwait(&sigs, nullptr, &tick);
      if (sig > 0) {
        spdlog::info("{}: stopping", sig == SIGINT    ? "SIGINT"
                                     : sig == SIGTERM ? "SIGTERM"
                                                      : "SIGHUP");
        (*server)->request_stop();
        return;
      }
    }
  });
  auto r = (*server)->run();
  done = true;
  waiter.join();
  server->reset();  // the BPF program is detached here
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!r) return report_error(r.error().what());
  return 0;
}

}  // namespace

void register_serve(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<Flags>();
  auto& o = f->o;
  auto* cmd = app.add_subcommand(
      "serve", "Expose the isolated power of every VM of this host to Prometheus (/metrics)");
  cmd->add_option("--model", o.model_file, "model.json of this host (cinergy fit / cinergy run)")
      ->required();
  cmd->add_option("--listen", o.listen,
                  "IPv4 HOST:PORT of /metrics (default 127.0.0.1:9838; port 0: any free one)");
  cmd->add_option("--connect", o.connect_uri,
                  "libvirt URI (default qemu:///system; none: no VMs, only --cgroup/--pid)");
  cmd->add_option("--source", o.source.source,
                  "auto|powercap|msr|perf|sim (auto never picks the simulated meter)");
  cmd->add_option("--rate", o.rate_hz, "Energy samples per second, (0, 100000] (default 1000)");
  cmd->add_option("--interval", o.interval_s, "Seconds between figures, [0.1, 3600] (default 1)");
  cmd->add_option("--cgroup", o.cgroups,
                  "cgroup2 subject PATH[=NAME], measured while it exists (repeatable)");
  cmd->add_option("--pid", o.pids, "process subject PID[=NAME], while it lives (repeatable)");
  cmd->add_flag("--force", o.force, "Use a model fitted on a host with another number of threads");
  cmd->add_option("--relist", f->relist_s,
                  "Seconds between libvirt re-lists besides its events (default 10)");
  cmd->add_option("--cpu-backend", o.cpu_backend, "CPU accounting backend: auto|bpf|procfs");
  cmd->add_option("--sim-host", o.source.sim_host,
                  "SPECpower result_id for --source sim (default power_ssj2008-20190730-00996)");
  cmd->add_option("--sim-seed", o.source.sim_seed, "Noise seed of the simulated meter");
  cmd->add_option("--pin", o.pin_cpu, "Pin the sampling thread to this CPU");
  cmd->add_option("--fifo", o.fifo_priority, "SCHED_FIFO priority of the sampling thread");
  auto* paths = cmd->add_option_group("host paths", "Where the host is read (tests: fake trees)");
  paths->add_option("--powercap-root", o.source.powercap_root, "powercap sysfs root");
  paths->add_option("--dev-cpu-root", o.source.dev_cpu_root, "MSR device root");
  paths->add_option("--perf-root", o.source.perf_sysfs_root, "perf power PMU sysfs directory");
  paths->add_option("--sysfs-cpu-root", o.source.sysfs_cpu_root, "CPU topology root");
  paths->add_option("--cgroup2-root", o.cgroup2_root, "cgroup2 mount (default: detected)");
  paths->add_option("--libvirt-run-dir", o.libvirt_run_dir,
                    "qemu pid files of libvirt (default /run/libvirt/qemu)");
  cmd->callback([f, &exit_code] { exit_code = run_serve(*f); });
}

}  // namespace cinergy::cli
