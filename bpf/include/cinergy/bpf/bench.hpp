// Overhead measurement of the BPF accounting program (used by
// `cinergy bench bpf`). Not part of the measurement path: it loads an extra
// empty tp_btf/sched_switch program as the reference and runs stress-ng.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::bpf {

struct SwitchBenchOptions {
  double seconds = 3.0;                // per stress-ng run
  int repetitions = 3;                 // each repetition = 7 stress-ng runs
  int switch_workers = 2;              // stress-ng --switch N
  std::filesystem::path cgroup2_root;  // empty = detect
};

// One repetition. Per-call costs come from the kernel's BPF run-time stats
// (BPF_ENABLE_STATS, the mechanism behind kernel.bpf_stats_enabled): the
// accounting program and the empty program run on the same switches.
struct SwitchBenchRun {
  // (a) stress-ng untracked (another, empty cgroup is registered so the
  // lookup path runs), (b) stress-ng inside a registered cgroup.
  double empty_ns_untracked = 0, acct_ns_untracked = 0;  // run_time_ns / run_cnt
  double empty_ns_tracked = 0, acct_ns_tracked = 0;
  std::uint64_t calls_untracked = 0, calls_tracked = 0;  // run_cnt of the accounting program
  bool empty_attached_first = false;  // attach order (alternates between repetitions)
  // The one-store reference (store_switch.bpf.c) attached first, the empty
  // program second, in a run of its own (stress-ng in the registered cgroup).
  double store_ns_first = 0, empty_ns_after_store = 0;
  // stress-ng --switch bogo ops/s (real time); stats off for these runs.
  // rate_none is the mean of a run just before and one just after the two
  // runs with the accounting program.
  double rate_none = 0, rate_untracked = 0, rate_tracked = 0;
};

// Needs root, BTF and stress-ng. Creates and removes its own cgroups.
Result<std::vector<SwitchBenchRun>> run_switch_bench(const SwitchBenchOptions& options);

}  // namespace cinergy::bpf
