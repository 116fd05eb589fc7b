// Private building blocks of the VM control (vm.hpp): pure text functions
// (domain XML, qemu argv, kernel command line, /proc parsing) and host
// lookups (testvm_config.cpp, host_lookup.cpp). Every host path is a
// parameter so the unit tests run them on fake /proc and cgroup trees.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/cgroup.hpp"
#include "cinergy/common/error.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"
#include "cinergy/common/ready.hpp"
#include "cinergy/vm/vm.hpp"

namespace cinergy::vm::detail {

namespace fs = std::filesystem;

// Where the VM control looks on the host; tests point these at temp dirs.
struct HostPaths {
  fs::path proc_root = "/proc";
  fs::path libvirt_run_dir = "/run/libvirt/qemu";  // <name>.pid of qemu:///system domains
  fs::path cgroup2_root;                           // empty: detected from mountinfo
  fs::path mountinfo = "/proc/self/mountinfo";
  fs::path dev_kvm = "/dev/kvm";
};

inline constexpr std::string_view kTestVmDefaultName = "cinergy-testvm";
inline constexpr std::string_view kTestVmDefaultCache = "/var/cache/cinergy/testvm";
// Printed by scripts/testvm/init when the guest's /init starts (readiness).
inline constexpr std::string_view kTestVmInitMarker = "cinergy-testvm: init ";
inline constexpr std::string_view kTestVmDoneMarker = "cinergy-testvm: done ";

// --- /proc and cgroup2 parsing (pure) -------------------------------------

// The path of the "0::" line of a /proc/<pid>/cgroup text, e.g.
// "/machine/qemu-1-vm.libvirt-qemu/emulator".
Result<std::string> parse_cgroup2_line(std::string_view proc_pid_cgroup_text);
// A libvirt qemu process sits in <scope>/emulator (threads in vcpuN); the VM's
// cgroup is the scope: strips one trailing "emulator"/"vcpuN" component.
std::string vm_scope_of(std::string_view cgroup_path);
// First positive decimal integer of a pid file ("1234\n").
Result<int> parse_pid(std::string_view text, std::string_view what);

// --- host lookups through HostPaths ---------------------------------------

Result<fs::path> cgroup2_root(const HostPaths& paths);
// The VM cgroup (absolute, under the cgroup2 root) of qemu process `pid`.
Result<fs::path> vm_cgroup_of_pid(const HostPaths& paths, int pid);
bool pid_alive(const HostPaths& paths, int pid);
// When process `pid` started, Unix time in s: field 22 of PROC/PID/stat
// (clock ticks since boot) plus PROC/stat's btime. nullopt when unreadable.
std::optional<double> process_start_unix_s(const HostPaths& paths, int pid);
// PIDs of qemu processes started with `-name NAME[,...]` (plain qemu, no libvirt).
std::vector<int> find_qemu_by_name(const HostPaths& paths, std::string_view name);

// --- test VM: options, kernel command line, domain XML, qemu argv (pure) ---

Result<void> validate_testvm(const VmOptions& options);
// "console=ttyS0 panic=-1 quiet cinergy.profile=20,95,60,3 cinergy.step=30 cinergy.cycles=1"
std::string testvm_cmdline(const VmOptions& options);
// Inverse of the cinergy.* part, for tests and for reading a serial log back.
struct Profile {
  std::vector<int> pct;
  int step_seconds = 0;
  int cycles = 0;
};
Result<Profile> parse_profile_cmdline(std::string_view cmdline);
std::string xml_escape(std::string_view text);

struct TestVmFiles {
  fs::path kernel;
  fs::path initrd;
  fs::path serial_log;
  fs::path pid_file;  // plain qemu only
};
// Transient libvirt domain (real-vm.md): TCG or KVM, no disk, no network,
// ACPI on (else poweroff -f only halts and the domain never ends).
std::string testvm_domain_xml(const VmOptions& options, std::string_view name,
                              const TestVmFiles& files, bool kvm);
std::vector<std::string> testvm_qemu_argv(const VmOptions& options, std::string_view name,
                                          const TestVmFiles& files, bool kvm);

// --- threads of a plain qemu ----------------------------------------------------
// (processes, cgroups and readiness waits: cinergy/common/process.hpp,
// cgroup.hpp, ready.hpp)

// Mirrors libvirt's layout for a plain qemu process in `dir`: threaded
// children vcpuN (threads named "CPU N/...") and emulator (all others).
Result<void> split_qemu_threads(const HostPaths& paths, int qemu_pid, const fs::path& dir,
                                int vcpus, std::chrono::milliseconds timeout);

// --- KVM ----------------------------------------------------------------------

// 0 when `dev_kvm` opens read-write (what qemu needs for accel=kvm), else the
// errno of the attempt (ENOENT: no such device node).
int kvm_open_errno(const fs::path& dev_kvm);

// vm::probe_kvm on injectable host paths (paths.dev_kvm: the device it opens
// first; a guest is tried only when it opens).
KvmProbe probe_kvm(const VmOptions& options, const HostPaths& paths);

// Polls until `file` holds at least one byte (the guest's first console
// output), `gone()` turns true, or `deadline` passes. Returns the seconds it
// took from the call, nullopt when no byte came.
std::optional<double> wait_first_output(const fs::path& file, std::chrono::milliseconds deadline,
                                        const std::function<bool()>& gone);

// Where build-testvm.sh and libvirt-up.sh live: $CINERGY_SCRIPTS_DIR, else
// the source tree's scripts/ (compiled in).
fs::path scripts_dir();

}  // namespace cinergy::vm::detail
