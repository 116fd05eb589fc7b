// Pure counter arithmetic for RAPL energy counters (table-tested, no I/O).
//
// Hardware counters are 32-bit in energy units (MSR: 1/2^ESU J) or uJ values
// that wrap at max_energy_range_uj (powercap). A Counter turns successive raw
// readings into a cumulative 64-bit energy in uJ since its first reading:
//   * first reading: baseline, cumulative 0;
//   * cur >= prev: adds cur - prev;
//   * cur <  prev: a wrap: adds modulus - prev + cur;
//   * a reading further than `max_gap_ns` after the previous one may hide a
//     whole extra wrap: it is still applied (one wrap at most is assumed) but
//     counted in suspect_gaps so reports can say so;
//   * a raw value >= modulus is impossible: rejected (the caller counts a read
//     error) and the state is unchanged.
#pragma once

#include <cstdint>

namespace cinergy::sampler {

// MSR_RAPL_POWER_UNIT (Intel 0x606, AMD 0xC0010299): bits 12:8 = ESU, one
// energy unit = 1/2^ESU J. Returns the unit in uJ (ESU 14 -> 61.03515625).
constexpr double energy_unit_uj(std::uint64_t power_unit_msr) {
  const unsigned esu = static_cast<unsigned>((power_unit_msr >> 8) & 0x1F);
  return 1e6 / static_cast<double>(std::uint64_t{1} << esu);
}

inline constexpr std::uint64_t kMsrModulus = std::uint64_t{1} << 32;

// Ceiling power used to decide whether a gap could hide a wrap: above any
// single RAPL domain today (server sockets reach ~500 W).
inline constexpr double kGapCeilingPowerW = 1000.0;

// Time for `modulus_uj` of energy at kGapCeilingPowerW: the longest gap
// between two readings that cannot hide a whole wrap. 1 W = 1 uJ/us.
constexpr std::int64_t max_gap_ns_for(double modulus_uj) {
  return static_cast<std::int64_t>(modulus_uj / kGapCeilingPowerW * 1e3);
}

// Delta in raw units between two readings of a counter that wraps at `modulus`.
struct CounterStep {
  std::uint64_t delta_raw = 0;
  bool wrapped = false;
  bool suspect_gap = false;
};
constexpr CounterStep counter_step(std::uint64_t prev_raw, std::uint64_t cur_raw,
                                   std::uint64_t modulus, std::int64_t dt_ns,
                                   std::int64_t max_gap_ns) {
  CounterStep s;
  if (cur_raw >= prev_raw) {
    s.delta_raw = cur_raw - prev_raw;
  } else {
    s.delta_raw = modulus - prev_raw + cur_raw;
    s.wrapped = true;
  }
  s.suspect_gap = max_gap_ns > 0 && dt_ns > max_gap_ns;
  return s;
}

class Counter {
 public:
  // modulus: raw value at which the counter wraps (2^32 for MSR,
  // max_energy_range_uj for powercap: the kernel's energy_uj runs 0..max, so
  // each wrap may be off by at most one hardware unit). unit_uj: uJ per raw unit.
  constexpr Counter(std::uint64_t modulus, double unit_uj)
      : modulus_(modulus), unit_uj_(unit_uj), max_gap_ns_(max_gap_ns_for(modulus * unit_uj)) {}

  // Feeds a raw reading taken at t_ns. Returns false (state unchanged) for an
  // impossible value (>= modulus).
  constexpr bool update(std::uint64_t raw, std::int64_t t_ns) {
    if (modulus_ != 0 && raw >= modulus_) return false;
    if (!primed_) {
      primed_ = true;
    } else {
      const auto s = counter_step(last_raw_, raw, modulus_, t_ns - last_t_ns_, max_gap_ns_);
      total_raw_ += s.delta_raw;
      wraps_ += s.wrapped ? 1 : 0;
      suspect_gaps_ += s.suspect_gap ? 1 : 0;
    }
    last_raw_ = raw;
    last_t_ns_ = t_ns;
    return true;
  }

  // Cumulative energy since the first reading, uJ (rounded down).
  [[nodiscard]] constexpr std::uint64_t energy_uj() const {
    return static_cast<std::uint64_t>(static_cast<double>(total_raw_) * unit_uj_);
  }
  [[nodiscard]] constexpr std::uint64_t total_raw() const { return total_raw_; }
  [[nodiscard]] constexpr std::uint64_t wraps() const { return wraps_; }
  [[nodiscard]] constexpr std::uint64_t suspect_gaps() const { return suspect_gaps_; }
  [[nodiscard]] constexpr bool primed() const { return primed_; }
  [[nodiscard]] constexpr std::int64_t max_gap_ns() const { return max_gap_ns_; }

 private:
  std::uint64_t modulus_;
  double unit_uj_;
  std::int64_t max_gap_ns_;
  std::uint64_t last_raw_ = 0, total_raw_ = 0, wraps_ = 0, suspect_gaps_ = 0;
  std::int64_t last_t_ns_ = 0;
  bool primed_ = false;
};

// Parses an unsigned decimal from a sysfs read ("123\n"). Hot path: no
// allocation, no exceptions. Returns false for empty input, a non-digit before
// the optional trailing newline/space, or overflow.
constexpr bool parse_u64(const char* data, std::size_t size, std::uint64_t& out) {
  std::size_t n = size;
  while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == ' ' || data[n - 1] == '\0')) --n;
  if (n == 0) return false;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = data[i];
    if (c < '0' || c > '9') return false;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

}  // namespace cinergy::sampler
