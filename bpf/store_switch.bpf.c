// SPDX-License-Identifier: GPL-2.0
/* The second reference for the overhead benchmark: the least a program that
 * keeps per-CPU state can do on a switch, one store into this CPU's element
 * of an mmapable array map laid out like cpu_account's cpu_acct. Where every
 * kernel entry starts with a cold TLB for BPF memory (page-table isolation
 * without PCID, nested paging: the development VMs), that first touch costs
 * about as much as the rest of the accounting program. The bench reports the
 * accounting program against both references (docs/bpf.md). */
// clang-format off
#include "vmlinux.h"
// clang-format on

#include "cpu_account.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* max_entries = number of possible CPUs, set by user space before load. */
CINERGY_CPU_ACCT_MAP(store_cpu);

SEC("tp_btf/sched_switch")
int BPF_PROG(cinergy_store_switch, bool preempt, struct task_struct* prev,
             struct task_struct* next, unsigned int prev_state) {
  __u32 cpu = bpf_get_smp_processor_id();
  struct cinergy_cpu_acct* a = bpf_map_lookup_elem(&store_cpu, &cpu);
  if (a) a->row.cur_task = (__u64)next;
  return 0;
}
