// The built-in test VM: a busybox initramfs guest whose vCPUs follow a load
// profile given on its kernel command line (scripts/testvm/init), built on
// first use by scripts/build-testvm.sh into a cache directory. Launched as a
// transient libvirt domain when a daemon answers on the URI, else as a plain
// qemu process in its own cgroup2 directory with libvirt's layout
// (emulator + vcpuN threaded children). Under KVM only when a guest boots
// there (--testvm-accel, vm.hpp), else TCG.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "vm_impl.hpp"

namespace cinergy::vm::detail {

TestVm::TestVm(VmOptions options, HostPaths paths)
    : o_(std::move(options)), paths_(std::move(paths)) {
  name_ = o_.name.empty() ? std::string(kTestVmDefaultName) : o_.name;
  if (!o_.testvm_cache_dir.empty())
    cache_ = o_.testvm_cache_dir;
  else if (const char* env = std::getenv("CINERGY_TESTVM_CACHE"); env && *env)
    cache_ = env;
  else
    cache_ = kTestVmDefaultCache;
}

TestVm::~TestVm() { stop(); }

Result<void> TestVm::build() {
  auto script = scripts_dir() / "build-testvm.sh";
  std::error_code ec;
  bool cached = fs::exists(cache_ / "vmlinuz", ec) && fs::exists(cache_ / "initrd.cpio.gz", ec);
  if (!fs::exists(script, ec)) {
    if (cached) return ok();
    return fail(fmt::format("test VM: {} missing and no test VM cached in {}", script.string(),
                            cache_.string()));
  }
  // Always run it: it is a no-op (about 0.1 s) when the cache is up to date.
  auto log = *work_.get(o_.work_dir) / "build-testvm.log";
  if (!cached) spdlog::info("building the test VM into {} (first use)", cache_.string());
  auto status = run_wait({script.string(), cache_.string()}, std::chrono::minutes(10), log);
  if (!status) return fail(fmt::format("test VM build: {}", status.error().what()));
  if (*status != 0) {
    std::string last = "see " + log.string();
    if (auto text = read_file(log)) {
      auto trimmed = text->substr(0, text->find_last_not_of('\n') + 1);
      last = trimmed.substr(trimmed.rfind('\n') + 1);
    }
    return fail(fmt::format("test VM build failed ({}): {}", script.string(), last));
  }
  return ok();
}

Result<VmRuntime> TestVm::start() {
  if (qemu_pid_ != 0 || dom_) return fail(fmt::format("test VM '{}': already started", name_));
  auto rt = start_impl();
  if (!rt) stop();
  return rt;
}

Result<VmRuntime> TestVm::start_impl() {
  if (auto valid = validate_testvm(o_); !valid) return std::unexpected(valid.error());
  auto work = work_.get(o_.work_dir);
  if (!work) return std::unexpected(work.error());
  // Refuse while a VM with this name runs: as a libvirt domain or a plain qemu.
  auto running = find_qemu_by_name(paths_, name_);
  if (!running.empty())
    return fail(
        fmt::format("a VM named '{}' already runs (qemu pid {}): another run? refusing to start",
                    name_, running.front()));
  auto conn = LibvirtConnection::open(o_.connect_uri);
  if (conn) {
    if (auto dom = conn->find(name_); dom && dom.active())
      return fail(fmt::format(
          "a libvirt domain named '{}' already runs on {}: another run? refusing to start", name_,
          o_.connect_uri));
  }
  use_libvirt_ = conn.has_value() && !o_.testvm_force_qemu;
  if (use_libvirt_) conn_ = std::move(*conn);

  if (auto built = build(); !built) return std::unexpected(built.error());
  auto kvm = first_accel();
  if (!kvm) return std::unexpected(kvm.error());
  kvm_ = *kvm;
  serial_log_ = *work / "serial.log";
  TestVmFiles files{cache_ / "vmlinuz", cache_ / "initrd.cpio.gz", serial_log_, *work / "qemu.pid"};
  files.kernel = fs::absolute(files.kernel);
  files.initrd = fs::absolute(files.initrd);

  auto rt = boot(files);
  if (kvm_) {
    // A VM under KVM must show that it runs: its first console output within
    // the deadline. Else (auto) it is destroyed and booted again under TCG.
    const auto deadline_s = o_.kvm_boot_deadline.count();
    std::string why;
    if (!rt) {
      why = fmt::format("/dev/kvm is present but the guest could not start under KVM ({})",
                        rt.error().what());
    } else if (auto first = wait_first_output(
                   serial_log_,
                   std::chrono::duration_cast<std::chrono::milliseconds>(o_.kvm_boot_deadline),
                   [this] { return finished(); })) {
      kvm_first_output_s_ = *first;
      accel_reason_ = fmt::format(
          "/dev/kvm opens and the guest booted under KVM (first console output after {:.1f} s)",
          *first);
    } else {
      why = finished_ ? std::string(
                            "/dev/kvm is present but the VM stopped under KVM before its "
                            "first console output")
                      : fmt::format(
                            "/dev/kvm is present but the guest did not boot under KVM in "
                            "{} s",
                            deadline_s);
    }
    if (!why.empty()) {
      kvm_failure_ = why;
      if (o_.testvm_accel == TestVmAccel::kvm)
        return fail(fmt::format("test VM '{}': {} (--testvm-accel kvm; auto falls back to TCG)",
                                name_, why));
      spdlog::warn("{}: using TCG", why);
      teardown();
      kvm_ = false;
      accel_reason_ = why + ": using TCG";
      rt = boot(files);
    }
  }
  if (!rt) return rt;
  rt_ = *rt;
  ReadySpec spec = ready_spec_of(o_);
  spec.marker_file = serial_log_;
  spec.marker = kTestVmInitMarker;
  auto ready = wait_ready(spec, fmt::format("test VM '{}'", name_), [this] { return finished(); });
  if (!ready) return std::unexpected(ready.error());
  return rt_;
}

Result<bool> TestVm::first_accel() {
  if (o_.testvm_accel == TestVmAccel::tcg) {
    accel_reason_ = "--testvm-accel tcg";
    return false;
  }
  const int err = kvm_open_errno(paths_.dev_kvm);
  if (err == 0 && o_.testvm_accel == TestVmAccel::automatic && !o_.testvm_kvm_failed.empty()) {
    accel_reason_ = o_.testvm_kvm_failed + " (seen earlier in this run): using TCG";
    return false;
  }
  if (err == 0) return true;  // accel_reason_ is set once the guest shows it boots
  const std::string why = err == ENOENT ? fmt::format("{} is absent", paths_.dev_kvm.string())
                                        : fmt::format("{} cannot be opened ({})",
                                                      paths_.dev_kvm.string(), std::strerror(err));
  if (o_.testvm_accel == TestVmAccel::kvm)
    return fail_errno(err, fmt::format("--testvm-accel kvm: {}", why));
  accel_reason_ = why + ": using TCG";
  return false;
}

Result<VmRuntime> TestVm::boot(const TestVmFiles& files) {
  std::error_code ec;
  fs::remove(serial_log_, ec);  // a stale log would fake the first output and readiness
  finished_ = false;
  return use_libvirt_ ? start_libvirt(files) : start_qemu(files);
}

Result<VmRuntime> TestVm::start_libvirt(const TestVmFiles& files) {
  auto xml = testvm_domain_xml(o_, name_, files, kvm_);
  std::ofstream(*work_.get(o_.work_dir) / "domain.xml") << xml;
  auto dom = conn_->create_transient(xml, name_);
  if (!dom) return std::unexpected(dom.error());
  dom_ = std::move(*dom);
  spdlog::info("test VM '{}' started as a transient libvirt domain on {} ({})", name_,
               o_.connect_uri, kvm_ ? "KVM" : "TCG");
  auto rt = locate_libvirt_domain(paths_, dom_, o_.connect_uri, std::chrono::seconds(10));
  if (!rt) return rt;
  rt->how = fmt::format("libvirt {} ({})", o_.connect_uri, kvm_ ? "KVM" : "TCG");
  return rt;
}

Result<VmRuntime> TestVm::start_qemu(const TestVmFiles& files) {
  auto root = cgroup2_root(paths_);
  if (!root) return std::unexpected(root.error());
  auto dir = *root / fmt::format("cinergy-{}-{}", name_, ::getpid());
  if (auto r = make_cgroup(dir); !r) return std::unexpected(r.error());
  own_cgroup_ = dir;
  auto argv = testvm_qemu_argv(o_, name_, files, kvm_);
  // Its own session, like a daemon (and like libvirt's qemu): not in the
  // terminal's process group, and its own scheduler autogroup.
  SpawnOptions so;
  so.new_session = true;
  so.cgroup_dir = dir;
  so.output_file = *work_.get(o_.work_dir) / "qemu.log";
  auto pid = spawn(argv, so);
  if (!pid) return std::unexpected(pid.error());
  qemu_pid_ = *pid;
  spdlog::info("test VM '{}' started as plain qemu (pid {}, cgroup {}, {}, no libvirt)", name_,
               qemu_pid_, dir.string(), kvm_ ? "KVM" : "TCG");
  if (auto r =
          split_qemu_threads(paths_, qemu_pid_, dir, o_.testvm_vcpus, std::chrono::seconds(10));
      !r)
    return std::unexpected(r.error());
  return VmRuntime{dir, qemu_pid_, o_.testvm_vcpus,
                   fmt::format("qemu (no libvirt, {})", kvm_ ? "KVM" : "TCG")};
}

bool TestVm::finished() {
  if (finished_) return true;
  if (dom_) {
    finished_ = !dom_.active();
  } else if (qemu_pid_ != 0) {
    if (try_reap(qemu_pid_)) {
      qemu_pid_ = 0;
      finished_ = true;
      if (auto r = kill_and_remove_cgroup(own_cgroup_, std::chrono::seconds(5)); !r)
        spdlog::warn("{}", r.error().what());
      else
        own_cgroup_.clear();
    }
  }
  return finished_;
}

void TestVm::teardown() {
  if (dom_) {
    if (dom_.active()) {
      if (auto r = dom_.destroy(); !r)
        spdlog::warn("{}", r.error().what());
      else
        spdlog::info("stopped test VM '{}'", name_);
    }
    dom_ = {};
  }
  if (qemu_pid_ != 0) {
    terminate_and_reap(qemu_pid_, true, std::chrono::seconds(3));
    spdlog::info("stopped test VM '{}' (qemu pid {})", name_, qemu_pid_);
    qemu_pid_ = 0;
  }
  if (!own_cgroup_.empty()) {
    if (auto r = kill_and_remove_cgroup(own_cgroup_, std::chrono::seconds(5)); !r)
      spdlog::warn("{}", r.error().what());
    own_cgroup_.clear();
  }
}

void TestVm::stop() {
  teardown();
  finished_ = true;
}

nlohmann::json TestVm::describe() const {
  return {{"kind", "testvm"},
          {"name", name_},
          {"uri", use_libvirt_ ? o_.connect_uri : ""},
          {"vcpus", o_.testvm_vcpus},
          {"memory_mib", o_.testvm_memory_mib},
          {"profile_pct", o_.testvm_profile_pct},
          {"step_seconds", o_.testvm_step_seconds},
          {"cycles", o_.testvm_cycles},
          {"kernel_cmdline", testvm_cmdline(o_)},
          {"accel_requested", to_string(o_.testvm_accel)},
          {"accel", kvm_ ? "kvm" : "tcg"},
          {"accel_reason", accel_reason_},
          {"kvm_failure", kvm_failure_},
          {"cache_dir", cache_.string()},
          {"serial_log", serial_log_.string()},
          {"cgroup", rt_.cgroup.string()},
          {"qemu_pid", rt_.qemu_pid},
          {"how", rt_.how}};
}

KvmProbe probe_kvm(const VmOptions& base, const HostPaths& paths) {
  using State = KvmProbe::State;
  if (const int err = detail::kvm_open_errno(paths.dev_kvm); err != 0)
    return {err == ENOENT ? State::absent : State::cannot_open,
            fmt::format("{}: {}", paths.dev_kvm.string(), std::strerror(err)), 0};
  // The smallest test VM, as a plain qemu process of its own (never a libvirt
  // domain: the probe leaves the daemon's state alone), under KVM only.
  VmOptions o = base;
  o.kind = VmOptions::Kind::testvm;
  o.name = fmt::format("cinergy-kvm-probe-{}", ::getpid());
  o.testvm_force_qemu = true;
  o.testvm_accel = TestVmAccel::kvm;
  o.testvm_vcpus = 1;
  o.testvm_memory_mib = 128;
  o.testvm_profile_pct = {0};
  o.testvm_step_seconds = 1;
  o.testvm_cycles = 1;
  o.ready_command.clear();
  o.ready_file.clear();
  o.ready_timeout = o.kvm_boot_deadline + std::chrono::seconds(10);
  o.work_dir.clear();
  detail::TestVm vm(o, paths);
  auto started = vm.start();
  vm.stop();
  if (started)
    return {State::boots,
            fmt::format("a test guest booted under KVM (first console output after {:.1f} s)",
                        vm.kvm_first_output_s().value_or(0)),
            vm.kvm_first_output_s().value_or(0)};
  if (!vm.kvm_failure().empty()) return {State::does_not_boot, vm.kvm_failure(), 0};
  return {State::not_checked, started.error().what(), 0};
}

}  // namespace cinergy::vm::detail

namespace cinergy::vm {

KvmProbe probe_kvm(const VmOptions& base) {
  detail::HostPaths paths;
  paths.cgroup2_root = base.cgroup2_root;
  return detail::probe_kvm(base, paths);
}

}  // namespace cinergy::vm
