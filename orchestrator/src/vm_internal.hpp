// Private building blocks of the VM control (vm.hpp): pure text functions
// (domain XML, qemu argv, kernel command line, /proc parsing) and small
// process/cgroup/readiness helpers. Every host path is a parameter so the unit
// tests run them on fake /proc and cgroup trees.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/orchestrator/vm.hpp"

namespace cinergy::orchestrator::vm_detail {

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

// The mount point of the cgroup2 hierarchy in a /proc/self/mountinfo text
// ("/sys/fs/cgroup" on unified hosts, "/sys/fs/cgroup/unified" on hybrid ones).
Result<fs::path> parse_cgroup2_mount(std::string_view mountinfo_text);
// The path of the "0::" line of a /proc/<pid>/cgroup text, e.g.
// "/machine/qemu-1-vm.libvirt-qemu/emulator".
Result<std::string> parse_cgroup2_line(std::string_view proc_pid_cgroup_text);
// A libvirt qemu process sits in <scope>/emulator (threads in vcpuN); the VM's
// cgroup is the scope: strips one trailing "emulator"/"vcpuN" component.
std::string vm_scope_of(std::string_view cgroup_path);
// First positive decimal integer of a pid file ("1234\n").
Result<int> parse_pid(std::string_view text, std::string_view what);

// --- host lookups through HostPaths ---------------------------------------

Result<std::string> read_text(const fs::path& file);
Result<fs::path> cgroup2_root(const HostPaths& paths);
// The VM cgroup (absolute, under the cgroup2 root) of qemu process `pid`.
Result<fs::path> vm_cgroup_of_pid(const HostPaths& paths, int pid);
bool pid_alive(const HostPaths& paths, int pid);
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

// --- processes --------------------------------------------------------------

struct SpawnOptions {
  bool own_process_group = true;
  bool new_session = false;  // setsid(): own session (and process group, and scheduler autogroup)
  fs::path cgroup_dir;       // if set, the child moves itself there before exec
  fs::path output_file;      // stdout+stderr (appended); default /dev/null
  std::vector<std::string> env_add;  // "KEY=VALUE" added to the inherited environment
};
// fork/exec of an argv (execvp, no shell). The child is its own process
// group leader when asked, so the whole tree can be signalled.
Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& options);
// Non-blocking reap: the exit status if `pid` ended, nullopt while it runs.
std::optional<int> try_reap(pid_t pid);
// SIGTERM to the process group (or pid), then SIGKILL after `grace`; reaps.
void terminate_and_reap(pid_t pid, bool process_group, std::chrono::milliseconds grace);
// Runs argv to completion (own process group, output to `output_file` or
// /dev/null); kills it at `timeout`. Returns the exit status (128+sig if killed).
Result<int> run_wait(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                     const fs::path& output_file = {});

// --- cgroups ----------------------------------------------------------------

// mkdir; fails with EEXIST if it exists (never adopts someone else's cgroup).
Result<void> make_cgroup(const fs::path& dir);
// Kills every process of the cgroup (cgroup.kill, else SIGKILL per pid),
// waits until it is empty, then removes it and its child cgroups.
Result<void> kill_and_remove_cgroup(const fs::path& dir, std::chrono::milliseconds timeout);
bool cgroup_populated(const fs::path& dir);
// Mirrors libvirt's layout for a plain qemu process in `dir`: threaded
// children vcpuN (threads named "CPU N/...") and emulator (all others).
Result<void> split_qemu_threads(const HostPaths& paths, int qemu_pid, const fs::path& dir,
                                int vcpus, std::chrono::milliseconds timeout);

// --- KVM ----------------------------------------------------------------------

// 0 when `dev_kvm` opens read-write (what qemu needs for accel=kvm), else the
// errno of the attempt (ENOENT: no such device node).
int kvm_open_errno(const fs::path& dev_kvm);

// --- readiness --------------------------------------------------------------

// Polls until `file` holds at least one byte (the guest's first console
// output), `gone()` turns true, or `deadline` passes. Returns the seconds it
// took from the call, nullopt when no byte came.
std::optional<double> wait_first_output(const fs::path& file, std::chrono::milliseconds deadline,
                                        const std::function<bool()>& gone);

struct ReadySpec {
  std::vector<std::string> command;  // exits 0 when ready
  fs::path file;                     // appears when ready
  fs::path marker_file;              // contains marker when ready
  std::string marker;
  std::chrono::milliseconds timeout{120000};
  std::chrono::milliseconds poll{200};
};
// Polls until every given condition holds. Fails early if vm_gone() turns
// true, and at the timeout with a message naming `vm_label` and the condition.
Result<void> wait_ready(const ReadySpec& spec, const std::function<bool()>& vm_gone,
                        std::string_view vm_label);

// Where build-testvm.sh and libvirt-up.sh live: $CINERGY_SCRIPTS_DIR, else
// the source tree's scripts/ (compiled in).
fs::path scripts_dir();

}  // namespace cinergy::orchestrator::vm_detail
