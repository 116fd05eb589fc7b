// Host lookups of the VM control (vm_internal.hpp): /proc and cgroup2 parsing,
// a VM's qemu process and cgroup, libvirt's thread layout for plain qemu,
// /dev/kvm and the guest's first console output. Every path comes from
// HostPaths, so the unit tests run these on fake trees.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <map>
#include <thread>

#include "cinergy/common/cgroup.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/proc_stat.hpp"
#include "cinergy/common/text.hpp"
#include "vm_internal.hpp"

#ifndef CINERGY_SCRIPTS_DIR
#define CINERGY_SCRIPTS_DIR "scripts"
#endif

namespace cinergy::vm::detail {

using Clock = std::chrono::steady_clock;

// --- /proc and cgroup2 parsing ----------------------------------------------

Result<std::string> parse_cgroup2_line(std::string_view text) {
  for (auto line : split(text, '\n')) {
    if (line.starts_with("0::")) return std::string(line.substr(3));
  }
  return fail("no cgroup2 (0::) line");
}

std::string vm_scope_of(std::string_view cgroup_path) {
  std::string path(cgroup_path);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return path;
  std::string_view last = std::string_view(path).substr(slash + 1);
  bool vcpu = last.starts_with("vcpu") && last.size() > 4 && parse_int(last.substr(4)).has_value();
  if (last == "emulator" || vcpu) path.resize(slash == 0 ? 1 : slash);
  return path;
}

Result<int> parse_pid(std::string_view text, std::string_view what) {
  auto begin = text.find_first_not_of(" \t\n");
  if (begin == std::string_view::npos) return fail(fmt::format("{}: empty pid file", what));
  auto end = text.find_first_of(" \t\n", begin);
  auto value =
      parse_int(text.substr(begin, end == std::string_view::npos ? text.npos : end - begin));
  if (!value || *value <= 0) return fail(fmt::format("{}: not a pid", what));
  return *value;
}

Result<fs::path> cgroup2_root(const HostPaths& paths) {
  if (!paths.cgroup2_root.empty()) return paths.cgroup2_root;
  return cgroup2_mount(paths.mountinfo);
}

Result<fs::path> vm_cgroup_of_pid(const HostPaths& paths, int pid) {
  auto root = cgroup2_root(paths);
  if (!root) return std::unexpected(root.error());
  auto file = paths.proc_root / std::to_string(pid) / "cgroup";
  auto text = read_file(file);
  if (!text) return std::unexpected(text.error());
  auto line = parse_cgroup2_line(*text);
  if (!line) return fail(fmt::format("{}: {}", file.string(), line.error().message));
  auto scope = vm_scope_of(*line);
  auto dir = *root / fs::path(scope).relative_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail(fmt::format("cgroup {} of pid {} does not exist", dir.string(), pid));
  return dir;
}

bool pid_alive(const HostPaths& paths, int pid) {
  if (pid <= 0) return false;
  auto stat = read_file(paths.proc_root / std::to_string(pid) / "stat");
  if (!stat) return false;
  auto paren = stat->rfind(')');  // state follows the last ')' of "pid (comm) S ..."
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] != 'Z' &&
         (*stat)[paren + 2] != 'X';
}

std::optional<double> process_start_unix_s(const HostPaths& paths, int pid) {
  const auto st = read_proc_stat(paths.proc_root / std::to_string(pid) / "stat");
  if (!st) return std::nullopt;
  return ticks_to_unix_s(paths.proc_root, st->start_ticks);
}

std::vector<int> find_qemu_by_name(const HostPaths& paths, std::string_view name) {
  std::vector<int> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(paths.proc_root, ec)) {
    auto pid = parse_int(entry.path().filename().string());
    if (!pid) continue;
    auto cmdline = read_file(entry.path() / "cmdline");
    if (!cmdline || cmdline->empty()) continue;
    auto args = split(*cmdline, '\0');
    if (args.empty() ||
        fs::path(std::string(args[0])).filename().string().find("qemu-system") == std::string::npos)
      continue;
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] != "-name") continue;
      auto value = args[i + 1];
      auto first = value.substr(0, value.find(','));
      if (first == name || first == fmt::format("guest={}", name)) found.push_back(*pid);
    }
  }
  std::ranges::sort(found);
  return found;
}

Result<void> split_qemu_threads(const HostPaths& paths, int qemu_pid, const fs::path& dir,
                                int vcpus, std::chrono::milliseconds timeout) {
  auto task_dir = paths.proc_root / std::to_string(qemu_pid) / "task";
  std::map<int, int> vcpu_tid;  // vCPU index -> thread id
  auto deadline = Clock::now() + timeout;
  while (static_cast<int>(vcpu_tid.size()) < vcpus) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(task_dir, ec)) {
      auto tid = parse_int(e.path().filename().string());
      auto comm = read_file(e.path() / "comm");
      if (!tid || !comm || !comm->starts_with("CPU ")) continue;
      auto slash = comm->find('/');
      if (auto index = parse_int(
              std::string_view(*comm).substr(4, slash == std::string::npos ? 0 : slash - 4)))
        vcpu_tid[*index] = *tid;
    }
    if (static_cast<int>(vcpu_tid.size()) >= vcpus) break;
    if (ec || Clock::now() >= deadline)
      return fail(fmt::format("qemu pid {}: {} of {} vCPU threads found in {}", qemu_pid,
                              vcpu_tid.size(), vcpus, task_dir.string()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto make_threaded = [](const fs::path& child) -> Result<void> {
    if (auto r = make_cgroup(child); !r) return r;
    if (!write_file(child / "cgroup.type", "threaded"))
      return fail_errno(fmt::format("cannot make {} threaded", child.string()));
    return ok();
  };
  auto emulator = dir / "emulator";
  if (auto r = make_threaded(emulator); !r) return r;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(task_dir, ec)) {
    auto tid = parse_int(e.path().filename().string());
    if (!tid) continue;
    bool is_vcpu = std::ranges::any_of(vcpu_tid, [&](const auto& kv) { return kv.second == *tid; });
    if (!is_vcpu)
      (void)write_file(emulator / "cgroup.threads", std::to_string(*tid));  // may have just exited
  }
  for (const auto& [index, tid] : vcpu_tid) {
    auto child = dir / fmt::format("vcpu{}", index);
    if (auto r = make_threaded(child); !r) return r;
    if (!write_file(child / "cgroup.threads", std::to_string(tid)))
      return fail_errno(fmt::format("cannot move vCPU thread {} to {}", tid, child.string()));
  }
  return ok();
}

// --- KVM and the guest's console ------------------------------------------------

int kvm_open_errno(const fs::path& dev_kvm) {
  const int fd = ::open(dev_kvm.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

std::optional<double> wait_first_output(const fs::path& file, std::chrono::milliseconds deadline,
                                        const std::function<bool()>& gone) {
  const auto t0 = Clock::now();
  while (true) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (!ec && size > 0) return std::chrono::duration<double>(Clock::now() - t0).count();
    if (gone && gone()) return std::nullopt;
    if (Clock::now() - t0 >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

fs::path scripts_dir() {
  if (const char* env = std::getenv("CINERGY_SCRIPTS_DIR"); env && *env) return env;
  return CINERGY_SCRIPTS_DIR;
}

}  // namespace cinergy::vm::detail
