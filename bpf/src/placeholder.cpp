// Replaced by the owning issue's sources (branch bpf).
//
// Until then, a stub so that the sampler branch links `cinergy record
// --cgroup/--pid/--tid`: it reports that CPU accounting is not built in.
// The bpf branch's real open_cpu_accounting() replaces this file.
#include "cinergy/bpf/cpu_accounting.hpp"

namespace cinergy::bpf {
Result<std::unique_ptr<CpuAccounting>> open_cpu_accounting(const Options& /*options*/) {
  return fail("CPU accounting (--cgroup/--pid/--tid) is not built in yet (the bpf library is a placeholder)");
}
}  // namespace cinergy::bpf
