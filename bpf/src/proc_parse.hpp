// Pure parsers and counter arithmetic for the procfs backend and for read()
// of the BPF backend. No I/O, no allocation: table-tested in tests/bpf.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace cinergy::bpf::detail {

// First unsigned decimal number at the start of `s` (after spaces).
inline std::optional<std::uint64_t> parse_u64(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p == s.data()) return std::nullopt;
  return v;
}

// "usage_usec N" of a cgroup2 cpu.stat text, in microseconds.
inline std::optional<std::uint64_t> parse_cpu_stat_usage_usec(std::string_view text) {
  constexpr std::string_view key = "usage_usec ";
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (text.substr(pos, key.size()) == key) return parse_u64(text.substr(pos + key.size()));
    auto eol = text.find('\n', pos);
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return std::nullopt;
}

// Field 1 of /proc/PID/task/TID/schedstat: time spent on the CPU, in ns.
inline std::optional<std::uint64_t> parse_schedstat_runtime_ns(std::string_view text) {
  return parse_u64(text);
}

// Busy ticks per CPU from /proc/stat "cpuN user nice system idle iowait irq
// softirq steal guest guest_nice": everything but idle and iowait; guest and
// guest_nice are already inside user and nice, so they are not added again.
// Writes busy_ticks[N] for each cpuN line with N < busy_ticks.size() and
// returns 1 + the highest N seen (0 if none). CPUs absent from the text
// (offline) are left untouched.
inline std::size_t parse_proc_stat_busy_ticks(std::string_view text,
                                              std::span<std::uint64_t> busy_ticks) {
  std::size_t ncpu = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.size() < 4 || line.substr(0, 3) != "cpu" || line[3] < '0' || line[3] > '9') continue;
    line.remove_prefix(3);
    std::uint64_t cpu = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), cpu);
    if (ec != std::errc{}) continue;
    line.remove_prefix(static_cast<std::size_t>(p - line.data()));
    std::uint64_t f[8] = {};
    for (auto& v : f) {
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      auto [q, ec2] = std::from_chars(line.data(), line.data() + line.size(), v);
      if (ec2 != std::errc{}) break;
      line.remove_prefix(static_cast<std::size_t>(q - line.data()));
    }
    // user nice system idle iowait irq softirq steal
    std::uint64_t busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
    ncpu = std::max<std::size_t>(ncpu, cpu + 1);
    if (cpu < busy_ticks.size()) busy_ticks[cpu] = busy;
  }
  return ncpu;
}

// Counter arithmetic for cumulative series --------------------------------

// value - baseline, or 0 if a source restarted below its baseline.
constexpr std::uint64_t since_baseline(std::uint64_t value, std::uint64_t baseline) {
  return value >= baseline ? value - baseline : 0;
}

// Every published series is monotone: a candidate below the previous value
// (a thread that exited and took its time along, a race between a CPU's
// running slice and its folded counter) is held at the previous value.
constexpr std::uint64_t clamp_monotonic(std::uint64_t previous, std::uint64_t candidate) {
  return candidate > previous ? candidate : previous;
}

}  // namespace cinergy::bpf::detail
