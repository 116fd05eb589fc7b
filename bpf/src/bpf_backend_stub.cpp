// Built when clang, bpftool or kernel BTF were missing at build time: the
// BPF backend reports why, and "auto" falls back to procfs.
#include "backends.hpp"
#include "cinergy/bpf/bench.hpp"

namespace cinergy::bpf {
namespace detail {
Result<std::unique_ptr<CpuAccounting>> open_bpf_backend(const std::filesystem::path&,
                                                        const std::filesystem::path&,
                                                        const Options&) {
  return fail("built without the BPF backend (clang, bpftool or kernel BTF missing at build time)");
}
}  // namespace detail

Result<std::vector<SwitchBenchRun>> run_switch_bench(const SwitchBenchOptions&) {
  return fail("built without the BPF backend (clang, bpftool or kernel BTF missing at build time)");
}
}  // namespace cinergy::bpf
