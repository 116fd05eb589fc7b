// Pure parts of the BPF backend: where a key goes in a direct-mapped table,
// and how per-CPU snapshots become series values. Table-tested in tests/bpf.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace cinergy::bpf::detail {

// Where a new key may go: free entries are the never-used ones (id 0) and
// those of removed keys (the dead marker), which stay non-zero so lookups of
// colliding keys still reach the overflow map.
template <typename Key>
constexpr bool entry_free(Key id, Key dead) {
  return id == 0 || id == dead;
}

// Where a new key goes in a direct-mapped table of `table_size` (a power of
// 2) entries whose index is key & (table_size - 1); id 0 marks an empty entry.
enum class Placement {
  present,   // the key is already in its direct entry
  direct,    // the direct entry is empty: write it there
  overflow,  // the direct entry holds another key: use the overflow map
};
// `mask` is the table's index mask (size - 1, or smaller in tests); `dead`
// the marker of a removed key.
template <typename Entry, typename Key>
constexpr Placement place_key(std::span<const Entry> table, Key key, std::size_t mask, Key dead) {
  const auto& e = table[static_cast<std::size_t>(key) & mask & (table.size() - 1)];
  if (e.id == key) return Placement::present;
  if (entry_free(static_cast<Key>(e.id), dead)) return Placement::direct;
  return Placement::overflow;
}

// A consistent copy of one CPU's row (see cinergy_cpu_row).
struct RowSnapshot {
  std::uint64_t cur_task = 0;  // kernel address of the task the row believes runs
  std::uint64_t switched_in_ns = 0;
  std::uint64_t busy_since_ns = 0;
  std::uint64_t busy_ns = 0;
  std::array<std::uint32_t, 3> cur_slot{};
  bool cur_tracked = false;
  bool busy = false;
  bool initialized = false;
  std::uint64_t calib_clock_ns = 0;  // program clock at the calibration instant
  std::uint64_t calib_task_ns = 0;   // task clock at the same instant
  std::uint64_t calib_mono_ns = 0;   // CLOCK_MONOTONIC at the same instant (0 = none yet)
};


constexpr std::uint64_t elapsed_ns(std::uint64_t now_ns, std::uint64_t since_ns) {
  return now_ns > since_ns ? now_ns - since_ns : 0;
}

// The program and task clocks "now" of one CPU, from a CLOCK_MONOTONIC "now".
struct ClockNow {
  std::uint64_t program_ns = 0;  // rq->clock domain: busy time
  std::uint64_t task_ns = 0;     // rq->clock_task domain: running slices
};

// From the freshest calibration pair among `rows` (the clocks advance at the
// same rate but for IRQ/steal time, which the task clock leaves out; the pair
// is refreshed at every sample, so neither difference accumulates past one
// interval). Both equal now_mono_ns when no CPU has calibrated yet.
inline ClockNow clocks_now(std::span<const RowSnapshot> rows, std::uint64_t now_mono_ns) {
  const RowSnapshot* best = nullptr;
  for (const auto& r : rows)
    if (r.calib_mono_ns != 0 && (best == nullptr || r.calib_mono_ns > best->calib_mono_ns))
      best = &r;
  if (best == nullptr) return {now_mono_ns, now_mono_ns};
  const std::uint64_t since = elapsed_ns(now_mono_ns, best->calib_mono_ns);
  return {best->calib_clock_ns + since, best->calib_task_ns + since};
}

// Whether a row may be stale: it shows a busy CPU running an untracked task
// whose switch-outs were seen missing (the program's suspects), so a tracked
// task may run there unseen.
inline bool row_suspect(const RowSnapshot& r, std::span<const std::uint64_t> suspects) {
  if (!r.initialized || !r.busy || r.cur_tracked || r.cur_task == 0) return false;
  for (auto t : suspects)
    if (t == r.cur_task) return true;
  return false;
}

// Busy ns of one CPU at `now_ns`: folded busy time plus the current busy run.
constexpr std::uint64_t busy_at(const RowSnapshot& r, std::uint64_t now_ns) {
  if (!r.initialized) return r.busy_ns;
  return r.busy_ns + (r.busy ? elapsed_ns(now_ns, r.busy_since_ns) : 0);
}

// Adds the running slice of the CPU's current task (if tracked) to its slots;
// `now_task_ns` on the task clock, as switched_in_ns. Slot 0 is the sink and
// stays untouched.
inline void add_running_slice(const RowSnapshot& r, std::uint64_t now_task_ns,
                              std::span<std::uint64_t> slot_total_ns) {
  if (!r.cur_tracked) return;
  const std::uint64_t d = elapsed_ns(now_task_ns, r.switched_in_ns);
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
