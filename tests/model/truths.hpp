// Truths for the accuracy benchmark: scenario A/B/C data sets in the original
// long CSV format, from real SPECpower servers, under several kinds of host
// physics written from first principles, not from either method's structure
// (docs/model.md, "Accuracy against truths", says each one in words).
//
// Every kind works on the same state: per logical CPU the fraction of a
// 2 s window it was busy, on the server's topology (sockets x cores x SMT
// threads, Linux numbering: cpu = thread * cores + core), with tasks placed
// by a scheduler model (stress-ng workers pinned to a socket's CPUs, socket 0
// first, as the paper's protocol; on a host of several sockets also the
// unpinned staircases `cinergy run` adds, placed like the VM's threads,
// which are unpinned). The power of a state:
// * util: the SPECpower curve at the mean utilisation, nothing else;
// * cores: per physical core an awake fraction (busy time plus a C-state
//   exit tail, saturating at 1), SMT siblings sharing their core, per socket
//   an uncore awake while any core is: spreading load costs more;
// * freq: the cores' awake time priced at a frequency that falls with the
//   number of awake cores of the socket (turbo bins) and is capped by a
//   package power limit: the same VM costs more on an idle host;
// * realistic: freq's physics plus leakage that lags the power (thermal
//   time constant), measured as a real host is: CPU % from scheduler ticks,
//   stress-ng workers starting late in a level's first window, the VM's
//   phases not aligned with windows, bursts of background daemons, RAPL
//   energy counters in 2^-14 J units read with jitter, noise proportional
//   to power plus a constant with heavy tails and rare spikes.
// The other kinds are measured with Gaussian noise (proportional plus a
// constant) and the format's 2-decimal rounding.
//
// Truth of a cloud-like window: the same host running only the VM (and the
// background daemons) with the vCPU loads the VM got in that window, without
// measurement noise (realistic: with its own thermal history, the VM alone
// from the start of the scenario).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "generator.hpp"

namespace cinergy::model::testing {

enum class TruthKind { util, cores, freq, realistic };
inline constexpr TruthKind kTruthKinds[] = {TruthKind::util, TruthKind::cores, TruthKind::freq,
                                            TruthKind::realistic};
std::string_view truth_name(TruthKind kind);
std::optional<TruthKind> parse_truth(std::string_view name);

// A server of specpower-curves.csv with its topology.
struct TruthHost {
  SpecCurve spec;
  int sockets = 1;
  int cores_per_socket = 1;
  int smt = 1;  // hardware threads per core
  [[nodiscard]] int threads() const { return sockets * cores_per_socket * smt; }
  [[nodiscard]] std::string vendor() const;  // "intel", "amd" or "other", from the CPU name
};

// Servers of `threads` logical CPUs whose CPU name is of `vendor` ("intel",
// "amd" or "any"), with a topology that divides evenly; empty when none.
std::vector<TruthHost> truth_candidates(const std::vector<SpecCurve>& curves, int threads,
                                        std::string_view vendor);

struct VmShape {
  int vcpus = 4;
  bool skewed = false;  // one busy vCPU, the others idle; else the load even across vCPUs
};

struct TruthCase {
  TruthKind kind = TruthKind::util;
  TruthHost host;
  VmShape vm;
  std::uint64_t seed = 1;  // draws the hidden parameters and every noise
  int windows_per_level = 10;
  int groundtruth_cycles = 5;  // 120 s VM workload cycles in scenario B
};

struct TruthData {
  std::string prefix;
  int threads = 0;
  int vm_vcpus = 0;
  // True isolated power (W) of each cloud-like window, by timestamp (s).
  std::vector<double> cloud_ts_s;
  std::vector<double> cloud_true_w;
  double true_idle_w = 0;  // the host with only its background
};

// Writes <prefix>-training-{25,50,100}.csv (and, with several sockets,
// -training-unpinned-{25,50,100}.csv), -groundtruth.csv and
// -cloudlike.csv into `dir` (created) and returns the truth.
TruthData generate_truth(const TruthCase& c, const std::filesystem::path& dir);

}  // namespace cinergy::model::testing
