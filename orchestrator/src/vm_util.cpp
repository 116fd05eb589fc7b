// Pure parsing/formatting and small process, cgroup and readiness helpers of
// the VM control (see vm_internal.hpp).
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "vm_internal.hpp"

#ifndef CINERGY_SCRIPTS_DIR
#define CINERGY_SCRIPTS_DIR "scripts"
#endif

namespace cinergy::orchestrator::vm_detail {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::optional<int> to_int(std::string_view s) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return value;
}

std::string join_ints(const std::vector<int>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  return out;
}

bool write_file(const fs::path& file, std::string_view text) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool good = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return good;
}

}  // namespace

// --- /proc and cgroup2 parsing ----------------------------------------------

Result<fs::path> parse_cgroup2_mount(std::string_view mountinfo_text) {
  for (auto line : split(mountinfo_text, '\n')) {
    // "<id> <parent> <maj:min> <root> <mount point> <options> [optional...] - <fstype> ..."
    auto dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    auto after = line.substr(dash + 3);
    if (!after.starts_with("cgroup2 ")) continue;
    auto fields = split(line.substr(0, dash), ' ');
    if (fields.size() < 5) continue;
    return fs::path(std::string(fields[4]));
  }
  return fail("no cgroup2 hierarchy mounted (mountinfo has no cgroup2 entry)");
}

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
  bool vcpu = last.starts_with("vcpu") && last.size() > 4 && to_int(last.substr(4)).has_value();
  if (last == "emulator" || vcpu) path.resize(slash == 0 ? 1 : slash);
  return path;
}

Result<int> parse_pid(std::string_view text, std::string_view what) {
  auto begin = text.find_first_not_of(" \t\n");
  if (begin == std::string_view::npos) return fail(fmt::format("{}: empty pid file", what));
  auto end = text.find_first_of(" \t\n", begin);
  auto value = to_int(text.substr(begin, end == std::string_view::npos ? text.npos : end - begin));
  if (!value || *value <= 0) return fail(fmt::format("{}: not a pid", what));
  return *value;
}

// --- host lookups --------------------------------------------------------------

Result<std::string> read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail_errno(fmt::format("cannot read {}", file.string()));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Result<fs::path> cgroup2_root(const HostPaths& paths) {
  if (!paths.cgroup2_root.empty()) return paths.cgroup2_root;
  auto text = read_text(paths.mountinfo);
  if (!text) return std::unexpected(text.error());
  return parse_cgroup2_mount(*text);
}

Result<fs::path> vm_cgroup_of_pid(const HostPaths& paths, int pid) {
  auto root = cgroup2_root(paths);
  if (!root) return std::unexpected(root.error());
  auto file = paths.proc_root / std::to_string(pid) / "cgroup";
  auto text = read_text(file);
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
  auto stat = read_text(paths.proc_root / std::to_string(pid) / "stat");
  if (!stat) return false;
  auto paren = stat->rfind(')');  // state follows the last ')' of "pid (comm) S ..."
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] != 'Z' &&
         (*stat)[paren + 2] != 'X';
}

std::vector<int> find_qemu_by_name(const HostPaths& paths, std::string_view name) {
  std::vector<int> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(paths.proc_root, ec)) {
    auto pid = to_int(entry.path().filename().string());
    if (!pid) continue;
    auto cmdline = read_text(entry.path() / "cmdline");
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

// --- test VM text ------------------------------------------------------------------

Result<void> validate_testvm(const VmOptions& o) {
  if (o.testvm_vcpus < 1 || o.testvm_vcpus > 64)
    return fail(fmt::format("test VM: vcpus {} out of range 1..64", o.testvm_vcpus));
  if (o.testvm_memory_mib < 64 || o.testvm_memory_mib > 65536)
    return fail(fmt::format("test VM: memory {} MiB out of range 64..65536", o.testvm_memory_mib));
  if (o.testvm_profile_pct.empty()) return fail("test VM: empty load profile");
  for (int pct : o.testvm_profile_pct)
    if (pct < 0 || pct > 100)
      return fail(fmt::format("test VM: load {} % out of range 0..100", pct));
  if (o.testvm_step_seconds < 1)
    return fail(fmt::format("test VM: step {} s must be >= 1", o.testvm_step_seconds));
  if (o.testvm_cycles < 1)
    return fail(fmt::format("test VM: cycles {} must be >= 1", o.testvm_cycles));
  return ok();
}

std::string testvm_cmdline(const VmOptions& o) {
  return fmt::format(
      "console=ttyS0 panic=-1 quiet cinergy.profile={} cinergy.step={} cinergy.cycles={}",
      join_ints(o.testvm_profile_pct), o.testvm_step_seconds, o.testvm_cycles);
}

Result<Profile> parse_profile_cmdline(std::string_view cmdline) {
  Profile p{{20, 95, 60, 3}, 30, 1};  // the guest's defaults (scripts/testvm/init)
  for (auto word : split(cmdline, ' ')) {
    auto eq = word.find('=');
    if (eq == std::string_view::npos) continue;
    auto key = word.substr(0, eq);
    auto value = word.substr(eq + 1);
    if (key == "cinergy.profile") {
      p.pct.clear();
      for (auto item : split(value, ',')) {
        auto v = to_int(item);
        if (!v) return fail(fmt::format("bad cinergy.profile '{}'", value));
        p.pct.push_back(*v);
      }
    } else if (key == "cinergy.step" || key == "cinergy.cycles") {
      auto v = to_int(value);
      if (!v) return fail(fmt::format("bad {} '{}'", key, value));
      (key == "cinergy.step" ? p.step_seconds : p.cycles) = *v;
    }
  }
  return p;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string testvm_domain_xml(const VmOptions& o, std::string_view name, const TestVmFiles& f,
                              bool kvm) {
  return fmt::format(
      "<domain type='{}'>\n"
      "  <name>{}</name>\n"
      "  <memory unit='MiB'>{}</memory>\n"
      "  <vcpu placement='static'>{}</vcpu>\n"
      "  <os>\n"
      "    <type arch='x86_64' machine='pc'>hvm</type>\n"
      "    <kernel>{}</kernel>\n"
      "    <initrd>{}</initrd>\n"
      "    <cmdline>{}</cmdline>\n"
      "  </os>\n"
      "  <features><acpi/></features>\n"
      "  "
      "<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</"
      "on_crash>\n"
      "  <devices>\n"
      "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
      "    <controller type='usb' model='none'/>\n"
      "    <serial type='file'><source path='{}'/><target port='0'/></serial>\n"
      "    <memballoon model='none'/>\n"
      "  </devices>\n"
      "</domain>\n",
      kvm ? "kvm" : "qemu", xml_escape(name), o.testvm_memory_mib, o.testvm_vcpus,
      xml_escape(f.kernel.string()), xml_escape(f.initrd.string()), xml_escape(testvm_cmdline(o)),
      xml_escape(f.serial_log.string()));
}

std::vector<std::string> testvm_qemu_argv(const VmOptions& o, std::string_view name,
                                          const TestVmFiles& f, bool kvm) {
  return {"qemu-system-x86_64",
          "-name",
          fmt::format("{},debug-threads=on", name),
          "-machine",
          kvm ? "pc,accel=kvm" : "pc,accel=tcg",
          "-smp",
          std::to_string(o.testvm_vcpus),
          "-m",
          std::to_string(o.testvm_memory_mib),
          "-nodefaults",
          "-no-user-config",
          "-display",
          "none",
          "-serial",
          "file:" + f.serial_log.string(),
          "-kernel",
          f.kernel.string(),
          "-initrd",
          f.initrd.string(),
          "-append",
          testvm_cmdline(o),
          "-no-reboot",
          "-pidfile",
          f.pid_file.string()};
}

// --- processes ----------------------------------------------------------------

Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty() || argv[0].empty()) return fail("spawn: empty command");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; e && *e; ++e) env.push_back(*e);
  for (const auto& kv : options.env_add) env.push_back(const_cast<char*>(kv.c_str()));
  env.push_back(nullptr);
  // Prepared before fork: the child only makes async-signal-safe calls.
  std::string procs =
      options.cgroup_dir.empty() ? std::string() : (options.cgroup_dir / "cgroup.procs").string();
  std::string out =
      options.output_file.empty() ? std::string("/dev/null") : options.output_file.string();
  int out_flags = options.output_file.empty() ? O_WRONLY : (O_WRONLY | O_CREAT | O_APPEND);
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return fail_errno("spawn: pipe");

  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    return fail_errno(e, fmt::format("cannot fork for {}", argv[0]));
  }
  if (pid == 0) {
    auto die = [&](int stage) {
      int report[2] = {stage, errno};
      (void)!::write(err_pipe[1], report, sizeof report);
      ::_exit(127);
    };
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (options.new_session) {
      if (::setsid() < 0) die(1);
    } else if (options.own_process_group && ::setpgid(0, 0) != 0) {
      die(1);
    }
    if (!procs.empty()) {
      int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::write(fd, "0", 1) != 1) die(2);
      ::close(fd);
    }
    int null_in = ::open("/dev/null", O_RDONLY);
    int fd_out = ::open(out.c_str(), out_flags, 0644);
    if (null_in < 0 || fd_out < 0) die(3);
    ::dup2(null_in, 0);
    ::dup2(fd_out, 1);
    ::dup2(fd_out, 2);
    ::execvpe(args[0], args.data(), env.data());
    die(4);
  }
  ::close(err_pipe[1]);
  int report[2] = {0, 0};
  ssize_t n;
  do n = ::read(err_pipe[0], report, sizeof report);
  while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == sizeof report) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    static constexpr const char* kStage[] = {"", "setpgid/setsid", "joining cgroup",
                                             "opening output", "exec"};
    std::string where = report[0] == 2
                            ? fmt::format("joining cgroup {}", options.cgroup_dir.string())
                        : report[0] == 3 ? fmt::format("opening {}", out)
                                         : std::string(kStage[std::clamp(report[0], 0, 4)]);
    return fail_errno(report[1], fmt::format("cannot start {} ({})", argv[0], where));
  }
  return pid;
}

std::optional<int> try_reap(pid_t pid) {
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == 0) return std::nullopt;
  if (r < 0) return errno == ECHILD ? std::optional<int>(-1) : std::nullopt;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return std::nullopt;
}

void terminate_and_reap(pid_t pid, bool process_group, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  if (try_reap(pid)) {
    if (process_group) ::kill(-pid, SIGKILL);  // leftovers of an ended leader's group
    return;
  }
  ::kill(process_group ? -pid : pid, SIGTERM);
  auto deadline = Clock::now() + grace;
  while (Clock::now() < deadline) {
    if (try_reap(pid)) {
      if (process_group) ::kill(-pid, SIGKILL);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(process_group ? -pid : pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

Result<int> run_wait(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                     const fs::path& output_file) {
  auto pid = spawn(
      argv,
      SpawnOptions{
          .own_process_group = true, .cgroup_dir = {}, .output_file = output_file, .env_add = {}});
  if (!pid) return std::unexpected(pid.error());
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (auto status = try_reap(*pid)) return *status;
    if (Clock::now() >= deadline) {
      terminate_and_reap(*pid, true, std::chrono::milliseconds(500));
      return fail(fmt::format("{} did not finish within {} ms", argv[0], timeout.count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// --- cgroups -------------------------------------------------------------------

Result<void> make_cgroup(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0)
    return fail_errno(fmt::format("cannot create cgroup {}", dir.string()));
  return ok();
}

bool cgroup_populated(const fs::path& dir) {
  auto events = read_text(dir / "cgroup.events");
  if (events) return events->find("populated 1") != std::string::npos;
  auto procs = read_text(dir / "cgroup.procs");
  return procs && procs->find_first_of("0123456789") != std::string::npos;
}

Result<void> kill_and_remove_cgroup(const fs::path& dir, std::chrono::milliseconds timeout) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return ok();
  auto deadline = Clock::now() + timeout;
  bool tried_kill = false;
  while (cgroup_populated(dir)) {
    if (!tried_kill) {
      tried_kill = true;
      if (!write_file(dir / "cgroup.kill", "1")) {
        // Kernels before 5.14: signal each process.
        if (auto procs = read_text(dir / "cgroup.procs")) {
          for (auto line : split(*procs, '\n'))
            if (auto pid = to_int(line)) ::kill(*pid, SIGKILL);
        }
      }
    }
    if (Clock::now() >= deadline)
      return fail(fmt::format("cgroup {} still holds processes", dir.string()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Children first (threaded emulator/vcpuN), then the directory itself.
  std::vector<fs::path> children;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec)) children.push_back(e.path());
  for (const auto& child : children) {
    if (::rmdir(child.c_str()) != 0 && errno != ENOENT) {
      if (auto r = kill_and_remove_cgroup(child, timeout); !r) return r;
    }
  }
  while (::rmdir(dir.c_str()) != 0) {
    if (errno == ENOENT) break;
    if (errno != EBUSY || Clock::now() >= deadline)
      return fail_errno(fmt::format("cannot remove cgroup {}", dir.string()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ok();
}

Result<void> split_qemu_threads(const HostPaths& paths, int qemu_pid, const fs::path& dir,
                                int vcpus, std::chrono::milliseconds timeout) {
  auto task_dir = paths.proc_root / std::to_string(qemu_pid) / "task";
  std::map<int, int> vcpu_tid;  // vCPU index -> thread id
  auto deadline = Clock::now() + timeout;
  while (static_cast<int>(vcpu_tid.size()) < vcpus) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(task_dir, ec)) {
      auto tid = to_int(e.path().filename().string());
      auto comm = read_text(e.path() / "comm");
      if (!tid || !comm || !comm->starts_with("CPU ")) continue;
      auto slash = comm->find('/');
      if (auto index =
              to_int(std::string_view(*comm).substr(4, slash == std::string::npos ? 0 : slash - 4)))
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
    auto tid = to_int(e.path().filename().string());
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

// --- readiness -------------------------------------------------------------------

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

Result<void> wait_ready(const ReadySpec& spec, const std::function<bool()>& vm_gone,
                        std::string_view vm_label) {
  auto deadline = Clock::now() + spec.timeout;
  bool file_ok = spec.file.empty();
  bool marker_ok = spec.marker_file.empty() || spec.marker.empty();
  bool command_ok = spec.command.empty();
  while (true) {
    std::error_code ec;
    if (!file_ok) file_ok = fs::exists(spec.file, ec);
    if (!marker_ok) {
      auto text = read_text(spec.marker_file);
      marker_ok = text && text->find(spec.marker) != std::string::npos;
    }
    if (file_ok && marker_ok && !command_ok) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto status = run_wait(spec.command, std::max(left, std::chrono::milliseconds(100)));
      if (!status && status.error().errno_value != 0)
        return fail(fmt::format("{}: ready command: {}", vm_label, status.error().what()));
      command_ok = status && *status == 0;
    }
    if (file_ok && marker_ok && command_ok) return ok();
    if (vm_gone && vm_gone()) return fail(fmt::format("{} stopped before it was ready", vm_label));
    if (Clock::now() >= deadline) {
      std::string what = !file_ok ? fmt::format("file {} to appear", spec.file.string())
                         : !marker_ok
                             ? fmt::format("'{}' in {}", spec.marker, spec.marker_file.string())
                             : fmt::format("command '{}' to exit 0", spec.command[0]);
      return fail(fmt::format(
          "{} not ready after {} s (waiting for {})", vm_label,
          std::chrono::duration_cast<std::chrono::seconds>(spec.timeout).count(), what));
    }
    std::this_thread::sleep_for(spec.poll);
  }
}

fs::path scripts_dir() {
  if (const char* env = std::getenv("CINERGY_SCRIPTS_DIR"); env && *env) return env;
  return CINERGY_SCRIPTS_DIR;
}

}  // namespace cinergy::orchestrator::vm_detail
