// SPDX-License-Identifier: GPL-2.0
/* The reference for the overhead benchmark: an empty tp_btf/sched_switch
 * program, loaded in the same run as the accounting program. */
// clang-format off
#include "vmlinux.h"
// clang-format on

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_switch")
int BPF_PROG(cinergy_empty_switch, bool preempt, struct task_struct* prev, struct task_struct* next,
             unsigned int prev_state) {
  return 0;
}
