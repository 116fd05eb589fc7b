// `cinergy serve`: the isolated power of every VM (and of chosen cgroups and
// processes) of this host, continuously, for Prometheus. One agent per host;
// the fleet is Prometheus's job (docs/serve.md).
//
// Every interval (default 1 s) it computes, per subject: its CPU time
// (total and per vCPU, from the exact BPF accounting), its isolated power
// (the host model at its share and intensity), its proportional power (host
// power x its share of the busy CPU time, what other tools report) and their
// ratio; and exposes them at http://LISTEN/metrics (prometheus-cpp, text
// format). Energy comes from the sampler at --rate (RAPL, or the labelled
// simulated meter). VMs are libvirt domains followed by lifecycle events
// and a periodic re-list; --cgroup and --pid subjects are followed as they
// appear and go.
//
// Safe by default: listens on 127.0.0.1, serves nothing but GET /metrics,
// reads the host only (read-only libvirt connection, no cgroup created or
// changed), stops cleanly on request_stop() (BPF detached when the Server is
// destroyed).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/sampler/sampler.hpp"

namespace cinergy::serve {

struct ServeOptions {
  std::filesystem::path model_file;  // model.json from `cinergy fit` / `cinergy run` (required)
  std::string listen = "127.0.0.1:9838";       // IPv4 HOST:PORT; port 0 = any free one (logged)
  std::string connect_uri = "qemu:///system";  // libvirt; "none": no VMs, only --cgroup/--pid
  sampler::SourceOptions source;               // auto|powercap|msr|perf|sim and their roots
  double rate_hz = 1000;                       // energy samples per second, (0, 100000]
  double interval_s = 1;                       // figures every this often, [0.1, 3600]
  std::vector<std::string> cgroups;            // PATH[=NAME]: followed while the directory exists
  std::vector<std::string> pids;               // PID[=NAME]: while that process lives
  // Use a model fitted on a host with another number of threads (its curves
  // do not describe this host: refused unless forced).
  bool force = false;
  std::string cpu_backend = "auto";                             // auto|bpf|procfs
  std::filesystem::path cgroup2_root;                           // empty: detected
  std::filesystem::path proc_root = "/proc";                    // injectable for tests
  std::filesystem::path libvirt_run_dir = "/run/libvirt/qemu";  // qemu pid files
  std::chrono::milliseconds relist_period{10'000};              // libvirt re-list safety net
  std::optional<int> pin_cpu, fifo_priority;                    // of the sampling thread
};

class Server {
 public:
  // Checks everything before anything runs: flags, the model against this
  // host (thread counts must match unless --force; both named), the energy
  // source (no RAPL: one line naming --source sim), the CPU accounting, the
  // --cgroup/--pid subjects and that the listen address is free. Errors are
  // one line.
  static Result<std::unique_ptr<Server>> create(ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts sampling, the libvirt watcher and the HTTP endpoint, computes
  // and publishes every interval until request_stop(), then stops them all
  // (within a second) and returns. Errors: the sampler or the endpoint could
  // not start.
  Result<void> run();
  // Thread-safe (not async-signal-safe: call it from a signal-waiting thread).
  void request_stop();
  // The TCP port listened on once run() has started the endpoint; 0 before.
  [[nodiscard]] int port() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cinergy::serve
