// SPDX-License-Identifier: GPL-2.0
/* CPU time per registered cgroup / process / thread and per-CPU busy time,
 * from tp_btf/sched_switch. See cpu_account.h for the shared layout.
 *
 * Cost model (why it looks like this): an empty tp_btf/sched_switch program
 * costs ~73 ns on the development VMs, one bpf_ktime_get_ns() ~100 ns
 * (kvm-clock) and a hash lookup ~90 ns. So the common path does neither:
 *  - the incoming task's slots come from three direct-mapped tables (a load
 *    and a compare each, skipped while a table is empty); the outgoing
 *    task's were cached when it switched in;
 *  - a completed slice is the difference of the task's se.sum_exec_runtime
 *    (the scheduler's own runtime, the figure cpu.stat sums) between its
 *    switch-in and switch-out: exact, no clock read, and robust to switch
 *    events that never reach the tracepoint (cpu_account.h says why);
 *  - running slices and idle <-> busy are timed with the run queue clock
 *    that __schedule() has just updated (rq->clock); bpf_ktime_get_ns() is
 *    read once per CPU per sample for the calibration pair. A switch between
 *    two untracked busy tasks writes one word (who runs now).
 * The running slice of the current task is not counted here: user space adds
 * now - switched_in_ns at read time (now converted into the task clock with
 * the CPU's calibration pair), so values are exact at every sample.
 */
// clang-format off
#include "vmlinux.h"
// clang-format on

#include "cpu_account.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define barrier() asm volatile("" ::: "memory")

/* Written by user space through the mmapped .bss. */
struct cinergy_cg_entry cg_table[CINERGY_CG_TABLE_SIZE];
struct cinergy_id_entry tgid_table[CINERGY_ID_TABLE_SIZE];
struct cinergy_id_entry tid_table[CINERGY_ID_TABLE_SIZE];
__u32 n_cg;           /* entries in cg_table (0: skip the probe) */
__u32 n_tgid;         /* entries in tgid_table */
__u32 n_tid;          /* entries in tid_table */
__u32 has_collisions; /* bit 0: cg, bit 1: tgid, bit 2: tid overflow maps in use */
__u32 calib_request;  /* bumped by user space to ask every CPU for a fresh clock pair */
__u32 table_gen;      /* bumped by user space after each table change: cached slots are stale */
__u32 inherited_cg;   /* cgroups registered by cinergy_cgroup_mkdir (diagnosis) */
/* Tasks whose switch-out was seen missing (see adopt_current), newest last. */
__u64 suspect_task[CINERGY_NSUSPECT];
__u32 suspect_next;

/* 1 (default): time running slices and idle <-> busy with the run queue's
 * clocks (no clock read, the scheduler's own clocks, so totals match
 * cpu.stat); 0: with bpf_ktime_get_ns() (~100 ns on kvm-clock). Set before load. */
const volatile __u32 use_rq_clock = 1;
/* Index masks of the direct-mapped tables: size - 1 (tests load smaller ones
 * to make keys collide). Set before load; applied with the size mask too, so
 * an index is always in bounds. */
const volatile __u32 cg_index_mask = CINERGY_CG_TABLE_SIZE - 1;
const volatile __u32 id_index_mask = CINERGY_ID_TABLE_SIZE - 1;

/* Keys that collided in the direct-mapped tables (rare: cgroup ids and pids
 * are mostly sequential). Only consulted when has_collisions says so. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, CINERGY_MAX_SLOTS);
  __type(key, __u64);
  __type(value, __u32);
} cg_overflow SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, CINERGY_MAX_SLOTS);
  __type(key, __u32);
  __type(value, __u32);
} tgid_overflow SEC(".maps"), tid_overflow SEC(".maps");

/* max_entries = number of possible CPUs, set by user space before load. */
CINERGY_CPU_ACCT_MAP(cpu_acct);

/* Tasks moved between cgroup2 directories while tracked subjects exist:
 * their se.sum_exec_runtime at the move (as of their last update_curr, the
 * point where cpu.stat's charging switches cgroup too), so the switch-out of
 * a task moved while it ran can split its slice between the old and the new
 * directory. Set by cinergy_cgroup_attach_task, consumed at that switch-out. */
struct cinergy_moved {
  __u64 sum_at_move_ns;
};
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct cinergy_moved);
} moved SEC(".maps");

/* Adds d ns to the three slots of a task (slot 0 is the sink). */
static __always_inline void add_slice(struct cinergy_cpu_acct* a, const __u32 slots[3], __u64 d) {
  a->slot_ns[slots[CINERGY_SLOT_CGROUP] & (CINERGY_MAX_SLOTS - 1)] += d;
  a->slot_ns[slots[CINERGY_SLOT_TGID] & (CINERGY_MAX_SLOTS - 1)] += d;
  a->slot_ns[slots[CINERGY_SLOT_TID] & (CINERGY_MAX_SLOTS - 1)] += d;
}

static __always_inline struct cinergy_id_entry* id_entry(struct cinergy_id_entry* table, __u32 id) {
  return &table[id & id_index_mask & (CINERGY_ID_TABLE_SIZE - 1)];
}

static __always_inline struct cinergy_cg_entry* cg_entry(__u64 id) {
  return &cg_table[id & cg_index_mask & (CINERGY_CG_TABLE_SIZE - 1)];
}

/* A miss on a direct entry that holds another key (or a dead one) consults
 * the overflow map: keys that collided live there. */
static __always_inline __u32 id_slot(struct cinergy_id_entry* table, void* overflow, __u32 id,
                                     __u32 collision_bit) {
  struct cinergy_id_entry* e = id_entry(table, id);
  if (e->id == id) return e->slot;
  if (e->id != 0 && (has_collisions & collision_bit)) {
    __u32* s = bpf_map_lookup_elem(overflow, &id);
    if (s) return *s;
  }
  return 0;
}

/* The slot of a cgroup2 id, 0 when it is not registered. */
static __always_inline __u32 cg_slot(__u64 id) {
  struct cinergy_cg_entry* e = cg_entry(id);
  if (e->id == id) return e->slot;
  if (e->id != 0 && (has_collisions & 1)) {
    __u32* s = bpf_map_lookup_elem(&cg_overflow, &id);
    if (s) return *s;
  }
  return 0;
}

/* The slots a task counts for: its cgroup, its process, itself (0 = none). */
static __always_inline void slots_of(struct task_struct* t, __u32 out[CINERGY_NSLOT_KINDS]) {
  /* Direct BTF loads (tp_btf): the task's cgroup on the default (v2) hierarchy. */
  out[CINERGY_SLOT_CGROUP] = n_cg ? cg_slot(t->cgroups->dfl_cgrp->kn->id) : 0;
  out[CINERGY_SLOT_TGID] = n_tgid ? id_slot(tgid_table, &tgid_overflow, (__u32)t->tgid, 2) : 0;
  out[CINERGY_SLOT_TID] = n_tid ? id_slot(tid_table, &tid_overflow, (__u32)t->pid, 4) : 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(cinergy_sched_switch, bool preempt, struct task_struct* prev, struct task_struct* next,
             unsigned int prev_state) {
  __u32 cpu = bpf_get_smp_processor_id();
  struct cinergy_cpu_acct* a = bpf_map_lookup_elem(&cpu_acct, &cpu);
  if (!a) return 0;
  struct cinergy_cpu_row* r = &a->row;

  __u32 gen = table_gen;
  __u32 nx[CINERGY_NSLOT_KINDS];
  slots_of(next, nx);
  __u32 next_tracked = (nx[0] | nx[1] | nx[2]) != 0;

  /* prev's slots: cached when this CPU saw prev switch in (under the current
   * tables); looked up again when that switch-in never reached us or the
   * tables changed since (a registration, or a task moved between cgroups:
   * then prev may have been moved while it ran, see `moved`). */
  __u32 paired = r->cur_task == (__u64)prev;
  if (!paired && r->cur_task != 0) {
    /* The task this CPU last saw switching in left it unseen: its switch-outs
     * do not reach us, so a row showing it may be stale (adopt_current). */
    __u32 i = __sync_fetch_and_add(&suspect_next, 1);
    suspect_task[i & (CINERGY_NSUSPECT - 1)] = r->cur_task;
  }
  __u32 pv[CINERGY_NSLOT_KINDS];
  __u32 prev_tracked;
  __u64 split_ns = 0; /* prev's runtime when it was moved mid-slice, 0 if not */
  if (paired && r->cur_gen == gen) {
    pv[0] = r->cur_slot[0];
    pv[1] = r->cur_slot[1];
    pv[2] = r->cur_slot[2];
    prev_tracked = r->cur_tracked;
  } else {
    slots_of(prev, pv);
    prev_tracked = (pv[0] | pv[1] | pv[2]) != 0;
    if (paired) {
      struct cinergy_moved* m = bpf_task_storage_get(&moved, prev, 0, 0);
      if (m) {
        split_ns = m->sum_at_move_ns;
        bpf_task_storage_delete(&moved, prev);
      }
    }
  }

  __u32 prev_busy = prev->pid != 0;
  __u32 next_busy = next->pid != 0;
  __u32 want_calib = calib_request;
  __u32 need_busy = prev_busy != next_busy || !r->initialized;
  if (!next_tracked && !prev_tracked && !r->cur_tracked && !need_busy &&
      r->calib_seen == want_calib) {
    /* Nothing user space reads changes: remember only who runs now. */
    r->cur_task = (__u64)next;
    r->cur_gen = gen;
    return 0;
  }

  /* The clock for running slices and busy time: the run queue clock that
   * __schedule() has just updated (free to read; prev ran here, so
   * prev->se.cfs_rq->rq is this CPU's rq, no ksym needed;
   * CONFIG_FAIR_GROUP_SCHED), checked against bpf_ktime_get_ns()
   * (CLOCK_MONOTONIC) through this CPU's pair: when __schedule() skipped the
   * update, the switch is timed at the corrected instant (cpu_account.h,
   * "Stale run queue clock"). With use_rq_clock = 0, or without that field,
   * ktime throughout. Completed slices need no clock: see cpu_account.h. */
  __u32 rq_mode = use_rq_clock && bpf_core_field_exists(prev->se.cfs_rq);
  __u64 now = 0, now_task = 0;
  if (rq_mode) {
    struct rq* rq = prev->se.cfs_rq->rq;
    if (rq) {
      now = rq->clock;
      now_task = rq->clock_task; /* same cache line: updated together */
    } else {
      rq_mode = 0;
    }
  }
  /* CLOCK_MONOTONIC is read (~50 ns on this VM) where it is needed: busy
   * runs, the pair user space asked for, and switches whose prev stays
   * runnable (preempted: where a wakeup asks for the switch, so where the
   * clock update was skipped). A prev that blocks had __schedule() update
   * the clock for it: no check. */
  __u32 read_mono = !rq_mode || need_busy || prev_state == 0 || r->calib_seen != want_calib;
  __u64 mono = read_mono ? bpf_ktime_get_ns() : 0;
  if (!rq_mode) now = now_task = mono;

  __u64 seq = r->seq;
  *(volatile __u64*)&r->seq = seq + 1;
  barrier();

  __u64 stale = 0;
  if (read_mono) {
    stale = cinergy_offer_pair(r, now, mono);
    r->calib_seen = want_calib;
  }
  r->calib_task_ns = r->calib_clock_ns - (now - now_task);
  if (stale) {
    now += stale;
    now_task += stale;
    r->stale_n += 1;
    r->stale_ns += stale;
  }
  if (prev_tracked || (paired && r->cur_tracked)) {
    /* The slice prev ran up to now, from the scheduler's own per-task
     * runtime, already updated by __schedule (put_prev/dequeue) before this
     * tracepoint. Its start: the runtime at the switch-in this CPU saw, or,
     * unpaired, the fair class's runtime at prev's last pick (RT and
     * deadline tasks do not keep that figure: their unpaired slice is lost).
     * A task moved while it ran: the part before the move counts for the
     * slots cached at its switch-in, the rest for its new ones. */
    __u64 sum = prev->se.sum_exec_runtime;
    __u64 picked_sum = prev->se.prev_sum_exec_runtime; /* same cache line */
    int prio = prev->prio;
    __u64 base = sum;
    if (paired && r->cur_tracked) { /* cur_sum_ns is kept for tracked tasks only */
      base = r->cur_sum_ns;
    } else {
      if (!paired) r->unpaired += 1;
      if (prio >= 100) base = picked_sum; /* fair class: prio >= MAX_RT_PRIO */
    }
    if (split_ns > base && split_ns <= sum) {
      if (r->cur_tracked) add_slice(a, r->cur_slot, split_ns - base);
      base = split_ns;
    }
    /* The kernel's figure for prev ends at the stale clock; prev ran on. */
    if (prev_tracked) add_slice(a, pv, (sum > base ? sum - base : 0) + stale);
  }
  if (need_busy) {
    if (!r->initialized)
      r->initialized = 1; /* first switch seen here: the busy clock starts now */
    else if (prev_busy)
      r->busy_ns += mono - r->busy_since_ns;
    r->busy_since_ns = mono;
    r->busy = next_busy;
  }

  r->cur_slot[CINERGY_SLOT_CGROUP] = nx[CINERGY_SLOT_CGROUP];
  r->cur_slot[CINERGY_SLOT_TGID] = nx[CINERGY_SLOT_TGID];
  r->cur_slot[CINERGY_SLOT_TID] = nx[CINERGY_SLOT_TID];
  r->cur_tracked = next_tracked;
  r->cur_task = (__u64)next;
  r->cur_gen = gen;
  if (next_tracked) {
    r->switched_in_ns = now_task;
    /* next's runtime will count from the stale clock: its slice here starts
     * `stale` later. */
    r->cur_sum_ns = next->se.sum_exec_runtime + stale;
  }

  barrier();
  *(volatile __u64*)&r->seq = seq + 2;
  return 0;
}

/* A switch that never reached sched_switch (on some hosts the switch *out*
 * of particular threads does not: cpu_account.h) leaves the row believing the
 * previous task still runs. If the task that really runs is tracked, its
 * running slice would show only at its switch-out, all at once: an interval
 * with more CPU time than it lasted. adopt_current() puts the task that runs
 * on this CPU into the row, with its slice since its last pick from the
 * scheduler's own figures (no clock read). It runs on the CPU whose row it
 * writes, with interrupts off, so never inside that CPU's sched_switch
 * program: from every timer interrupt (the scheduler tick at least, whenever
 * the CPU is busy), and from user space before a read that finds a row whose
 * task is a suspect (cinergy_adopt, run on that CPU by BPF_PROG_TEST_RUN). */
static __always_inline void adopt_current(void) {
  struct task_struct* cur = bpf_get_current_task_btf();
  if (!cur) return;
  __u32 cpu = bpf_get_smp_processor_id();
  struct cinergy_cpu_acct* a = bpf_map_lookup_elem(&cpu_acct, &cpu);
  if (!a) return;
  struct cinergy_cpu_row* r = &a->row;
  __u32 gen = table_gen;
  if (!r->initialized) return;
  /* The row knows who runs, and under the current tables. */
  if (r->cur_task == (__u64)cur && r->cur_gen == gen) return;
  if (cur->pid == 0) {
    /* The switch to idle was not seen: the CPU has been idle since some
     * moment after the row's last event. Its busy run ends now (busy time is
     * on CLOCK_MONOTONIC; the only clock read here). */
    __u64 seq = r->seq;
    *(volatile __u64*)&r->seq = seq + 1;
    barrier();
    if (r->busy) {
      __u64 now = bpf_ktime_get_ns();
      if (now > r->busy_since_ns) r->busy_ns += now - r->busy_since_ns;
      r->busy_since_ns = now;
    }
    r->busy = 0;
    r->cur_slot[CINERGY_SLOT_CGROUP] = 0;
    r->cur_slot[CINERGY_SLOT_TGID] = 0;
    r->cur_slot[CINERGY_SLOT_TID] = 0;
    r->cur_tracked = 0;
    r->cur_task = (__u64)cur;
    r->cur_gen = gen;
    barrier();
    *(volatile __u64*)&r->seq = seq + 2;
    return;
  }
  if (!(n_cg | n_tgid | n_tid)) return;
  __u32 nx[CINERGY_NSLOT_KINDS];
  slots_of(cur, nx);
  __u32 tracked = (nx[0] | nx[1] | nx[2]) != 0;
  __u32 same_task = r->cur_task == (__u64)cur;
  if (same_task && nx[0] == r->cur_slot[0] && nx[1] == r->cur_slot[1] && nx[2] == r->cur_slot[2]) {
    r->cur_gen = gen; /* the tables changed, not this task's slots */
    return;
  }
  if (!tracked && !r->cur_tracked) {
    r->cur_task = (__u64)cur;
    r->cur_gen = gen;
    return;
  }
  /* The same task under new slots: it was moved into (or registered in) a
   * tracked cgroup while it ran. Its slice counts for the new slots from the
   * move (its runtime then, as cgroup_attach_task recorded it), or from now
   * when it was registered, not moved; the part before stays with the old
   * slots, added here since the row will not remember them. */
  __u64 from_sum = 0;
  if (same_task) {
    __u64 sum_now = cur->se.sum_exec_runtime;
    from_sum = sum_now;
    struct cinergy_moved* m = bpf_task_storage_get(&moved, cur, 0, 0);
    if (m) {
      if (m->sum_at_move_ns <= sum_now) from_sum = m->sum_at_move_ns;
      bpf_task_storage_delete(&moved, cur);
    }
  }
  __u64 seq = r->seq;
  *(volatile __u64*)&r->seq = seq + 1;
  barrier();
  r->adopted += 1;
  if (same_task && r->cur_tracked && from_sum > r->cur_sum_ns)
    add_slice(a, r->cur_slot, from_sum - r->cur_sum_ns);
  r->cur_slot[CINERGY_SLOT_CGROUP] = nx[CINERGY_SLOT_CGROUP];
  r->cur_slot[CINERGY_SLOT_TGID] = nx[CINERGY_SLOT_TGID];
  r->cur_slot[CINERGY_SLOT_TID] = nx[CINERGY_SLOT_TID];
  r->cur_tracked = tracked;
  r->cur_task = (__u64)cur;
  r->cur_gen = gen;
  if (tracked) {
    /* Runtime since the pick: sum_exec_runtime - prev_sum_exec_runtime up to
     * the last update_curr (at exec_start, task clock), and running since.
     * So switched_in is exec_start minus what was already charged, and the
     * switch-out's completed slice starts at the pick. RT and deadline
     * tasks keep no runtime-at-pick: from their last accounting point. */
    __u64 sum = cur->se.sum_exec_runtime;
    __u64 picked = cur->prio >= 100 ? cur->se.prev_sum_exec_runtime : sum;
    if (same_task) picked = from_sum; /* counts from the move (or now), see above */
    __u64 charged = sum > picked ? sum - picked : 0;
    __u64 start = cur->se.exec_start; /* task clock */
    if (!use_rq_clock || !bpf_core_field_exists(cur->se.cfs_rq)) {
      /* Slices are on CLOCK_MONOTONIC here, exec_start is not (it is the
       * scheduler clock: seconds apart). Now minus what was charged: short by
       * the run since the last update_curr (a tick at most), never long. */
      start = bpf_ktime_get_ns();
    }
    r->cur_sum_ns = picked;
    r->switched_in_ns = start > charged ? start - charged : 0;
  }
  barrier();
  *(volatile __u64*)&r->seq = seq + 2;
}

SEC("tp_btf/hrtimer_expire_entry")
int BPF_PROG(cinergy_timer, struct hrtimer* timer, ktime_t* now) {
  adopt_current();
  return 0;
}

/* Not attached: user space runs it on one CPU (BPF_F_TEST_RUN_ON_CPU, an IPI
 * there) when that CPU's row shows a suspect task. */
SEC("raw_tp")
int cinergy_adopt(void* ctx) {
  adopt_current();
  return 0;
}

/* A subject's subtree grows while it is measured (a VM's vCPU hot-plug, a
 * container runtime's nested cgroups): a cgroup2 directory created under a
 * registered one counts for its parent's slot, so it lands in the same
 * series (a new direct child of a subject counts for the subject's total).
 * No task can be in the directory yet when this runs. Cgroup ids are not
 * reused, so the entry is never wrong; rmdir frees it. Entries are claimed
 * by compare-and-swap, as user space does (cpu_account.h). */
SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cinergy_cgroup_mkdir, struct cgroup* cgrp, const char* path) {
  if (!n_cg || cgrp->root->hierarchy_id != 0) return 0; /* cgroup2 (default hierarchy) only */
  struct cgroup_subsys_state* parent_css = cgrp->self.parent;
  if (!parent_css) return 0;
  __u32 slot = cg_slot(parent_css->cgroup->kn->id);
  if (!slot) return 0;
  __u64 id = cgrp->kn->id;
  struct cinergy_cg_entry* e = cg_entry(id);
  __u64 seen = e->id;
  if (seen == id) return 0;
  if ((seen == 0 || seen == CINERGY_CG_DEAD) &&
      __sync_val_compare_and_swap(&e->id, seen, id | CINERGY_CG_CLAIM) == seen) {
    e->slot = slot;
    barrier();
    *(volatile __u64*)&e->id = id;
  } else if (bpf_map_update_elem(&cg_overflow, &id, &slot, BPF_NOEXIST) == 0) {
    __sync_fetch_and_or(&has_collisions, 1);
  } else {
    return 0; /* overflow map full: the directory stays untracked */
  }
  __sync_fetch_and_add(&inherited_cg, 1);
  return 0;
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(cinergy_cgroup_rmdir, struct cgroup* cgrp, const char* path) {
  if (!n_cg || cgrp->root->hierarchy_id != 0) return 0;
  __u64 id = cgrp->kn->id;
  struct cinergy_cg_entry* e = cg_entry(id);
  if (e->id == id) {
    /* Dead, not empty: keys that collided with it stay reachable. The
     * slot's counts stay. */
    *(volatile __u64*)&e->id = CINERGY_CG_DEAD;
  } else if (has_collisions & 1) {
    bpf_map_delete_elem(&cg_overflow, &id);
  }
  return 0;
}

/* A tracked thread or process exits: its entry dies before its pid can be
 * handed to a new task (the pid is freed only when the task is reaped, after
 * this tracepoint), so a reused pid never counts for the old subject. A
 * process dies with its last thread (signal->live already decremented here),
 * not with its leader. */
static __always_inline void forget_id(struct cinergy_id_entry* table, void* overflow, __u32 id,
                                      __u32 collision_bit) {
  struct cinergy_id_entry* e = id_entry(table, id);
  if (e->id == id)
    *(volatile __u32*)&e->id = CINERGY_ID_DEAD;
  else if (has_collisions & collision_bit)
    bpf_map_delete_elem(overflow, &id);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(cinergy_process_exit, struct task_struct* task) {
  if (n_tid) forget_id(tid_table, &tid_overflow, (__u32)task->pid, 4);
  if (n_tgid && task->signal->live.counter == 0)
    forget_id(tgid_table, &tgid_overflow, (__u32)task->tgid, 2);
  return 0;
}

/* A task moved between cgroup2 directories (cgroup.procs or
 * cgroup.threads). If it runs right now it keeps the slots cached at its
 * switch-in until it switches out, and a move need not switch it: the
 * runtime at the move lets that switch-out split the slice (above), and a
 * new table generation makes every CPU look its outgoing task up again. Only
 * the task the event names (the leader of a whole-process move) is split;
 * its other threads, if running, count their slice for their new cgroup. */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(cinergy_cgroup_attach_task, struct cgroup* dst, const char* path,
             struct task_struct* task, bool threadgroup) {
  if (!n_cg || dst->root->hierarchy_id != 0) return 0;
  struct cinergy_moved* m = bpf_task_storage_get(&moved, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (m) m->sum_at_move_ns = task->se.sum_exec_runtime;
  __sync_fetch_and_add(&table_gen, 1);
  return 0;
}
