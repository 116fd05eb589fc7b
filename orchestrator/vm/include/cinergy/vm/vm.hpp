// The subject VM of scenarios B and C: an existing libvirt domain, a
// user's launch script, or the built-in test VM (libvirt when a daemon
// answers, else a plain qemu process in its own cgroup). Every VM the run
// starts is stopped by stop() or by the destructor; a VM found running by the
// user is refused (the run needs it to start alone), never touched.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::vm {

// How the test VM's vCPUs run. `automatic` boots under KVM when /dev/kvm
// opens and keeps it only if the guest shows that it boots (its first console
// output within VmOptions::kvm_boot_deadline); otherwise it destroys that VM,
// says why in one line and boots under TCG. An openable /dev/kvm is not
// proof: a nested KVM may accept a guest and never run it (docs/vm.md).
enum class TestVmAccel { automatic, kvm, tcg };
// "auto", "kvm", "tcg"; anything else is an error naming `flag`.
Result<TestVmAccel> parse_testvm_accel(std::string_view text, std::string_view flag);
std::string_view to_string(TestVmAccel accel);

struct VmOptions {
  enum class Kind { libvirt_domain, launch_script, testvm };
  Kind kind = Kind::testvm;
  std::string name;  // libvirt domain name (libvirt_domain, testvm)
  std::string connect_uri = "qemu:///system";
  std::filesystem::path launch_script;  // launch_script: run with an argv, no shell string
  // Readiness before measuring: a command (argv) that must exit 0, or a file
  // that must appear; polled until ready_timeout.
  std::vector<std::string> ready_command;
  std::filesystem::path ready_file;
  std::chrono::seconds ready_timeout{120};
  // Test VM: vCPUs, memory, and its load profile (guest duty cycle per vCPU,
  // each held for step_seconds, cycled `cycles` times; the paper-like default
  // is 20,95,60,3 % x 30 s). The guest powers off at the end.
  int testvm_vcpus = 2;
  int testvm_memory_mib = 256;
  std::vector<int> testvm_profile_pct = {20, 95, 60, 3};
  int testvm_step_seconds = 30;
  int testvm_cycles = 1;
  bool testvm_force_qemu = false;  // plain qemu even when a libvirt daemon answers
  TestVmAccel testvm_accel = TestVmAccel::automatic;
  // Under KVM (auto or kvm), the guest's first console byte must come within
  // this; a guest that boots writes its first line in 1 to 3 s.
  std::chrono::seconds kvm_boot_deadline{20};
  // Set by a caller that already saw KVM fail to boot the test VM on this
  // host (one line, describe()'s "kvm_failure"): `automatic` then boots under
  // TCG at once instead of paying the deadline again (cinergy run's C after B).
  std::string testvm_kvm_failed;
  std::filesystem::path testvm_cache_dir;  // kernel + initramfs (built on first use)
  std::filesystem::path work_dir;          // serial log, domain XML, pid files of this run
  std::filesystem::path cgroup2_root;      // for the plain-qemu fallback and cgroup discovery
};

// What the sampler needs to account the VM's CPU.
struct VmRuntime {
  std::filesystem::path cgroup;  // the VM's cgroup2 directory (scope with emulator/vcpuN children)
  int qemu_pid = 0;              // 0 if unknown (launch script without libvirt)
  int vcpus = 0;
  std::string how;  // "libvirt qemu:///system", "qemu (no libvirt)", "script"
};

class Vm {
 public:
  virtual ~Vm() = default;
  // Starts the VM (and its workload) and waits until it is ready; returns
  // where its CPU time is accounted. Errors are one line naming the VM.
  virtual Result<VmRuntime> start() = 0;
  // Non-blocking: has the VM stopped by itself (workload done, or it vanished)?
  virtual bool finished() = 0;
  // Stops the VM if this object started it and it still runs. Idempotent,
  // safe from a signal-driven shutdown path (not from a signal handler).
  virtual void stop() = 0;
  // For the manifest: kind, name, uri, vcpus, memory, profile, how it ran.
  [[nodiscard]] virtual nlohmann::json describe() const = 0;
};

Result<std::unique_ptr<Vm>> make_vm(const VmOptions& options);

// What /dev/kvm is worth on this host, judged by a guest that boots: the
// built-in test VM (built on first use) as a plain qemu process under
// accel=kvm, given `options.kvm_boot_deadline` for its first console output,
// then stopped. Takes up to that deadline plus qemu's start; needs root, qemu
// and a cgroup2 mount to run the guest (else `state` is not_checked).
struct KvmProbe {
  enum class State { absent, cannot_open, boots, does_not_boot, not_checked };
  State state = State::not_checked;
  std::string detail;  // one line: what was seen (errno text, seconds to boot, why not checked)
  double boot_s = 0;   // boots: create -> first console output
};
KvmProbe probe_kvm(const VmOptions& options);
// "absent", "present, boots a guest", "present, does not boot a guest",
// "present, cannot be opened", "present, not checked".
std::string_view to_string(KvmProbe::State state);

}  // namespace cinergy::vm
