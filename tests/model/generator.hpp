// Synthetic scenario A/B/C data in the original long CSV format, from real
// SPECpower server curves, with a known true isolated power per window.
//
// The hidden physics (randomised per host, never read by the model):
// * per logical CPU utilisation u_i in [0, 1]; tasks (stress-ng workers, the
//   VM's vCPU threads, qemu's own threads) are placed greedily on the least
//   loaded CPU, like a load-balancing scheduler;
// * host power = rapl_scale * C(A), where C is the SPECpower curve (monotone
//   cubic through the 11 published points, its load axis read as CPU
//   activity) and A = (1/N) sum u_i^gamma, gamma in [0.6, 0.9]: a CPU busy a
//   fraction u of the time costs more than u of a fully busy one (wake-ups,
//   clocks, caches), so spreading a load over more CPUs costs more, while
//   the curve's concavity keeps the first busy cores the dearest;
// * RAPL-like noise: Gaussian (relative and absolute) plus rare spikes; CPU%
//   noise from 10 ms ticks; values rounded to 2 decimals like the original.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace cinergy::model::testing {

struct SpecCurve {
  std::string result_id;
  std::string system;
  std::string cpu_name;
  int cores = 0;  // physical cores of the whole server
  int chips = 0;  // sockets
  int threads = 0;
  std::array<double, 11> load{};   // 0, actual load fractions at 10..100 %
  std::array<double, 11> watts{};  // idle, 10..100 %
};

// Monotone cubic Hermite interpolation (Fritsch-Carlson) through (x, y),
// x ascending; constant below x.front(), linear beyond x.back().
class MonotoneCurve {
 public:
  MonotoneCurve(std::vector<double> x, std::vector<double> y);
  double operator()(double x) const;

 private:
  std::vector<double> x_, y_, m_;
};

// Reads a SPECpower curves CSV (data/specpower-curves.csv); aborts the test on failure.
std::vector<SpecCurve> load_spec_curves(const std::filesystem::path& csv);

struct HostParams {
  int threads = 32;
  int sockets = 2;
  std::uint64_t seed = 1;
  int windows_per_level = 10;
  int groundtruth_cycles = 5;  // 120 s VM workload cycles in scenario B
  double window_s = 2.0;
};

struct GeneratedHost {
  std::string prefix;
  int threads = 0;
  int vm_vcpus = 4;
  std::string system;  // SPECpower system the curve comes from
  double gamma = 0;    // hidden
  double rapl_scale = 0;
  // True isolated power (no noise) for each cloud-like window, by timestamp.
  std::vector<double> cloud_ts_s;
  std::vector<double> cloud_true_isolated_w;
  double true_idle_w = 0;
};

// Writes <prefix>-training-{25,50,100}.csv, -groundtruth.csv, -cloudlike.csv
// into `dir` for a host with the given curve (a curve of another size is
// fine: only its shape and scale are used).
GeneratedHost generate_host(const SpecCurve& curve, const HostParams& params,
                            const std::filesystem::path& dir);

// The standard accuracy set: 12 hosts from 8 to 160 threads, each with a
// curve of a server of that size (seeded choice).
std::vector<std::pair<SpecCurve, HostParams>> accuracy_hosts(const std::vector<SpecCurve>& curves,
                                                             std::uint64_t seed);

}  // namespace cinergy::model::testing
