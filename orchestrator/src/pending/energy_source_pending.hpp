// TEMPORARY, until the sampler branch lands on main: the complete type of
// sampler::EnergySource that run.cpp needs to destroy a unique_ptr of it.
// Excluded automatically once sampler/include/cinergy/sampler/energy_source.hpp exists.
#pragma once
namespace cinergy::sampler {
class EnergySource {
 public:
  virtual ~EnergySource() = default;
};
}  // namespace cinergy::sampler
