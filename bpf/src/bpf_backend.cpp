// The BPF backend: loads cpu_account.bpf.c, registers subjects in its
// direct-mapped tables and reads the per-CPU counters through mmap.
//
// read() = for each CPU, a seqcount-consistent copy of its row and of the used
// slot counters, then "now" (clock_gettime(CLOCK_MONOTONIC), the clock of
// bpf_ktime_get_ns()) read right after the last copy: the instant the values
// hold for. Each CPU adds the running slice (now - switched_in_ns, on the task
// clock) of a tracked current task. No syscalls except those vDSO clock
// reads, no allocation.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <thread>

#include "backends.hpp"
#include "bpf_math.hpp"
#include "cpu_account.h"
#include "cpu_account.skel.h"
#include "libbpf_log.hpp"
#include "proc_parse.hpp"
#include "subjects.hpp"

namespace cinergy::bpf::detail {
namespace fs = std::filesystem;

namespace {

std::uint64_t monotonic_now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Forces one context switch on every CPU this process may run on, so that a
// task already running there (a busy loop that never yields) is switched out
// and back in, and the program sees it: its row gets initialized and, if the
// task was just registered, its slots cached. A pinned thread per CPU that
// starts and ends is enough.
void prime_cpus(std::size_t ncpu) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  std::vector<std::thread> threads;
  for (std::size_t c = 0; c < ncpu && c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &allowed)) continue;
    threads.emplace_back([c] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(c, &one);
      if (::pthread_setaffinity_np(::pthread_self(), sizeof one, &one) == 0) ::sched_yield();
    });
  }
  for (auto& t : threads) t.join();
}

struct SubjectState {
  ResolvedSubject resolved;
};

// What a slot was registered for: one cgroup directory, process or thread.
// A slot is freed when no series counts with it any more (remove_subject).
struct SlotKey {
  enum class Kind : std::uint8_t { none, cgroup, tgid, tid } kind = Kind::none;
  std::uint64_t id = 0;  // cgroup id, tgid or tid
};

// Spins of about 10-40 ns each: a few hundred us at most.
constexpr int kMaxSeqAttempts = 10'000;

// A copy pass over every CPU takes well under a microsecond per CPU. One that
// took longer than this was interrupted (the sampling thread preempted): a
// CPU copied early may have switched since, so values would not hold at
// "now". Such a pass is done again, up to kReadAttempts times.
constexpr std::uint64_t kMaxReadSpanNs = 20'000;
constexpr std::uint64_t kReadSpanPerCpuNs = 250;
constexpr int kReadAttempts = 4;
// Forced calibration pairs per CPU before the baseline (see the constructor).
constexpr int kCalibrationRounds = 8;
// The calibration pair is read a few microseconds after __schedule() updated
// rq->clock (the pick in between): the error of one pair, per CPU.
constexpr std::int64_t kCalibrationErrorNs = 10'000;

// The initial PID namespace's inode (PROC_PID_INIT_INO): the program sees
// global pids (task->pid, task->tgid), this process's /proc the pids of its
// own namespace; they agree only there.
constexpr std::uint64_t kInitPidNamespaceIno = 0xEFFFFFFCu;

class BpfAccounting final : public CpuAccounting {
 public:
  BpfAccounting(fs::path cgroup2_root, fs::path proc_root, cpu_account* skel, void* acct,
                std::size_t acct_bytes, std::size_t ncpu, bool init_pid_namespace)
      : cgroup2_root_(std::move(cgroup2_root)),
        proc_root_(std::move(proc_root)),
        skel_(skel),
        acct_(static_cast<const char*>(acct)),
        acct_bytes_(acct_bytes),
        ncpu_(ncpu),
        max_span_ns_(kMaxReadSpanNs + kReadSpanPerCpuNs * ncpu),
        init_pid_namespace_(init_pid_namespace),
        cg_mask_(skel->rodata->cg_index_mask & (CINERGY_CG_TABLE_SIZE - 1)),
        id_mask_(skel->rodata->id_index_mask & (CINERGY_ID_TABLE_SIZE - 1)),
        slot_key_(CINERGY_MAX_SLOTS),
        slot_total_(CINERGY_MAX_SLOTS, 0),
        cpu_tmp_(CINERGY_MAX_SLOTS, 0),
        busy_base_(ncpu, 0),
        busy_last_(ncpu, 0),
        busy_now_(ncpu, 0),
        rows_(ncpu),
        clocks_(ncpu),
        checked_(ncpu, 0) {
    pairs_.reserve(4 * CINERGY_MAX_SLOTS);
    std::uint64_t now = 0;
    // Each CPU's clock offset is the smallest of its calibration pairs. A
    // late first pair (its clock read delayed after the scheduler's clock
    // update: 14 to 16 us measured on an idle machine) makes extensions to
    // "now" fall short until a prompt pair corrects it, and the correction
    // then lands in one interval. A few forced pairs per CPU before the
    // baseline make the first offset a minimum over several.
    std::vector<std::int64_t> first_offset_ns(ncpu_, 0);
    for (int round = 0; round < kCalibrationRounds; ++round) {
      std::atomic_ref<__u32>(skel_->bss->calib_request).fetch_add(1, std::memory_order_relaxed);
      prime_cpus(ncpu_);
      snapshot(now);
      if (round == 0)
        for (std::size_t c = 0; c < ncpu_; ++c) first_offset_ns[c] = clocks_[c].offset_ns();
    }
    std::int64_t corrected_ns = 0;
    for (std::size_t c = 0; c < ncpu_; ++c)
      corrected_ns = std::max(corrected_ns, first_offset_ns[c] - clocks_[c].offset_ns());
    spdlog::debug("bpf accounting: first calibration pair corrected by up to {} ns", corrected_ns);
    snapshot(now);
    busy_base_ = busy_now_;
  }

  nlohmann::json diagnostics() const override {
    std::uint64_t stale_n = 0, stale_ns = 0, unpaired = 0, adopted = 0;
    for (std::size_t c = 0; c < ncpu_; ++c) {
      const auto* row = reinterpret_cast<const volatile cinergy_cpu_row*>(&cpu(c)->row);
      stale_n += row->stale_n;
      stale_ns += row->stale_ns;
      unpaired += row->unpaired;
      adopted += row->adopted;
    }
    return {{"stale_clock_switches", stale_n},  {"stale_clock_corrected_ns", stale_ns},
            {"unpaired_switch_outs", unpaired}, {"adopted_tasks", adopted},
            {"reads_redone", redone_reads_},    {"reads_slow", slow_reads_},
            {"rows_checked", row_checks_},      {"rows_unchecked", unchecked_rows_}};
  }

  ~BpfAccounting() override {
    if (acct_ != nullptr) {
      // The counters of diagnostics() (cpu_account.h: unpaired switch-outs,
      // adopted tasks, switches with a stale run queue clock), logged.
      const auto d = diagnostics();
      const auto stale_n = d["stale_clock_switches"].get<std::uint64_t>();
      const auto stale_ns = d["stale_clock_corrected_ns"].get<std::uint64_t>();
      spdlog::debug(
          "bpf accounting: {} switch(es) with a stale run queue clock, corrected by {} us "
          "in all ({} us on average)",
          stale_n, stale_ns / 1000, stale_n ? stale_ns / stale_n / 1000 : 0);
      spdlog::debug(
          "bpf accounting: {} tracked switch-out(s) without a seen switch-in, {} running "
          "tracked task(s) found by the timer instead; {} cgroup(s) created under subjects "
          "while measuring; {} read pass(es) redone after a preemption, {} kept slow; {} "
          "row(s) checked on their CPU before a read, {} left unchecked (rate limit)",
          d["unpaired_switch_outs"].get<std::uint64_t>(), d["adopted_tasks"].get<std::uint64_t>(),
          std::atomic_ref<__u32>(skel_->bss->inherited_cg).load(), redone_reads_, slow_reads_,
          row_checks_, unchecked_rows_);
      ::munmap(const_cast<char*>(acct_), acct_bytes_);
    }
    cpu_account__destroy(skel_);  // detaches and closes: nothing stays loaded
  }

  std::string_view backend() const override { return "bpf"; }
  std::int64_t resolution_ns() const override {
    return static_cast<std::int64_t>(max_span_ns_) + kCalibrationErrorNs;
  }
  std::string_view fallback_reason() const override { return ""; }
  const std::vector<SeriesInfo>& series() const override { return series_; }
  std::size_t cpu_count() const override { return ncpu_; }

  Result<std::size_t> add_subject(const SubjectSpec& spec) override {
    if (spec.kind != SubjectKind::cgroup && !init_pid_namespace_)
      return fail(std::string(spec.kind == SubjectKind::pid ? "--pid " : "--tid ") + spec.target +
                  ": cinergy runs in a PID namespace of its own, where /proc's pids are not the "
                  "kernel's; run it in the host's PID namespace, or measure the task's cgroup "
                  "(--cgroup)");
    auto r = resolve_subject(spec, cgroup2_root_, proc_root_);
    if (!r) return std::unexpected(r.error());
    const auto first_series = static_cast<std::uint32_t>(series_.size());
    std::vector<SlotSeries> new_pairs;
    // A failed registration frees the slots it took that nothing counts with.
    const auto undo = [&](Error e) -> Result<std::size_t> {
      std::vector<std::uint32_t> slots;
      for (const auto& p : new_pairs) slots.push_back(p.slot);
      release_unused(std::move(slots));
      return std::unexpected(std::move(e));
    };

    if (r->kind == SubjectKind::cgroup) {
      std::uint32_t child_series = first_series;
      std::map<int, std::uint32_t> child_series_of;  // top_child node index -> series
      for (std::size_t i = 1; i < r->nodes.size(); ++i)
        if (r->nodes[i].top_child == static_cast<int>(i))
          child_series_of[static_cast<int>(i)] = ++child_series;
      for (const auto& n : r->nodes) {
        std::uint32_t inherited = 0;
        auto slot = cgroup_slot(n.id, n.dir, inherited);
        if (!slot) return undo(slot.error());
        new_pairs.push_back({*slot, first_series});
        if (n.top_child >= 0) new_pairs.push_back({*slot, child_series_of[n.top_child]});
        // A directory created under an earlier subject after it was added:
        // it keeps counting for that subject's series too.
        if (inherited != 0)
          for (std::size_t i = 0, end = pairs_.size(); i < end; ++i)
            if (pairs_[i].slot == inherited) new_pairs.push_back({*slot, pairs_[i].series});
      }
    } else {
      const bool is_pid = r->kind == SubjectKind::pid;
      auto slot = id_slot(is_pid ? r->tgid : r->tid, is_pid);
      if (!slot) return undo(slot.error());
      new_pairs.push_back({*slot, first_series});
    }
    if (pairs_.size() + new_pairs.size() > pairs_.capacity())
      return undo(Error{0, "too many subjects: more than " + std::to_string(pairs_.capacity()) +
                               " slot/series pairs"});

    const std::size_t index = free_subject_index(subjects_);
    append_series(*r, index, series_);
    pairs_.insert(pairs_.end(), new_pairs.begin(), new_pairs.end());
    raw_.assign(series_.size(), 0);
    baseline_.resize(series_.size(), 0);
    last_.resize(series_.size(), 0);
    spdlog::debug("bpf accounting: subject '{}': {} slot(s), {} series", r->label, new_pairs.size(),
                  series_.size() - first_series);
    subjects_[index] = SubjectState{std::move(*r)};

    // Catch tasks of the new subject that are on a CPU right now, then start
    // its series at 0 (a directory shared with an earlier subject already has
    // counts in its slot).
    prime_cpus(ncpu_);
    std::uint64_t now = 0;
    for (int i = 0; i < 100 && !compute_raw(now); ++i) {
    }
    for (std::size_t i = first_series; i < series_.size(); ++i) baseline_[i] = raw_[i];
    return index;
  }

  Result<void> remove_subject(std::size_t subject_index) override {
    if (subject_index >= subjects_.size() || !subjects_[subject_index])
      return fail("no CPU accounting subject " + std::to_string(subject_index));
    const auto [first, last] = series_range(series_, subject_index);
    const auto n = static_cast<std::uint32_t>(last - first);
    // Its (slot, series) pairs go and the series after its own move down;
    // a slot that no other subject counts with (a directory shared with
    // another subject keeps its slot) is freed.
    std::vector<std::uint32_t> slots;
    std::erase_if(pairs_, [&, first = first, last = last](const SlotSeries& p) {
      if (p.series < first || p.series >= last) return false;
      slots.push_back(p.slot);
      return true;
    });
    for (auto& p : pairs_)
      if (p.series >= last) p.series -= n;
    release_unused(std::move(slots));
    const auto erase = [first = first, last = last](auto& v) {
      v.erase(v.begin() + static_cast<std::ptrdiff_t>(first),
              v.begin() + static_cast<std::ptrdiff_t>(last));
    };
    erase(series_);
    erase(baseline_);
    erase(last_);
    raw_.assign(series_.size(), 0);
    spdlog::debug("bpf accounting: subject '{}' removed, {} slot(s) free",
                  subjects_[subject_index]->resolved.label, free_slots_.size());
    subjects_[subject_index].reset();
    tables_changed();
    return ok();
  }

  std::size_t read(std::span<std::uint64_t> series_cpu_ns, std::span<std::uint64_t> cpu_busy_ns,
                   std::int64_t& values_at_ns) noexcept override {
    // On a torn snapshot every value keeps its previous value, counts as not
    // read this time, and holds for the previous instant.
    std::uint64_t now = 0;
    const bool fresh = compute_raw(now);
    if (fresh) last_at_ns_ = static_cast<std::int64_t>(now);
    values_at_ns = last_at_ns_;
    const std::size_t n = std::min(series_cpu_ns.size(), raw_.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (fresh) last_[i] = clamp_monotonic(last_[i], since_baseline(raw_[i], baseline_[i]));
      series_cpu_ns[i] = last_[i];
    }
    const std::size_t m = std::min(cpu_busy_ns.size(), ncpu_);
    for (std::size_t c = 0; c < ncpu_; ++c) {
      if (fresh)
        busy_last_[c] = clamp_monotonic(busy_last_[c], since_baseline(busy_now_[c], busy_base_[c]));
      if (c < m) cpu_busy_ns[c] = busy_last_[c];
    }
    if (!fresh) return n + m;
    return (series_cpu_ns.size() < raw_.size() ? raw_.size() - series_cpu_ns.size() : 0) +
           (cpu_busy_ns.size() < ncpu_ ? ncpu_ - cpu_busy_ns.size() : 0);
  }

  // Whether the program still counts `id` (its entry or its overflow key; it
  // removes both when the task exits).
  bool id_registered(std::uint32_t id, bool is_tgid) const {
    const auto* table = is_tgid ? skel_->bss->tgid_table : skel_->bss->tid_table;
    auto& e = const_cast<cinergy_id_entry&>(table[id & id_mask_]);
    if (std::atomic_ref<__u32>(e.id).load(std::memory_order_acquire) == id) return true;
    auto* map = is_tgid ? skel_->maps.tgid_overflow : skel_->maps.tid_overflow;
    __u32 key = id, value = 0;
    return bpf_map__lookup_elem(map, &key, sizeof key, &value, sizeof value, 0) == 0;
  }

  // The kernel's view: a cgroup is alive while its directory exists with the
  // id it was registered with (a directory re-created under the same name is
  // another cgroup, not counted); a process or thread while its table entry
  // holds its id (the program marks it dead when the task exits, before the
  // pid can be reused).
  bool subject_alive(std::size_t subject_index) const override {
    if (subject_index >= subjects_.size() || !subjects_[subject_index]) return false;
    const ResolvedSubject& r = subjects_[subject_index]->resolved;
    if (r.kind == SubjectKind::cgroup) return cgroup_dir_is(r.nodes[0].dir, r.nodes[0].id);
    const bool is_pid = r.kind == SubjectKind::pid;
    return id_registered(static_cast<std::uint32_t>(is_pid ? r.tgid : r.tid), is_pid);
  }

 private:
  const cinergy_cpu_acct* cpu(std::size_t c) const {
    return reinterpret_cast<const cinergy_cpu_acct*>(acct_ + c * sizeof(cinergy_cpu_acct));
  }

  // One pass of per-CPU consistent copies: completed slices summed into
  // slot_total_, rows kept for the running slices. False when a CPU's row
  // could not be copied consistently.
  bool copy_rows() noexcept {
    const std::uint32_t used = next_slot_;
    std::fill_n(slot_total_.begin(), used, 0);
    for (std::size_t c = 0; c < ncpu_; ++c) {
      const auto* a = cpu(c);
      const auto* seqp = reinterpret_cast<const volatile std::uint64_t*>(&a->row.seq);
      RowSnapshot& row = rows_[c];
      // The program holds seq odd for ~100 ns, longer if the hypervisor
      // preempts that vCPU mid-update: spin (bounded), and if no consistent
      // copy comes, report this read as failed rather than publish a torn
      // row (which would overshoot and then stall the series).
      bool consistent = false;
      for (int attempt = 0; attempt < kMaxSeqAttempts && !consistent; ++attempt) {
        const std::uint64_t s1 = *seqp;
        if (s1 & 1) {
          __builtin_ia32_pause();
          continue;
        }
        std::atomic_signal_fence(std::memory_order_acquire);
        const volatile auto& vr = a->row;
        row.cur_task = vr.cur_task;
        row.cur_gen = vr.cur_gen;
        row.switched_in_ns = vr.switched_in_ns;
        row.busy_since_ns = vr.busy_since_ns;
        row.busy_ns = vr.busy_ns;
        for (int k = 0; k < CINERGY_NSLOT_KINDS; ++k) row.cur_slot[k] = vr.cur_slot[k];
        row.cur_tracked = vr.cur_tracked != 0;
        row.busy = vr.busy != 0;
        row.initialized = vr.initialized != 0;
        row.calib_clock_ns = vr.calib_clock_ns;
        row.calib_task_ns = vr.calib_task_ns;
        row.calib_mono_ns = vr.calib_mono_ns;
        const volatile __u64* slots = a->slot_ns;
        for (std::uint32_t s = 1; s < used; ++s) cpu_tmp_[s] = slots[s];
        std::atomic_signal_fence(std::memory_order_acquire);
        consistent = *seqp == s1;
      }
      if (!consistent) return false;
      for (std::uint32_t s = 1; s < used; ++s) slot_total_[s] += cpu_tmp_[s];
    }
    return true;
  }

  // Every CPU's values at one instant, returned in now_mono_ns: the rows are
  // copied first and "now" is read right after, so nothing a copy holds
  // happened after it; running slices and busy runs are extended to it.
  bool snapshot(std::uint64_t& now_mono_ns) noexcept {
    std::uint64_t now = 0;
    // A row checked in this read is not checked again in a redone pass.
    std::fill(checked_.begin(), checked_.end(), std::uint8_t{0});
    for (int attempt = 1;; ++attempt) {
      const std::uint64_t start = monotonic_now_ns();
      if (!copy_rows()) return false;
      if (verify_rows(start, checked_) && !copy_rows()) return false;
      now = monotonic_now_ns();
      if (now - start <= max_span_ns_) break;
      if (attempt == kReadAttempts) {
        ++slow_reads_;
        break;
      }
      ++redone_reads_;
    }
    now_mono_ns = now;
    // Each CPU's clocks "now" from its own calibration (per-CPU sched clocks
    // need not agree when sched_clock is unstable), robust to a pair taken
    // late (ClockEstimate); a CPU without a pair yet uses the freshest pair
    // of any CPU.
    const std::uint32_t used = next_slot_;
    const ClockNow any = clocks_now(rows_, now);
    for (std::size_t c = 0; c < ncpu_; ++c) {
      clocks_[c].update(rows_[c]);
      const ClockNow at = clocks_[c].valid() ? clocks_[c].at(now) : any;
      add_running_slice(rows_[c], at.task_ns, std::span(slot_total_).first(used));
      busy_now_[c] = busy_at(rows_[c], now);  // busy runs are on CLOCK_MONOTONIC
    }
    // Ask every CPU for a fresh pair at its next switch (one clock read each).
    std::atomic_ref<__u32>(skel_->bss->calib_request).fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  // Rows that may be stale are checked on their CPU before the read
  // (RowVerifier says which and why); the program's own suspects (tasks whose
  // switch-out it saw missing) are taken in first. True when any check ran.
  bool verify_rows(std::uint64_t now_ns, std::span<std::uint8_t> checked) noexcept {
    for (std::size_t i = 0; i < CINERGY_NSUSPECT; ++i)
      verifier_.add_suspect(
          std::atomic_ref<__u64>(skel_->bss->suspect_task[i]).load(std::memory_order_relaxed));
    const int self = ::sched_getcpu();  // the reader's CPU runs the reader: its row needs no check
    const auto gen = std::atomic_ref<__u32>(skel_->bss->table_gen).load(std::memory_order_acquire);
    bool ran = false;
    for (std::size_t c = 0; c < ncpu_; ++c) {
      if (static_cast<int>(c) == self || checked[c] || !verifier_.wants(rows_[c], gen)) continue;
      if (!verifier_.take(now_ns)) {
        ++unchecked_rows_;
        continue;
      }
      bpf_test_run_opts opts{};
      opts.sz = sizeof opts;
      opts.flags = BPF_F_TEST_RUN_ON_CPU;
      opts.cpu = static_cast<__u32>(c);
      if (bpf_prog_test_run_opts(adopt_fd_, &opts) != 0) continue;
      ++row_checks_;
      ran = true;
      // What runs there now, as the adopt program left it in the row.
      const auto running = std::atomic_ref<__u64>(const_cast<__u64&>(cpu(c)->row.cur_task))
                               .load(std::memory_order_acquire);
      if (!rows_[c].cur_tracked) verifier_.learned(rows_[c].cur_task, running, now_ns);
      checked[c] = 1;
    }
    return ran;
  }

  bool compute_raw(std::uint64_t& now_ns) noexcept {
    if (!snapshot(now_ns)) return false;
    sum_series(slot_total_, pairs_, raw_);
    return true;
  }

  // A freed slot first (oldest first), else a new one. A freed slot's
  // per-CPU counters keep their counts: every series starts from a baseline.
  Result<std::uint32_t> new_slot(const std::string& what, SlotKey key) {
    std::uint32_t slot = 0;
    if (!free_slots_.empty()) {
      slot = free_slots_.front();
      free_slots_.pop_front();
      // Again at reuse: a directory the program created under the slot's
      // previous owner just while it was being freed (a race of
      // microseconds) is caught here.
      forget_inherited(slot);
    } else if (next_slot_ < CINERGY_MAX_SLOTS) {
      slot = next_slot_++;
    } else {
      return fail("cannot track " + what + ": all " + std::to_string(CINERGY_MAX_SLOTS - 1) +
                  " accounting slots in use");
    }
    slot_key_[slot] = key;
    return slot;
  }

  // Frees each slot of `slots` that no (slot, series) pair uses any more.
  void release_unused(std::vector<std::uint32_t> slots) {
    std::ranges::sort(slots);
    const auto dup = std::ranges::unique(slots);
    slots.erase(dup.begin(), dup.end());
    for (const auto slot : slots)
      if (std::ranges::none_of(pairs_, [slot](const SlotSeries& p) { return p.slot == slot; }))
        release_slot(slot);
  }

  // Takes the slot's key out of the program's tables (only where the entry
  // still holds this very key and slot: the program may have marked it dead,
  // and a reused pid may hold the entry under another slot), then every
  // entry the program's cgroup_mkdir handler gave that slot.
  void release_slot(std::uint32_t slot) {
    const SlotKey key = std::exchange(slot_key_[slot], SlotKey{});
    switch (key.kind) {
      case SlotKey::Kind::cgroup: {
        auto& e = skel_->bss->cg_table[key.id & cg_mask_];
        __u64 expected = key.id;
        if (std::atomic_ref<__u32>(e.slot).load(std::memory_order_acquire) != slot ||
            !std::atomic_ref<__u64>(e.id).compare_exchange_strong(expected, CINERGY_CG_DEAD))
          delete_if_slot<__u64>(skel_->maps.cg_overflow, key.id, slot);
        if (auto it = cg_slots_.find(key.id); it != cg_slots_.end() && it->second == slot)
          cg_slots_.erase(it);
        std::atomic_ref<__u32>(skel_->bss->n_cg).fetch_sub(1);
        break;
      }
      case SlotKey::Kind::tgid:
      case SlotKey::Kind::tid: {
        const bool is_tgid = key.kind == SlotKey::Kind::tgid;
        const auto id = static_cast<__u32>(key.id);
        auto* table = is_tgid ? skel_->bss->tgid_table : skel_->bss->tid_table;
        auto& e = table[id & id_mask_];
        __u32 expected = id;
        if (std::atomic_ref<__u32>(e.slot).load(std::memory_order_acquire) != slot ||
            !std::atomic_ref<__u32>(e.id).compare_exchange_strong(expected, CINERGY_ID_DEAD))
          delete_if_slot<__u32>(is_tgid ? skel_->maps.tgid_overflow : skel_->maps.tid_overflow, id,
                                slot);
        auto& slots = is_tgid ? tgid_slots_ : tid_slots_;
        if (auto it = slots.find(id); it != slots.end() && it->second == slot) slots.erase(it);
        std::atomic_ref<__u32>(is_tgid ? skel_->bss->n_tgid : skel_->bss->n_tid).fetch_sub(1);
        break;
      }
      case SlotKey::Kind::none:
        break;
    }
    forget_inherited(slot);
    free_slots_.push_back(slot);
  }

  template <typename Key>
  static void delete_if_slot(bpf_map* map, Key id, std::uint32_t slot) {
    Key key = id;
    __u32 value = 0;
    if (bpf_map__lookup_elem(map, &key, sizeof key, &value, sizeof value, 0) == 0 && value == slot)
      (void)bpf_map__delete_elem(map, &key, sizeof key, 0);
  }

  // Directories the program registered under a subject with the subject's
  // slot (cgroup_mkdir) are not known to user space: found by their slot in
  // the direct-mapped table (4096 entries) and the overflow map, and marked
  // dead (by compare-and-swap, so an entry being claimed meanwhile is left
  // alone) or deleted.
  void forget_inherited(std::uint32_t slot) {
    for (auto& e : skel_->bss->cg_table) {
      std::atomic_ref<__u64> entry_id(e.id);
      __u64 id = entry_id.load(std::memory_order_acquire);
      if (entry_free<__u64>(id, CINERGY_CG_DEAD) || (id & CINERGY_CG_CLAIM) != 0) continue;
      if (std::atomic_ref<__u32>(e.slot).load(std::memory_order_acquire) != slot) continue;
      entry_id.compare_exchange_strong(id, CINERGY_CG_DEAD);
    }
    std::vector<__u64> stale;
    __u64 key = 0, next = 0;
    const void* prev = nullptr;
    while (bpf_map__get_next_key(skel_->maps.cg_overflow, prev, &next, sizeof next) == 0) {
      __u32 value = 0;
      if (bpf_map__lookup_elem(skel_->maps.cg_overflow, &next, sizeof next, &value, sizeof value,
                               0) == 0 &&
          value == slot)
        stale.push_back(next);
      key = next;
      prev = &key;
    }
    for (auto k : stale) (void)bpf_map__delete_elem(skel_->maps.cg_overflow, &k, sizeof k, 0);
  }

  // Publishes {id, slot} to the program: slot first, then the id that makes
  // the entry match (x86 keeps store order; see cpu_account.h).
  template <typename Entry, typename Key>
  static void publish(Entry& e, Key id, std::uint32_t slot) {
    std::atomic_ref<std::uint32_t>(e.slot).store(slot, std::memory_order_release);
    std::atomic_ref<Key>(e.id).store(id, std::memory_order_release);
  }

  // Tells the program that slots it cached for running tasks may be stale (a
  // task already on a CPU may have just become tracked).
  void tables_changed() {
    std::atomic_ref<__u32>(skel_->bss->table_gen).fetch_add(1, std::memory_order_release);
  }

  // The slot of a cgroup directory, registered on first use. `inherited` is
  // set to the slot the program's cgroup_mkdir handler had given the
  // directory (its parent's, see cpu_account.bpf.c), 0 if none: the caller
  // makes the new slot count wherever that one did.
  Result<std::uint32_t> cgroup_slot(std::uint64_t id, const fs::path& dir,
                                    std::uint32_t& inherited) {
    inherited = 0;
    if (auto it = cg_slots_.find(id); it != cg_slots_.end()) return it->second;
    auto slot = new_slot("cgroup " + dir.string(), {SlotKey::Kind::cgroup, id});
    if (!slot) return slot;
    auto& e = skel_->bss->cg_table[id & cg_mask_];
    std::atomic_ref<__u64> entry_id(e.id);
    std::atomic_ref<__u32> entry_slot(e.slot);
    __u64 seen = entry_id.load(std::memory_order_acquire);
    if (seen == id) {  // inherited by the program: take the entry over
      inherited = entry_slot.load(std::memory_order_relaxed);
      entry_slot.store(*slot, std::memory_order_release);
    } else if (__u64 expected = seen;
               entry_free<__u64>(seen, CINERGY_CG_DEAD) &&
               entry_id.compare_exchange_strong(expected, id | CINERGY_CG_CLAIM)) {
      entry_slot.store(*slot, std::memory_order_release);
      entry_id.store(id, std::memory_order_release);
    } else {
      __u64 key = id;
      __u32 value = 0;
      if (bpf_map__lookup_elem(skel_->maps.cg_overflow, &key, sizeof key, &value, sizeof value,
                               0) == 0)
        inherited = value;
      value = *slot;
      if (bpf_map__update_elem(skel_->maps.cg_overflow, &key, sizeof key, &value, sizeof value,
                               BPF_ANY) != 0) {
        const int e = errno;
        slot_key_[*slot] = {};
        free_slots_.push_back(*slot);
        return fail_errno(e, "cannot register cgroup " + dir.string() + " (overflow map)");
      }
      std::atomic_ref<__u32>(skel_->bss->has_collisions).fetch_or(1);
    }
    std::atomic_ref<__u32>(skel_->bss->n_cg).fetch_add(1);
    tables_changed();
    cg_slots_[id] = *slot;
    return slot;
  }

  Result<std::uint32_t> id_slot(std::int32_t id32, bool is_tgid) {
    auto& slots = is_tgid ? tgid_slots_ : tid_slots_;
    const auto id = static_cast<std::uint32_t>(id32);
    if (auto it = slots.find(id); it != slots.end()) {
      if (id_registered(id, is_tgid)) return it->second;
      slots.erase(it);  // that task exited: this one reuses its pid and gets a slot of its own
    }
    auto slot = new_slot((is_tgid ? "pid " : "tid ") + std::to_string(id),
                         {is_tgid ? SlotKey::Kind::tgid : SlotKey::Kind::tid, id});
    if (!slot) return slot;
    auto* table = is_tgid ? skel_->bss->tgid_table : skel_->bss->tid_table;
    std::span<const cinergy_id_entry> view(table, CINERGY_ID_TABLE_SIZE);
    if (place_key<cinergy_id_entry, __u32>(view, id, id_mask_, CINERGY_ID_DEAD) ==
        Placement::direct) {
      publish(table[id & id_mask_], static_cast<__u32>(id), *slot);
    } else {
      __u32 key = id, value = *slot;
      auto* map = is_tgid ? skel_->maps.tgid_overflow : skel_->maps.tid_overflow;
      if (bpf_map__update_elem(map, &key, sizeof key, &value, sizeof value, BPF_ANY) != 0) {
        const int e = errno;
        slot_key_[*slot] = {};
        free_slots_.push_back(*slot);
        return fail_errno(e, "cannot register " + std::string(is_tgid ? "pid " : "tid ") +
                                 std::to_string(id) + " (overflow map)");
      }
      std::atomic_ref<__u32>(skel_->bss->has_collisions).fetch_or(is_tgid ? 2u : 4u);
    }
    std::atomic_ref<__u32>(is_tgid ? skel_->bss->n_tgid : skel_->bss->n_tid).fetch_add(1);
    tables_changed();
    slots[id] = *slot;
    return slot;
  }

  fs::path cgroup2_root_;
  fs::path proc_root_;
  cpu_account* skel_;
  const char* acct_;
  std::size_t acct_bytes_;
  std::size_t ncpu_;
  std::uint64_t max_span_ns_;      // a longer copy pass is redone (kMaxReadSpanNs)
  bool init_pid_namespace_;        // pid and tid subjects need it
  std::size_t cg_mask_, id_mask_;  // index masks of the direct-mapped tables
  std::int64_t last_at_ns_ = 0;    // the instant of the values last published
  std::uint64_t redone_reads_ = 0, slow_reads_ = 0, row_checks_ = 0, unchecked_rows_ = 0;
  RowVerifier verifier_;
  int adopt_fd_ = bpf_program__fd(skel_->progs.cinergy_adopt);
  std::uint32_t next_slot_ = 1;  // slot 0 is the program's sink; slots below are in use or free
  std::deque<std::uint32_t> free_slots_;  // freed by remove_subject, reused oldest first
  std::vector<SlotKey> slot_key_;         // by slot: what it was registered for
  std::map<std::uint64_t, std::uint32_t> cg_slots_;
  std::map<std::uint32_t, std::uint32_t> tgid_slots_, tid_slots_;
  std::vector<SlotSeries> pairs_;
  std::vector<std::uint64_t> slot_total_, cpu_tmp_;
  std::vector<std::uint64_t> raw_, baseline_, last_;
  std::vector<std::uint64_t> busy_base_, busy_last_, busy_now_;
  std::vector<RowSnapshot> rows_;
  std::vector<ClockEstimate> clocks_;
  std::vector<std::uint8_t> checked_;                  // per CPU: checked in this read
  std::vector<std::optional<SubjectState>> subjects_;  // by subject index; empty = free
  std::vector<SeriesInfo> series_;
};

}  // namespace

Result<std::unique_ptr<CpuAccounting>> open_bpf_backend(const fs::path& cgroup2_root,
                                                        const fs::path& proc_root,
                                                        const Options& options) {
  if (::geteuid() != 0)
    return fail("not root (loading BPF programs needs CAP_BPF and CAP_PERFMON)");
  std::error_code ec;
  if (!fs::exists("/sys/kernel/btf/vmlinux", ec))
    return fail(
        "no BTF (/sys/kernel/btf/vmlinux missing; tp_btf programs need CONFIG_DEBUG_INFO_BTF)");

  route_libbpf_logs_to_spdlog();
  const int ncpu_i = libbpf_num_possible_cpus();
  if (ncpu_i <= 0) return fail_errno(-ncpu_i, "cannot count possible CPUs");
  const auto ncpu = static_cast<std::size_t>(ncpu_i);

  cpu_account* skel = cpu_account__open();
  if (skel == nullptr) return fail_errno("cannot open the BPF object cpu_account");
  auto destroy = [&] { cpu_account__destroy(skel); };
  if (int e = bpf_map__set_max_entries(skel->maps.cpu_acct, static_cast<__u32>(ncpu)); e != 0) {
    destroy();
    return fail_errno(-e, "cannot size the cpu_acct map");
  }
  // Slices are timed with the run queue clock by default (the clock of
  // cpu.stat, and free); CINERGY_BPF_CLOCK=ktime uses bpf_ktime_get_ns()
  // instead (see docs/bpf.md for the measured difference).
  const char* clock_env = std::getenv("CINERGY_BPF_CLOCK");
  const bool use_rq = clock_env == nullptr || std::string_view(clock_env) != "ktime";
  skel->rodata->use_rq_clock = use_rq ? 1 : 0;
  if (options.bpf_cg_index_mask != 0) skel->rodata->cg_index_mask = options.bpf_cg_index_mask;
  if (options.bpf_id_index_mask != 0) skel->rodata->id_index_mask = options.bpf_id_index_mask;
  // cinergy_adopt is only ever run by BPF_PROG_TEST_RUN, never attached.
  bpf_program__set_autoattach(skel->progs.cinergy_adopt, false);
  if (int e = cpu_account__load(skel); e != 0) {
    auto why = last_libbpf_warning();
    destroy();
    return fail_errno(-e, "BPF load refused" + (why.empty() ? "" : " (" + why + ")") +
                              "; verifier log at debug level (-v)");
  }
  const std::size_t bytes =
      (ncpu * sizeof(cinergy_cpu_acct) + static_cast<std::size_t>(::getpagesize()) - 1) &
      ~(static_cast<std::size_t>(::getpagesize()) - 1);
  void* acct = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, bpf_map__fd(skel->maps.cpu_acct), 0);
  if (acct == MAP_FAILED) {
    int e = errno;
    destroy();
    return fail_errno(e, "cannot mmap the cpu_acct map");
  }
  if (int e = cpu_account__attach(skel); e != 0) {
    auto why = last_libbpf_warning();
    ::munmap(acct, bytes);
    destroy();
    return fail_errno(-e,
                      "cannot attach tp_btf/sched_switch" + (why.empty() ? "" : " (" + why + ")"));
  }
  prime_cpus(ncpu);
  spdlog::debug("bpf accounting: tp_btf/sched_switch attached, {} CPUs, {} bytes mapped", ncpu,
                bytes);
  struct stat ns {};
  const bool init_ns = ::stat("/proc/self/ns/pid", &ns) == 0 && ns.st_ino == kInitPidNamespaceIno;
  return std::make_unique<BpfAccounting>(cgroup2_root, proc_root, skel, acct, bytes, ncpu, init_ns);
}

}  // namespace cinergy::bpf::detail
