// The three Vm implementations behind make_vm() (vm.hpp). Private: the unit
// tests construct them with HostPaths pointing at fake trees.
#pragma once

#include <sys/types.h>

#include <optional>

#include "cinergy/orchestrator/vm.hpp"
#include "libvirt_client.hpp"
#include "vm_internal.hpp"

namespace cinergy::orchestrator::vm_detail {

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
  // force_qemu: plain qemu even when a libvirt daemon answers.
  TestVm(VmOptions options, HostPaths paths);
  ~TestVm() override;
  Result<VmRuntime> start() override;
  bool finished() override;
  void stop() override;
  [[nodiscard]] nlohmann::json describe() const override;

 private:
  Result<VmRuntime> start_impl();
  Result<void> build();
  Result<VmRuntime> start_libvirt(const TestVmFiles& files);
  Result<VmRuntime> start_qemu(const TestVmFiles& files);
  VmOptions o_;
  HostPaths paths_;
  std::string name_;
  fs::path cache_;
  WorkDir work_;
  fs::path serial_log_;
  bool kvm_ = false;
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

}  // namespace cinergy::orchestrator::vm_detail
