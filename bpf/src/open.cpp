// open_cpu_accounting(): backend choice and the fallback policy.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "backends.hpp"
#include "cgroup_tree.hpp"
#include "cinergy/common/cgroup.hpp"

namespace cinergy::bpf {
namespace fs = std::filesystem;

fs::path resolve_cgroup_target(const fs::path& cgroup2_root, std::string_view target) {
  return detail::resolve_cgroup_dir(cgroup2_root, target);
}

Result<std::unique_ptr<CpuAccounting>> open_cpu_accounting(const Options& options) {
  const auto& b = options.backend;
  if (b != "auto" && b != "bpf" && b != "procfs")
    return fail("unknown CPU accounting backend '" + b + "' (expected auto, bpf or procfs)");

  fs::path root = options.cgroup2_root;
  if (root.empty()) {
    auto r = cgroup2_mount();
    if (!r) return std::unexpected(r.error());
    root = *r;
  }

  if (b == "procfs") return detail::open_procfs_backend(root, options.proc_root, "");

  auto bpf = detail::open_bpf_backend(root, options.proc_root, options);
  if (bpf || b == "bpf") return bpf;

  std::string reason = bpf.error().what();
  spdlog::warn(
      "CPU accounting: BPF backend unavailable ({}); falling back to procfs "
      "(cpu.stat/schedstat, coarser, lags by up to a scheduler tick)",
      reason);
  return detail::open_procfs_backend(root, options.proc_root, reason);
}

}  // namespace cinergy::bpf
