// A fake host for the VM control's unit tests: /proc, libvirt's run
// directory of pid files and a cgroup2 tree in a temp dir, as
// vm::detail::HostPaths points at them.
#pragma once

#include <filesystem>
#include <string>

#include "../../orchestrator/vm/src/vm_internal.hpp"
#include "temp_dir.hpp"

namespace cinergy::vm::detail {

struct FakeHost {
  test::TempDir dir;
  HostPaths paths;
  // /proc/stat's btime: processes start `start_ticks` clock ticks after it.
  static constexpr long kBootTime = 1'700'000'000;
  FakeHost() {
    paths.proc_root = dir.path() / "proc";
    paths.libvirt_run_dir = dir.path() / "run/libvirt/qemu";
    paths.cgroup2_root = dir.path() / "cgroup";
    paths.mountinfo = dir.path() / "mountinfo";
    std::filesystem::create_directories(paths.proc_root);
    std::filesystem::create_directories(paths.libvirt_run_dir);
    std::filesystem::create_directories(paths.cgroup2_root);
    dir.write("proc/stat", "cpu  1 2 3 4\nbtime " + std::to_string(kBootTime) + "\n");
  }
  // A process: its stat (state, fields 4..21, the start time as field 22),
  // its cgroup2 line and its command line.
  void process(int pid, const std::string& comm, char state, const std::string& cgroup2,
               const std::string& cmdline = "", long start_ticks = 100) {
    auto p = std::to_string(pid);
    std::string fields;
    for (int f = 4; f <= 21; ++f) fields += " 1";
    dir.write("proc/" + p + "/stat", p + " (" + comm + ") " + state + fields + " " +
                                         std::to_string(start_ticks) + " 0 0\n");
    dir.write("proc/" + p + "/cgroup", "1:cpu:/x\n0::" + cgroup2 + "\n");
    dir.write("proc/" + p + "/cmdline", cmdline);
  }
  // A running qemu:///system domain: pid file, qemu process in <scope>/emulator,
  // the scope's emulator and vcpu0..2 children.
  void libvirt_domain(const std::string& name, int pid, const std::string& scope,
                      long start_ticks = 100) {
    dir.write("run/libvirt/qemu/" + name + ".pid", std::to_string(pid));
    process(pid, "qemu-system-x86", 'S', scope + "/emulator", "", start_ticks);
    for (auto child : {"emulator", "vcpu0", "vcpu1", "vcpu2"})
      std::filesystem::create_directories(paths.cgroup2_root / scope.substr(1) / child);
  }
};

}  // namespace cinergy::vm::detail
