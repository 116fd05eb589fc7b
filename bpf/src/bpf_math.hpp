// Pure parts of the BPF backend: where a key goes in a direct-mapped table,
// and how per-CPU snapshots become series values. Table-tested in tests/bpf.
#pragma once

#include <algorithm>
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
  std::uint32_t cur_gen = 0;   // table generation its slots were looked up under
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
  std::uint64_t program_ns = 0;  // rq->clock domain
  std::uint64_t task_ns = 0;     // rq->clock_task domain: running slices
};

// One CPU's conversion from CLOCK_MONOTONIC to its program and task clocks,
// from the calibration pair its row publishes (the program keeps the
// freshest one: a pair read at a switch whose rq->clock was stale, or with
// the vCPU preempted between the two reads, has a larger offset and is
// refused; cinergy_offer_pair). The task clock lags the program clock by the
// IRQ/steal time the kernel subtracts, known exactly at each handled switch
// (both come from the same rq update).
class ClockEstimate {
 public:
  // A row's pair (calib_mono_ns 0: none yet). The program already keeps the
  // freshest pair (cinergy_offer_pair, cpu_account.h) and times switches
  // against it, so this takes the row's pair as it is: a second filter here
  // would convert "now" with another offset than the program's. The task
  // clock's lag is refreshed at every switch the program handles.
  void update(const RowSnapshot& r) {
    if (r.calib_mono_ns == 0) return;
    offset_ = static_cast<std::int64_t>(r.calib_mono_ns - r.calib_clock_ns);
    task_lag_ = r.calib_clock_ns > r.calib_task_ns ? r.calib_clock_ns - r.calib_task_ns : 0;
    pair_mono_ = r.calib_mono_ns;
  }
  [[nodiscard]] bool valid() const { return pair_mono_ != 0; }
  // mono - program clock, ns, of the row's pair.
  [[nodiscard]] std::int64_t offset_ns() const { return offset_; }
  [[nodiscard]] ClockNow at(std::uint64_t now_mono_ns) const {
    const auto program =
        static_cast<std::uint64_t>(static_cast<std::int64_t>(now_mono_ns) - offset_);
    return {program, program > task_lag_ ? program - task_lag_ : 0};
  }

 private:
  std::int64_t offset_ = 0;      // mono - program clock
  std::uint64_t task_lag_ = 0;   // program clock - task clock at the latest handled switch
  std::uint64_t pair_mono_ = 0;  // calib_mono_ns of the pair taken in
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

// Which rows to check on their own CPU before a read. A row shows the task
// its CPU last saw switching in; on hosts where some switch-outs never reach
// the program (cpu_account.h), a row showing such a task is stale, and a
// tracked task may run there unseen. A check (the adopt program run on that
// CPU: an IPI, ~16 us on a VM) puts the task that really runs in the row.
// Checked: busy rows looked up under older tables (below), and busy rows
// showing an untracked task that is a suspect (a task
// found not running while its row showed it, or whose switch-out the program
// saw missing), or that was not yet found running twice. A task found
// running at two checks at least kConfirmNs apart is "good" and not checked
// again (a task with hidden switch-outs is found not running almost always:
// such threads run for microseconds at a time, so two separate activations
// are the margin against a lucky check; one suspect finding is final). Checks are
// limited to kRatePerS on average (bursts of kBurst), so a host with much
// untracked churn is not flooded with IPIs; rows left unchecked are counted.
class RowVerifier {
 public:
  static constexpr std::size_t kGood = 256, kSuspects = 32;
  static constexpr double kRatePerS = 200, kBurst = 32;
  static constexpr std::uint64_t kConfirmNs = 50'000'000;

  // `table_gen`: the program's current table generation. A busy row whose
  // slots were looked up under older tables is checked too, tracked or not:
  // its task may have been moved into (or out of) a tracked cgroup while it
  // ran, and would otherwise count under its old slots until it switches out.
  [[nodiscard]] bool wants(const RowSnapshot& r, std::uint32_t table_gen) const {
    if (!r.initialized || !r.busy || r.cur_task == 0) return false;
    if (r.cur_gen != table_gen) return true;
    if (r.cur_tracked) return false;
    return is_suspect(r.cur_task) || !contains(good_, r.cur_task);
  }
  // The check at `now_ns` of a row that showed `shown` found `running` on the CPU.
  void learned(std::uint64_t shown, std::uint64_t running, std::uint64_t now_ns) {
    if (shown != running) {
      add_suspect(shown);
      return;
    }
    const auto it = std::find(once_.begin(), once_.end(), shown);
    if (it == once_.end()) {
      once_at_[once_next_ % kGood] = now_ns;
      push(once_, once_next_, shown);
    } else if (now_ns - once_at_[static_cast<std::size_t>(it - once_.begin())] >= kConfirmNs &&
               !contains(good_, shown)) {
      push(good_, good_next_, shown);
    }
  }
  void add_suspect(std::uint64_t task) {
    if (task != 0 && !is_suspect(task)) push(suspects_, suspect_next_, task);
  }
  [[nodiscard]] bool is_suspect(std::uint64_t task) const { return contains(suspects_, task); }
  // One check allowed now (token bucket refilled at kRatePerS)?
  bool take(std::uint64_t now_ns) {
    if (last_ns_ != 0 && now_ns > last_ns_)
      tokens_ =
          std::min(kBurst, tokens_ + static_cast<double>(now_ns - last_ns_) * kRatePerS / 1e9);
    last_ns_ = now_ns;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  template <std::size_t N>
  static bool contains(const std::array<std::uint64_t, N>& a, std::uint64_t t) {
    return std::find(a.begin(), a.end(), t) != a.end();
  }
  template <std::size_t N>
  static void push(std::array<std::uint64_t, N>& a, std::size_t& next, std::uint64_t t) {
    a[next % N] = t;
    ++next;
  }
  std::array<std::uint64_t, kGood> once_{}, once_at_{}, good_{};
  std::array<std::uint64_t, kSuspects> suspects_{};
  std::size_t once_next_ = 0, good_next_ = 0, suspect_next_ = 0;
  double tokens_ = kBurst;
  std::uint64_t last_ns_ = 0;
};

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
