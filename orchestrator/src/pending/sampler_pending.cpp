// TEMPORARY link stand-ins until the sampler branch lands (CMake compiles this
// only while sampler/src/placeholder.cpp exists). Every call fails clearly.
#include "cinergy/sampler/sampler.hpp"
#include "energy_source_pending.hpp"

namespace cinergy::sampler {
struct Sampler::Impl {};
Sampler::~Sampler() = default;
Result<std::unique_ptr<Sampler>> Sampler::create(std::unique_ptr<EnergySource>, bpf::CpuAccounting*,
                                                 SamplerConfig) {
  return fail("the sampler is not built into this binary yet");
}
std::vector<std::string> Sampler::domain_names() const { return {}; }
bool Sampler::simulated() const { return false; }
Result<void> Sampler::start() { return fail("the sampler is not built into this binary yet"); }
Summary Sampler::stop(bool) { return {}; }
std::optional<Snapshot> Sampler::latest() const { return std::nullopt; }
std::int64_t Sampler::t0_monotonic_ns() const { return 0; }
nlohmann::json Summary::to_json() const { return nlohmann::json::object(); }
Result<std::unique_ptr<EnergySource>> open_energy_source(const SourceOptions&,
                                                         bpf::CpuAccounting*) {
  return fail("the sampler is not built into this binary yet");
}
}  // namespace cinergy::sampler
