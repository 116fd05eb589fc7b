// TEMPORARY link stand-in until the vm branch lands (compiled only while no
// orchestrator/src/vm*.cpp exists).
#include "cinergy/orchestrator/vm.hpp"

namespace cinergy::orchestrator {
Result<std::unique_ptr<Vm>> make_vm(const VmOptions&) {
  return fail("the VM control is not built into this binary yet");
}
}  // namespace cinergy::orchestrator
