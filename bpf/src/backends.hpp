// Backend factories used by open_cpu_accounting().
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "cinergy/bpf/cpu_accounting.hpp"

namespace cinergy::bpf::detail {

// The procfs backend; `fallback_reason` is what fallback_reason() reports
// (empty when procfs was asked for explicitly).
Result<std::unique_ptr<CpuAccounting>> open_procfs_backend(
    const std::filesystem::path& cgroup2_root, const std::filesystem::path& proc_root,
    std::string fallback_reason);

// The BPF backend: loads and attaches the sched_switch program. Errors say why
// (not root, no BTF, verifier refused, ...) so "auto" can fall back.
Result<std::unique_ptr<CpuAccounting>> open_bpf_backend(const std::filesystem::path& cgroup2_root,
                                                        const std::filesystem::path& proc_root,
                                                        const Options& options);

}  // namespace cinergy::bpf::detail
