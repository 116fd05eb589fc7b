// SPDX-License-Identifier: GPL-2.0
/* CPU time per registered cgroup / process / thread and per-CPU busy time,
 * from tp_btf/sched_switch. See cpu_account.h for the shared layout.
 *
 * Cost model (why it looks like this): an empty tp_btf/sched_switch program
 * costs ~73 ns on the development VMs, one bpf_ktime_get_ns() ~100 ns
 * (kvm-clock) and a hash lookup ~90 ns. So the common path does neither:
 *  - the incoming task's slots come from three direct-mapped tables (a load
 *    and a compare each, skipped while a table is empty);
 *  - the clock is read only when the outgoing or incoming task is tracked, or
 *    when the CPU goes idle <-> busy. A switch between two untracked busy
 *    tasks reads no clock and writes nothing.
 * The running slice of the current task is not counted here: user space adds
 * now - switched_in_ns at read time, so values are exact at every sample.
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
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct cinergy_cpu_acct);
} cpu_acct SEC(".maps");

static __always_inline __u32 id_slot(struct cinergy_id_entry* table, void* overflow, __u32 id,
                                     __u32 collision_bit) {
  struct cinergy_id_entry* e = &table[id & (CINERGY_ID_TABLE_SIZE - 1)];
  if (e->id == id) return e->slot;
  if (e->id != 0 && (has_collisions & collision_bit)) {
    __u32* s = bpf_map_lookup_elem(overflow, &id);
    if (s) return *s;
  }
  return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(cinergy_sched_switch, bool preempt, struct task_struct* prev, struct task_struct* next,
             unsigned int prev_state) {
  __u32 cpu = bpf_get_smp_processor_id();
  struct cinergy_cpu_acct* a = bpf_map_lookup_elem(&cpu_acct, &cpu);
  if (!a) return 0;
  struct cinergy_cpu_row* r = &a->row;

  __u32 s_cg = 0, s_tgid = 0, s_tid = 0;
  if (n_cg) {
    /* Direct BTF loads (tp_btf): the task's cgroup on the default (v2) hierarchy. */
    __u64 id = next->cgroups->dfl_cgrp->kn->id;
    struct cinergy_cg_entry* e = &cg_table[id & (CINERGY_CG_TABLE_SIZE - 1)];
    if (e->id == id) {
      s_cg = e->slot;
    } else if (e->id != 0 && (has_collisions & 1)) {
      __u32* s = bpf_map_lookup_elem(&cg_overflow, &id);
      if (s) s_cg = *s;
    }
  }
  if (n_tgid) s_tgid = id_slot(tgid_table, &tgid_overflow, (__u32)next->tgid, 2);
  if (n_tid) s_tid = id_slot(tid_table, &tid_overflow, (__u32)next->pid, 4);

  __u32 next_tracked = (s_cg | s_tgid | s_tid) != 0;
  __u32 prev_busy = prev->pid != 0;
  __u32 next_busy = next->pid != 0;
  if (!next_tracked && !r->cur_tracked && prev_busy == next_busy && r->initialized) return 0;

  __u64 now = bpf_ktime_get_ns();
  __u64 seq = r->seq;
  *(volatile __u64*)&r->seq = seq + 1;
  barrier();

  if (r->cur_tracked) {
    __u64 d = now - r->switched_in_ns;
    a->slot_ns[r->cur_slot[CINERGY_SLOT_CGROUP] & (CINERGY_MAX_SLOTS - 1)] += d;
    a->slot_ns[r->cur_slot[CINERGY_SLOT_TGID] & (CINERGY_MAX_SLOTS - 1)] += d;
    a->slot_ns[r->cur_slot[CINERGY_SLOT_TID] & (CINERGY_MAX_SLOTS - 1)] += d;
  }
  if (!r->initialized) {
    /* First switch seen on this CPU: start the busy clock now if prev ran. */
    r->busy_since_ns = now;
    r->initialized = 1;
  } else if (prev_busy && !next_busy) {
    r->busy_ns += now - r->busy_since_ns;
  }
  if (!prev_busy && next_busy) r->busy_since_ns = now;
  if (prev_busy && !next_busy) r->busy_since_ns = now; /* unused while idle; keeps it recent */
  r->busy = next_busy;

  r->cur_slot[CINERGY_SLOT_CGROUP] = s_cg;
  r->cur_slot[CINERGY_SLOT_TGID] = s_tgid;
  r->cur_slot[CINERGY_SLOT_TID] = s_tid;
  r->cur_tracked = next_tracked;
  r->switched_in_ns = now;

  barrier();
  *(volatile __u64*)&r->seq = seq + 2;
  return 0;
}
