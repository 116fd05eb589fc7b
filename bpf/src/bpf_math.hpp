// Pure parts of the BPF backend: where a key goes in a direct-mapped table,
// and how per-CPU snapshots become series values. Table-tested in tests/bpf.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace cinergy::bpf::detail {

// Where a new key goes in a direct-mapped table of `table_size` (a power of
// 2) entries whose index is key & (table_size - 1); id 0 marks an empty entry.
enum class Placement {
  present,   // the key is already in its direct entry
  direct,    // the direct entry is empty: write it there
  overflow,  // the direct entry holds another key: use the overflow map
};
template <typename Entry, typename Key>
constexpr Placement place_key(std::span<const Entry> table, Key key) {
  const auto& e = table[static_cast<std::size_t>(key) & (table.size() - 1)];
  if (e.id == key) return Placement::present;
  if (e.id == 0) return Placement::direct;
  return Placement::overflow;
}

// A consistent copy of one CPU's row (see cinergy_cpu_row).
struct RowSnapshot {
  std::uint64_t switched_in_ns = 0;
  std::uint64_t busy_since_ns = 0;
  std::uint64_t busy_ns = 0;
  std::array<std::uint32_t, 3> cur_slot{};
  bool cur_tracked = false;
  bool busy = false;
  bool initialized = false;
};

constexpr std::uint64_t elapsed_ns(std::uint64_t now_ns, std::uint64_t since_ns) {
  return now_ns > since_ns ? now_ns - since_ns : 0;
}

// Busy ns of one CPU at `now_ns`: folded busy time plus the current busy run.
constexpr std::uint64_t busy_at(const RowSnapshot& r, std::uint64_t now_ns) {
  if (!r.initialized) return r.busy_ns;
  return r.busy_ns + (r.busy ? elapsed_ns(now_ns, r.busy_since_ns) : 0);
}

// Adds the running slice of the CPU's current task (if tracked) to its slots.
// Slot 0 is the sink and stays untouched.
inline void add_running_slice(const RowSnapshot& r, std::uint64_t now_ns,
                              std::span<std::uint64_t> slot_total_ns) {
  if (!r.cur_tracked) return;
  const std::uint64_t d = elapsed_ns(now_ns, r.switched_in_ns);
  for (auto s : r.cur_slot)
    if (s != 0 && s < slot_total_ns.size()) slot_total_ns[s] += d;
}

// One slot's contribution to one series (a cgroup directory counts for its
// subject's total and for the direct child it lies under).
struct SlotSeries {
  std::uint32_t slot;
  std::uint32_t series;
};

// raw_ns[series] = sum of slot_total_ns over the series' slots.
inline void sum_series(std::span<const std::uint64_t> slot_total_ns,
                       std::span<const SlotSeries> pairs, std::span<std::uint64_t> raw_ns) {
  for (auto& v : raw_ns) v = 0;
  for (const auto& p : pairs)
    if (p.series < raw_ns.size() && p.slot < slot_total_ns.size())
      raw_ns[p.series] += slot_total_ns[p.slot];
}

}  // namespace cinergy::bpf::detail
