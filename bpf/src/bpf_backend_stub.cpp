#include "backends.hpp"
namespace cinergy::bpf::detail {
Result<std::unique_ptr<CpuAccounting>> open_bpf_backend(const std::filesystem::path&,
                                                        const std::filesystem::path&) {
  return fail("BPF backend not built yet");
}
}  // namespace cinergy::bpf::detail
