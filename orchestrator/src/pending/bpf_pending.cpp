// TEMPORARY link stand-ins until the bpf branch lands (see sampler_pending.cpp).
#include "cinergy/bpf/cpu_accounting.hpp"

namespace cinergy::bpf {
Result<std::unique_ptr<CpuAccounting>> open_cpu_accounting(const Options&) {
  return fail("CPU accounting is not built into this binary yet");
}
Result<std::filesystem::path> detect_cgroup2_root() {
  return fail("CPU accounting is not built into this binary yet");
}
}  // namespace cinergy::bpf
