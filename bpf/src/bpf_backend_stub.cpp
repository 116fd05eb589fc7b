#include "backends.hpp"
namespace cinergy::bpf::detail {
Result<std::unique_ptr<CpuAccounting>> open_bpf_backend(const std::filesystem::path&,
                                                        const std::filesystem::path&) {
  return fail("built without the BPF backend (clang, bpftool or kernel BTF missing at build time)");
}
}  // namespace cinergy::bpf::detail
