// Writes the report's test fixture run directory (for manual checks and the
// size/time measurement in docs/report.md).
// Usage: report_make_fixture DIR [RATE_HZ] [LEVEL_S] [VM_PERIOD_S] [VM_CYCLES]
#include <cstdio>
#include <cstdlib>

#include "fixture.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [RATE_HZ] [LEVEL_S] [VM_PERIOD_S] [VM_CYCLES]\n", argv[0]);
    return 2;
  }
  cinergy::test::FixtureOptions o;
  if (argc > 2) o.rate_hz = std::atof(argv[2]);
  if (argc > 3) o.level_s = std::atof(argv[3]);
  if (argc > 4) o.vm_period_s = std::atof(argv[4]);
  if (argc > 5) o.vm_cycles = std::atoi(argv[5]);
  cinergy::test::write_fixture(argv[1], o);
  return 0;
}
