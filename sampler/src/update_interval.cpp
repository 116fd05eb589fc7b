// measure_update_interval_ms(): how often a source's counter changes (probe).
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cinergy/common/topology.hpp"
#include "cinergy/sampler/energy_source.hpp"

namespace cinergy::sampler {

std::optional<double> measure_update_interval_ms(EnergySource& source, int poll_ms) {
  const std::size_t n = source.domains().size();
  if (n == 0) return std::nullopt;
  std::vector<std::uint64_t> e(n), prev(n);
  source.read(prev);
  std::vector<std::int64_t> changes;
  const std::int64_t end = monotonic_ns() + static_cast<std::int64_t>(poll_ms) * 1'000'000;
  while (monotonic_ns() < end) {
    timespec ts{0, 200'000};
    ::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    source.read(e);
    if (e[0] != prev[0]) changes.push_back(monotonic_ns());
    prev = e;
  }
  if (changes.size() < 3) return std::nullopt;
  std::vector<double> iv;
  for (std::size_t i = 1; i < changes.size(); ++i)
    iv.push_back(static_cast<double>(changes[i] - changes[i - 1]) / 1e6);
  std::nth_element(iv.begin(), iv.begin() + static_cast<long>(iv.size() / 2), iv.end());
  return iv[iv.size() / 2];
}

}  // namespace cinergy::sampler
