// The three Vm implementations behind make_vm() (vm.hpp). Private: the unit
// tests construct them with HostPaths pointing at fake trees.
#pragma once

#include <sys/types.h>

#include <optional>

#include "cinergy/vm/vm.hpp"
#include "libvirt_client.hpp"
#include "vm_internal.hpp"

namespace cinergy::vm::detail {

// The directory for a VM's serial log, XML, logs and pid files: the user's
// work_dir, or a fresh /tmp/cinergy-vm-XXXXXX removed on destruction.
class WorkDir {
 public:
  Result<fs::path> get(const fs::path& requested);
  ~WorkDir();

 private:
  fs::path path_;
  bool owned_ = false;
};

// Finds a running libvirt domain's qemu pid (pid file), cgroup scope and vCPUs.
Result<VmRuntime> locate_libvirt_domain(const HostPaths& paths, const LibvirtDomain& dom,
                                        const std::string& uri, std::chrono::milliseconds timeout);

ReadySpec ready_spec_of(const VmOptions& options);

class LibvirtDomainVm final : public Vm {
 public:
  LibvirtDomainVm(VmOptions options, HostPaths paths);
  ~LibvirtDomainVm() override;
  Result<VmRuntime> start() override;
  bool finished() override;
  void stop() override;
  [[nodiscard]] nlohmann::json describe() const override;
  // How long to look for the qemu pid file and cgroup after the start.
  std::chrono::milliseconds locate_timeout{10000};

 private:
  VmOptions o_;
  HostPaths paths_;
  std::optional<LibvirtConnection> conn_;
  LibvirtDomain dom_;
  bool started_ = false;
  bool finished_ = false;
  VmRuntime rt_;
};

class LaunchScriptVm final : public Vm {
 public:
  LaunchScriptVm(VmOptions options, HostPaths paths);
  ~LaunchScriptVm() override;
  Result<VmRuntime> start() override;
  bool finished() override;
  void stop() override;
  [[nodiscard]] nlohmann::json describe() const override;

 private:
  Result<VmRuntime> start_impl();
  VmOptions o_;
  HostPaths paths_;
  WorkDir work_;
  fs::path log_;
  pid_t script_pid_ = 0;
  std::optional<int> script_status_;
  fs::path own_cgroup_;  // without --vm NAME: the script runs in this cgroup
  std::optional<LibvirtConnection> conn_;
  LibvirtDomain dom_;
  bool finished_ = false;
  VmRuntime rt_;
};

class TestVm final : public Vm {
 public:
  // options.testvm_force_qemu: plain qemu even when a libvirt daemon answers.
  TestVm(VmOptions options, HostPaths paths);
  ~TestVm() override;
  Result<VmRuntime> start() override;
  bool finished() override;
  void stop() override;
  [[nodiscard]] nlohmann::json describe() const override;
  // After start(): when a guest was booted under KVM and showed no console
  // output within the deadline (whatever happened next), one line saying so;
  // else empty. And the seconds to its first output when it did boot under KVM.
  [[nodiscard]] const std::string& kvm_failure() const { return kvm_failure_; }
  [[nodiscard]] std::optional<double> kvm_first_output_s() const { return kvm_first_output_s_; }

 private:
  Result<VmRuntime> start_impl();
  Result<void> build();
  // The accelerator to boot with first (true: KVM), and why; an error only
  // for --testvm-accel kvm without a usable /dev/kvm.
  Result<bool> first_accel();
  Result<VmRuntime> boot(const TestVmFiles& files);
  Result<VmRuntime> start_libvirt(const TestVmFiles& files);
  Result<VmRuntime> start_qemu(const TestVmFiles& files);
  // Destroys what boot() started (domain, qemu, own cgroup) without marking
  // the VM finished: the KVM attempt of `auto` before booting under TCG.
  void teardown();
  VmOptions o_;
  HostPaths paths_;
  std::string name_;
  fs::path cache_;
  WorkDir work_;
  fs::path serial_log_;
  bool kvm_ = false;
  std::string accel_reason_;  // one line: why kvm_ is what it is
  std::string kvm_failure_;
  std::optional<double> kvm_first_output_s_;
  bool use_libvirt_ = false;
  // libvirt path
  std::optional<LibvirtConnection> conn_;
  LibvirtDomain dom_;
  // plain qemu path
  pid_t qemu_pid_ = 0;
  fs::path own_cgroup_;
  bool finished_ = false;
  VmRuntime rt_;
};

}  // namespace cinergy::vm::detail
