// The running libvirt domains of a host, followed as they start and stop,
// for a long-running measurement (`cinergy serve`): libvirt's lifecycle
// events on its default event loop (run by this object's thread) plus a
// periodic re-list as a safety net, each domain with where its CPU time is
// accounted (the cgroup2 directory holding its emulator/vcpuN children,
// found through its qemu process).
//
// Why it keeps going without libvirt: VMs run on when libvirtd restarts. A
// lost connection (daemon restart, keepalive timeout) is reopened with
// exponential back-off, and until then the last list is kept: callers keep
// measuring those VMs through their cgroups and notice a VM that ends
// meanwhile by its cgroup disappearing. One line is logged when the
// connection is lost and one when it is back, not one per retry.
//
// Read-only connection: nothing is ever changed on the host.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::vm {

struct RunningDomain {
  std::string name;
  std::string uuid;  // "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
  int id = -1;       // libvirt's domain id (changes at every start)
  int vcpus = 0;
  int qemu_pid = 0;
  // Absolute: the directory with emulator/vcpuN children (libvirt's
  // machine/qemu-N-NAME.libvirt-qemu, or .../machine-qemu\x2dN\x2dNAME.scope/libvirt).
  std::filesystem::path cgroup;
  // When its qemu process started, Unix time in s (clock-tick resolution):
  // with the uuid, it tells one run of a domain from the next.
  double started_unix_s = 0;
};

struct DomainWatchOptions {
  std::string uri = "qemu:///system";
  // Re-list every domain this often even without events (safety net).
  std::chrono::milliseconds relist_period{10'000};
  // Back-off of the reconnection attempts, doubling from min to max.
  std::chrono::milliseconds reconnect_min{500};
  std::chrono::milliseconds reconnect_max{30'000};
  // libvirt keepalive: a daemon that stops answering for interval x count is
  // taken as lost (a dead socket is seen at once anyway).
  int keepalive_interval_s = 5;
  int keepalive_count = 3;
  // Host paths, injectable for tests on fake trees.
  std::filesystem::path proc_root = "/proc";
  std::filesystem::path libvirt_run_dir = "/run/libvirt/qemu";  // <name>.pid of each qemu
  std::filesystem::path cgroup2_root;                           // empty: detected
  std::filesystem::path mountinfo = "/proc/self/mountinfo";
};

struct DomainWatchState {
  // Active domains whose cgroup was found, sorted by name.
  std::vector<RunningDomain> domains;
  // Active domains whose cgroup could not be found yet, each "NAME: why"
  // (a domain that is still starting); retried at the next re-list.
  std::vector<std::string> unlocated;
  bool connected = false;
  std::uint64_t generation = 0;  // bumped whenever `domains` changes
  std::uint64_t reconnects = 0;  // connections re-established after a loss
  std::uint64_t events = 0;      // lifecycle events received
  std::uint64_t relists = 0;     // complete re-lists done
};

class DomainWatcher {
 public:
  // Connects (a failure is not an error: it keeps retrying with back-off and
  // state() says disconnected), lists the domains once and starts its
  // thread. Errors: bad options; another DomainWatcher already running in
  // this process (libvirt's default event loop has one runner).
  static Result<std::unique_ptr<DomainWatcher>> start(const DomainWatchOptions& options);
  // Stops the thread (within milliseconds), deregisters and closes.
  ~DomainWatcher();
  DomainWatcher(const DomainWatcher&) = delete;
  DomainWatcher& operator=(const DomainWatcher&) = delete;

  // A copy, under a lock (not for a hot loop).
  [[nodiscard]] DomainWatchState state() const;
  // Cheap: compare with the last seen value before taking state().
  [[nodiscard]] std::uint64_t generation() const;
  // Re-list now instead of at the next period (tests).
  void relist_now();

  struct Impl;

 private:
  explicit DomainWatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cinergy::vm
