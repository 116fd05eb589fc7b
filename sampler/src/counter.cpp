// Counter arithmetic is header-only (constexpr, table-tested); this unit checks it compiles
// standalone.
#include "cinergy/sampler/counter.hpp"

namespace cinergy::sampler {
static_assert(energy_unit_uj(0xA0E03) == 61.03515625);
static_assert(counter_step(0xFFFFFFF0u, 0x10, kMsrModulus, 0, 0).delta_raw == 0x20);
}  // namespace cinergy::sampler
