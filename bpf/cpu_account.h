/* Types shared by cpu_account.bpf.c and the user-space BPF backend.
 *
 * Layout (all fixed width, natural alignment, no implicit padding):
 *  - Three direct-mapped lookup tables in the program's .bss (mmapped by the
 *    skeleton), written only by user space: cgroup v2 id -> slot, process id
 *    (tgid) -> slot, thread id -> slot. A key lives at index key & (size - 1);
 *    an entry whose id differs means "not tracked" unless the collision flag
 *    says an overflow hash map must be consulted too.
 *  - One mmapable array map "cpu_acct" with one cinergy_cpu_acct per possible
 *    CPU, written only by the program running on that CPU and read by user
 *    space through mmap: the CPU's state row plus one nanosecond counter per
 *    slot.
 *
 * A *slot* is one registered cgroup directory, process or thread. Slot 0 is
 * never handed out: it is the sink that untracked keys add to, so the program
 * adds without branching on "is this slot real".
 */
#ifndef CINERGY_CPU_ACCOUNT_H
#define CINERGY_CPU_ACCOUNT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Counters per CPU row; slot ids are 1 .. CINERGY_MAX_SLOTS - 1. Power of 2. */
#define CINERGY_MAX_SLOTS 1024
/* Direct-mapped table sizes (powers of 2). */
#define CINERGY_CG_TABLE_SIZE 4096
#define CINERGY_ID_TABLE_SIZE 4096

/* Tasks remembered as suspects: their switch-outs were seen missing. Power of 2. */
#define CINERGY_NSUSPECT 8

/* Which cached slot of the current task: its cgroup, its process, itself. */
#define CINERGY_SLOT_CGROUP 0
#define CINERGY_SLOT_TGID 1
#define CINERGY_SLOT_TID 2
#define CINERGY_NSLOT_KINDS 3

/* cgroup table entry; id 0 = never used. Both user space and the program's
 * cgroup_mkdir handler fill free entries, so a writer first claims one by
 * compare-and-swap of id from 0 (or CINERGY_CG_DEAD) to (id | CINERGY_CG_CLAIM),
 * which matches no cgroup, then writes slot, then id. */
#define CINERGY_CG_CLAIM (1ULL << 63)
/* An entry whose cgroup was removed (cgroup_rmdir). Not 0: a lookup that
 * misses the direct entry must still consult the overflow map, where keys
 * that collided with the removed one live. Matches no cgroup; free for reuse. */
#define CINERGY_CG_DEAD (1ULL << 62)
/* A process or thread entry whose task exited (sched_process_exit), for the
 * same reason. No pid reaches it (pid_max is at most 2^22). */
#define CINERGY_ID_DEAD 0xFFFFFFFFu

struct cinergy_cg_entry {
  __u64 id;   /* cgroup v2 id (kernfs node id = inode of the cgroup2 directory) */
  __u32 slot; /* slot that counts this cgroup's own tasks */
  __u32 pad;  /* zero */
};

/* Process or thread table entry; id 0 = never used (pid 0 is the idle task),
 * CINERGY_ID_DEAD = its task exited. */
struct cinergy_id_entry {
  __u32 id;   /* tgid (process table) or pid (thread table) */
  __u32 slot; /* slot of that process or thread */
};

/* Per-CPU state, written only by the program on that CPU, one cache line.
 * Consistency protocol (seqcount): the program makes seq odd, updates the row
 * and the slot counters of this CPU, then makes seq even again. A reader takes
 * seq, copies what it needs, re-reads seq and retries if seq was odd or moved.
 * x86 assumption: the JIT emits the stores in program order and x86 does not
 * reorder stores with stores nor loads with loads (TSO), so plain stores plus
 * compiler barriers are enough; other architectures would need
 * smp_store_release/smp_load_acquire pairs. */
struct cinergy_cpu_row {
  __u64 seq;            /* even: stable; odd: being updated */
  __u64 switched_in_ns; /* task clock (see below) when the current task, if tracked,
                           was switched in */
  __u64 busy_since_ns;  /* CLOCK_MONOTONIC (bpf_ktime_get_ns(), read at the switch) when
                           this CPU last left idle (valid when busy) */
  __u64 busy_ns;        /* non-idle ns accumulated up to the last busy->idle switch */
  __u32 cur_slot[CINERGY_NSLOT_KINDS]; /* slots of the current task (0 = none) */
  __u32 cur_tracked;                   /* 1 if any cur_slot is not 0 */
  __u32 busy;                          /* 1 if the current task is not the idle task (pid 0) */
  __u32 initialized;                   /* 0 until this CPU's first accounted switch after attach */
  /* The program clock is the run queue clock (rq->clock, sched_clock based,
   * updated by __schedule just before the switch: free to read) or, with
   * use_rq_clock = 0, bpf_ktime_get_ns(). User space converts its
   * CLOCK_MONOTONIC "now" with this CPU's pair below: clock_now =
   * calib_clock_ns + (mono_now - calib_mono_ns). The pair is the freshest one
   * seen (cinergy_offer_pair below): rq->clock can be stale at a switch (tens
   * of microseconds to milliseconds, measured: see "Stale run queue clock"),
   * and a pair taken then would convert "now" short. Every switch the program
   * handles (and, once per sample, the next one on each CPU: calib_request)
   * offers a pair. */
  __u64 calib_clock_ns; /* program clock at the pair's instant */
  __u64 calib_mono_ns;  /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at the same instant */
  __u64 calib_task_ns;  /* calib_clock_ns minus the task clock's lag (rq->clock -
                           rq->clock_task, the IRQ/steal time so far) at the latest
                           handled switch: the lag grows, so it is not the pair's */
  __u64 cand_clock_ns;  /* the best pair refused since cand_since_ns (0: none) */
  __u64 cand_mono_ns;
  __u64 cand_since_ns; /* CLOCK_MONOTONIC of the first pair refused in a row */
  __u32 calib_seen;    /* the calib_request value last answered */
  /* Program-private (written outside the seqcount; user space only compares
   * cur_task with the suspects): the task last seen switching in here, its
   * se.sum_exec_runtime then, and the table generation its cached cur_slot[]
   * was looked up under. */
  __u32 cur_gen;
  __u64 cur_task;   /* task_struct address of the last "next" on this CPU */
  __u64 cur_sum_ns; /* its se.sum_exec_runtime at that switch-in */
  __u32 unpaired;   /* switch-outs of a task never seen switching in here (see below) */
  __u32 adopted;    /* running tracked tasks found by the timer program instead (see below) */
  __u32 stale_n;    /* handled switches whose rq->clock was stale (below), corrected */
  __u32 pad;
  __u64 stale_ns; /* the sum of those corrections */
  __u64 pad2[5];  /* to 192 bytes (three cache lines) */
};
/* Two clocks, each for what it measures:
 *  - CLOCK_MONOTONIC (bpf_ktime_get_ns(), read at the switch) times idle <->
 *    busy: wall time on this CPU, the clock user space stamps its samples
 *    with, so busy time needs no conversion (rq->clock can be stale at a
 *    switch, below);
 *  - the task clock (rq->clock_task: rq->clock without IRQ and steal time when
 *    the kernel accounts those) times the running slice of a tracked task:
 *    switched_in_ns is on it, because it is the clock update_curr() charges
 *    se.sum_exec_runtime with, so a running slice read at a sample and the
 *    completed slice the same task's switch-out adds (a sum_exec_runtime
 *    difference) agree: the series never has to go back. */

/* Stale run queue clock. __schedule() skips its rq->clock update when a
 * wakeup just updated the clock and asked for the switch
 * (rq_clock_skip_update(), "save a useless back to back clock update"). The
 * switch itself may come much later: the woken task waits for a preemption
 * point (PREEMPT_NONE), an idle vCPU for the IPI and its exit from halt. At
 * such a switch rq->clock is the wakeup's time, and the kernel charges the
 * time in between to next (its exec_start) although prev ran it. Measured on
 * the development VM (a TCG guest on both CPUs): pairs 30-40 us late, so a
 * CPU's converted "now" jumped by that much when a fresh pair came, and an
 * interval held more than its length. Busy time is on CLOCK_MONOTONIC, read
 * at the switch. For slices the program measures the staleness (stale = the
 * pair's clock now, minus rq->clock) and, above CINERGY_STALE_MIN_NS, times
 * the switch at the corrected instant: prev's completed slice gets the time it really ran,
 * next's slice starts there (switched_in_ns, and cur_sum_ns raised by the same
 * amount, since next's se.sum_exec_runtime will include it). Series and busy
 * time are then true per interval; a series' total can differ from cpu.stat
 * by the time the kernel charged to the other side of such switches (the
 * sum is in stale_ns, logged at close). */
#define CINERGY_STALE_MIN_NS 2000

/* A pair whose offset (mono - clock) is larger than the kept pair's is
 * refused: its clock was staler. No drift allowance per pair: pairs come at
 * every handled switch, and an allowance lets slightly staler ones creep in
 * (the kept offset then drifts up on a CPU whose switches are all wakeups,
 * and drops back at once when a fresh pair comes: a jump in the CPU's "now").
 * Refused pairs that go on for CINERGY_PAIR_CONFIRM_NS are a real change
 * (CLOCK_MONOTONIC slewed by NTP, 500 ppm at most: 25 us in 50 ms, typically
 * well under a microsecond): the best of them becomes the pair. */
#define CINERGY_PAIR_CONFIRM_NS 50000000

/* Offers the pair (clock_ns, mono_ns) read at a switch to the row's
 * calibration; returns how stale clock_ns is, in ns (0: fresh, or within
 * CINERGY_STALE_MIN_NS). Pure arithmetic on the row, shared by the program
 * and its table test (tests/bpf/bpf_math_test.cpp). Signed differences: the
 * two clocks' origins differ. */
static inline __u64 cinergy_offer_pair(struct cinergy_cpu_row* r, __u64 clock_ns, __u64 mono_ns) {
  if (r->calib_mono_ns == 0) {
    r->calib_clock_ns = clock_ns;
    r->calib_mono_ns = mono_ns;
    return 0;
  }
  __s64 offset = (__s64)(mono_ns - clock_ns);
  if (offset <= (__s64)(r->calib_mono_ns - r->calib_clock_ns)) {
    r->calib_clock_ns = clock_ns;
    r->calib_mono_ns = mono_ns;
    r->cand_mono_ns = 0;
    r->cand_since_ns = 0;
    return 0;
  }
  if (r->cand_mono_ns == 0 || offset < (__s64)(r->cand_mono_ns - r->cand_clock_ns)) {
    r->cand_clock_ns = clock_ns;
    r->cand_mono_ns = mono_ns;
  }
  if (r->cand_since_ns == 0) r->cand_since_ns = mono_ns;
  __u64 fresh = r->calib_clock_ns + (mono_ns - r->calib_mono_ns);
  __u64 stale = fresh > clock_ns + CINERGY_STALE_MIN_NS ? fresh - clock_ns : 0;
  if ((__s64)(mono_ns - r->cand_since_ns) >= CINERGY_PAIR_CONFIRM_NS) {
    r->calib_clock_ns = r->cand_clock_ns;
    r->calib_mono_ns = r->cand_mono_ns;
    r->cand_mono_ns = 0;
    r->cand_since_ns = 0;
  }
  return stale;
}

/* Why completed slices come from se.sum_exec_runtime and not from clock
 * differences between two sched_switch events: on some hosts not every
 * context switch reaches the tracepoint's programs (measured on the
 * development VMs: a few per second, always the switch *out of* particular
 * threads). Pairing "switched in at t1" with the next event's t2 then charges
 * or loses whole slices. The scheduler's per-task runtime (the figure
 * cpu.stat sums) is exact whatever events are missing: a slice is
 * sum_exec_runtime at switch-out minus its value at the switch-in this CPU
 * saw, or, when that switch-in was not seen ("unpaired"), minus
 * se.prev_sum_exec_runtime (set by the fair class at every pick). */

/* One element of the cpu_acct map (index = CPU number). */
struct cinergy_cpu_acct {
  struct cinergy_cpu_row row;
  __u64 slot_ns[CINERGY_MAX_SLOTS]; /* CPU ns of completed slices per slot on this CPU;
                                       slot_ns[0] is the sink, ignored */
};

#ifdef __VMLINUX_H__
/* BPF side: declares an mmapable array map with one cinergy_cpu_acct per
 * possible CPU (max_entries is set by user space before load), as used by
 * cpu_account.bpf.c and the benchmark's one-store reference. */
#define CINERGY_CPU_ACCT_MAP(name)          \
  struct {                                  \
    __uint(type, BPF_MAP_TYPE_ARRAY);       \
    __uint(map_flags, BPF_F_MMAPABLE);      \
    __uint(max_entries, 1);                 \
    __type(key, __u32);                     \
    __type(value, struct cinergy_cpu_acct); \
  } name SEC(".maps")
#endif

#endif /* CINERGY_CPU_ACCOUNT_H */
