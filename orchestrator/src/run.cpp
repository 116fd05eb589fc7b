#include "cinergy/orchestrator/run.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <thread>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "cinergy/model/analyze.hpp"
#include "cinergy/orchestrator/host_vms.hpp"
#include "cinergy/orchestrator/manifest.hpp"
#include "cinergy/orchestrator/noise.hpp"
#include "cinergy/orchestrator/original_csv.hpp"
#include "cinergy/orchestrator/window.hpp"
#include "cinergy/report/report.hpp"
#include "cinergy/sampler/energy_source.hpp"
#include "fs_util.hpp"
#include "process_util.hpp"
#include "subject.hpp"

#ifndef CINERGY_VERSION
#define CINERGY_VERSION "unknown"
#endif

namespace cinergy::orchestrator {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- stop flag
namespace {
std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};
extern "C" void on_stop_signal(int sig) {
  g_signal.store(sig);
  g_stop.store(true);
}

// Installs SIGINT/SIGTERM handlers for the run's lifetime (no SA_RESTART:
// blocking calls return EINTR and every wait re-checks the flag).
class SignalScope {
 public:
  SignalScope() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    // A libvirt daemon restarted under us must be an EPIPE error on its
    // socket, not the end of the run (children get SIGPIPE back by default).
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    ::sigaction(SIGPIPE, &ign, &old_pipe_);
  }
  ~SignalScope() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGPIPE, &old_pipe_, nullptr);
  }
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;

 private:
  struct sigaction old_int_{};
  struct sigaction old_term_{};
  struct sigaction old_pipe_{};
};
}  // namespace

void request_stop() { g_stop.store(true); }
bool stop_requested() { return g_stop.load(); }
void clear_stop() {
  g_stop.store(false);
  g_signal.store(0);
}

bool sleep_until(Clock::time_point deadline) {
  while (!stop_requested()) {
    const auto now = Clock::now();
    if (now >= deadline) return true;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(deadline - now, std::chrono::milliseconds(50)));
  }
  return false;
}

// ---------------------------------------------------------------- planning
Result<void> apply_profile(RunOptions& o, const std::string& profile) {
  if (profile == "paper") {
    o.steps = {25, 50, 100};
    o.window_s = 2.0;
    o.windows_per_level = 10;
    o.vm.testvm_profile_pct = {20, 95, 60, 3};
    o.vm.testvm_step_seconds = 30;
    o.vm.testvm_cycles = 1;
  } else if (profile == "quick") {
    // 2-core host with the test VM: A 17 levels x 2 s, B ~25 s, C ~25 s.
    o.steps = {25, 50, 100};
    o.window_s = 1.0;
    o.windows_per_level = 2;
    o.vm.testvm_profile_pct = {20, 95, 60, 3};
    o.vm.testvm_step_seconds = 5;
    o.vm.testvm_cycles = 1;
  } else {
    return fail(fmt::format("--profile '{}': expected paper or quick", profile));
  }
  o.profile = profile;
  return ok();
}

std::vector<PhasePlan> plan_phases(const RunOptions& o, const Topology& topology) {
  std::vector<PhasePlan> plan;
  if (o.scenarios.find('A') != std::string::npos)
    for (int s : o.steps)
      plan.push_back({'A', fmt::format("training-{}", s), s, staircase(topology, s, o.pin_socket)});
  if (o.scenarios.find('B') != std::string::npos) plan.push_back({'B', "groundtruth", 0, {}});
  if (o.scenarios.find('C') != std::string::npos)
    plan.push_back({'C', "cloudlike", 25, staircase(topology, 25, o.pin_socket)});
  return plan;
}

std::optional<double> subject_expected_seconds(const RunOptions& o) {
  if (o.subject.kind == SubjectOptions::Kind::vm && o.vm.kind == VmOptions::Kind::testvm)
    return static_cast<double>(o.vm.testvm_profile_pct.size()) * o.vm.testvm_step_seconds *
           o.vm.testvm_cycles;
  if (o.subject.kind == SubjectOptions::Kind::cgroup)
    return static_cast<double>(o.subject.max_seconds.count());
  return std::nullopt;
}

double planned_seconds(const RunOptions& o, const std::vector<PhasePlan>& plan,
                       std::optional<double> subject_s) {
  double total = 0;
  for (const auto& p : plan) {
    if (p.scenario == 'B')
      total += subject_s.value_or(0) + 10;  // + boot
    else
      total += static_cast<double>(p.levels.size()) * o.windows_per_level * o.window_s;
    if (p.scenario == 'C') total += 10;
  }
  return total;
}

nlohmann::json settings_json(const RunOptions& o) {
  nlohmann::json vm = {{"kind", o.vm.kind == VmOptions::Kind::testvm           ? "testvm"
                                : o.vm.kind == VmOptions::Kind::libvirt_domain ? "libvirt_domain"
                                                                               : "launch_script"},
                       {"name", o.vm.name},
                       {"connect_uri", o.vm.connect_uri},
                       {"launch_script", o.vm.launch_script.string()},
                       {"ready_command", o.vm.ready_command},
                       {"ready_file", o.vm.ready_file.string()},
                       {"ready_timeout_s", o.vm.ready_timeout.count()},
                       {"testvm_vcpus", o.vm.testvm_vcpus},
                       {"testvm_memory_mib", o.vm.testvm_memory_mib},
                       {"testvm_profile_pct", o.vm.testvm_profile_pct},
                       {"testvm_step_seconds", o.vm.testvm_step_seconds},
                       {"testvm_cycles", o.vm.testvm_cycles},
                       {"testvm_accel", to_string(o.vm.testvm_accel)}};
  const char* subject = o.subject.kind == SubjectOptions::Kind::vm       ? "vm"
                        : o.subject.kind == SubjectOptions::Kind::cgroup ? "cgroup"
                                                                         : "command";
  return {{"scenarios", o.scenarios},
          {"steps", o.steps},
          {"window_s", o.window_s},
          {"windows_per_level", o.windows_per_level},
          {"profile", o.profile},
          {"rate_hz", o.rate_hz},
          {"source", o.source.source},
          {"sim_host", o.source.sim_host},
          {"cpu_backend", o.cpu_backend},
          {"out_dir", o.out_dir.string()},
          {"live", o.live},
          {"analysis", o.analysis},
          {"pin_socket", o.pin_socket},
          {"subject", subject},
          {"subject_cgroup", o.subject.cgroup.string()},
          {"subject_command", o.subject.command},
          {"subject_ready_command", o.subject.ready_command},
          {"subject_ready_file", o.subject.ready_file.string()},
          {"subject_max_seconds", o.subject.max_seconds.count()},
          {"vm", vm},
          {"cgroup2_root", o.cgroup2_root.string()},
          {"csv_prefix", o.csv_prefix}};
}

// ---------------------------------------------------------------- helpers
namespace {

std::string utc_compact(std::chrono::system_clock::time_point t) {
  const std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "localhost";
  return buf;
}

std::string kernel_release() {
  struct utsname u {};
  if (::uname(&u) != 0) return "unknown";
  return u.release;
}

std::string first_line_of(const std::vector<std::string>& argv) {
  auto r = detail::run_command(argv, std::chrono::seconds(5));
  if (!r || r->exit_code != 0) return "unavailable";
  auto line = r->output.substr(0, r->output.find('\n'));
  return line.empty() ? "unknown" : line;
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) s = 0;
  const auto t = static_cast<long>(std::llround(s));
  if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, (t / 60) % 60, t % 60);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}

std::vector<double> socket_freq_khz(const fs::path& sysfs_cpu_root, const Topology& topo) {
  std::vector<double> out;
  for (const auto& cpus : topo.socket_cpus) {
    double sum = 0;
    int n = 0;
    for (int c : cpus) {
      auto v = detail::read_line(sysfs_cpu_root / fmt::format("cpu{}", c) / "cpufreq" /
                                 "scaling_cur_freq");
      if (!v) continue;
      try {
        sum += std::stod(*v);
        ++n;
      } catch (...) {
      }
    }
    out.push_back(n > 0 ? sum / n : 0.0);
  }
  return out;
}

std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// One updating line on a terminal, plain lines otherwise (stdout).
class Progress {
 public:
  Progress(bool live, double planned_s)
      : tty_(::isatty(STDOUT_FILENO) == 1),
        live_(live),
        planned_s_(planned_s),
        start_(Clock::now()) {}

  void window(const std::string& phase, const Level* level, int levels, int window, int windows,
              const WindowValues& v) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    std::string line = fmt::format("[{}] ", phase);
    if (level != nullptr)
      line += fmt::format("level {}/{} (target {:.1f} %, {} workers) ", level->index, levels - 1,
                          level->target_pct, level->workers);
    line += windows > 0 ? fmt::format("window {}/{}", window + 1, windows)
                        : fmt::format("window {}", window + 1);
    line += fmt::format(" | elapsed {} | ETA {}", format_duration(elapsed),
                        format_duration(std::max(0.0, planned_s_ - elapsed)));
    if (live_) {
      line += v.host_watt ? fmt::format(" | host {:.1f} W", *v.host_watt) : " | host - W";
      line += fmt::format(" cpu {:.1f} %", v.host_cpu_pct);
      for (const auto& [name, pct] : v.subject_cpu_pct)
        line += fmt::format(" {} {:.1f} %", name, pct);
    }
    if (tty_) {
      std::printf("\r%s\033[K", line.c_str());
      pending_ = true;
    } else {
      std::printf("%s\n", line.c_str());
    }
    std::fflush(stdout);
  }

  void say(const std::string& message) {
    end_line();
    std::printf("%s\n", message.c_str());
    std::fflush(stdout);
  }

  void end_line() {
    if (pending_) std::printf("\n");
    pending_ = false;
  }

 private:
  bool tty_, live_;
  double planned_s_;
  Clock::time_point start_;
  bool pending_ = false;
};

// ---------------------------------------------------------------- the run
class Runner {
 public:
  explicit Runner(RunOptions o) : o_(std::move(o)) {}
  ~Runner() { cleanup(); }

  Result<void> prepare();
  // Runs every phase; false when interrupted (stopped_at_ says where).
  Result<bool> run_all();
  void cleanup();
  void finish_manifest(bool interrupted, const std::string& error);
  void analyze();

  const fs::path& run_dir() const { return run_dir_; }
  const std::optional<StopPoint>& stopped_at() const { return stopped_at_; }
  const nlohmann::json& manifest() const { return manifest_; }
  Progress& progress() { return *progress_; }

 private:
  Result<bool> run_phase(const PhasePlan& plan);
  void write_manifest();

  RunOptions o_;
  std::string host_, prefix_, run_id_;
  fs::path cg_root_, run_dir_;
  Topology topo_;
  std::vector<PhasePlan> plan_;
  std::unique_ptr<ProcessRunner> procs_;
  std::unique_ptr<NoiseGroup> noise_;
  std::unique_ptr<Vm> subject_;
  bool subject_running_ = false;
  bool subject_used_ = false;
  VmOptions vm_options_;
  std::unique_ptr<HostVms> libvirt_;
  std::unique_ptr<Progress> progress_;
  nlohmann::json manifest_;
  StopPoint where_;
  std::optional<StopPoint> stopped_at_;
  bool simulated_ = false;
  int vm_vcpus_ = 0;
  bool cleaned_ = false;
};

Result<void> Runner::prepare() {
  const auto started = std::chrono::system_clock::now();
  host_ = o_.host_name.empty() ? host_name() : o_.host_name;
  prefix_ = o_.csv_prefix.empty() ? host_ : o_.csv_prefix;
  if (o_.window_s < 1.0)
    return fail(fmt::format("--window {} s: must be at least 1 s", o_.window_s));
  if (o_.windows_per_level < 1) return fail("--windows-per-level must be at least 1");
  if (o_.rate_hz <= 0 || o_.rate_hz > 100000)
    return fail(fmt::format("--rate {}: out of (0, 100000] Hz", o_.rate_hz));
  for (int s : o_.steps)
    if (s < 1 || s > 100) return fail(fmt::format("--steps: {} is not in 1..100", s));
  if (o_.scenarios.empty() || o_.scenarios.find_first_not_of("ABC") != std::string::npos)
    return fail(fmt::format("--scenarios '{}': expected letters among A, B, C", o_.scenarios));

  if (!o_.cgroup2_root.empty()) {
    cg_root_ = o_.cgroup2_root;
  } else {
    auto root = bpf::detect_cgroup2_root();
    if (!root) return std::unexpected(root.error());
    cg_root_ = *root;
  }
  auto topo = read_topology(o_.sysfs_cpu_root);
  if (!topo) return std::unexpected(topo.error());
  topo_ = *topo;
  plan_ = plan_phases(o_, topo_);

  // Refuse to start beside another run.
  const auto stale = check_stale_noise(cg_root_);
  for (const auto& p : stale.removed)
    spdlog::info("removed an empty leftover cgroup {}", p.string());
  if (!stale.busy.empty())
    return fail(fmt::format(
        "another cinergy run is active or left workers behind: {} (stop that run, or kill its "
        "processes: echo 1 > {}/cgroup.kill)",
        stale.busy.front().string(), stale.busy.front().string()));
  const bool needs_subject = o_.scenarios.find_first_of("BC") != std::string::npos;
  const bool libvirt_vm =
      o_.subject.kind == SubjectOptions::Kind::vm && o_.vm.kind != VmOptions::Kind::launch_script;
  if (needs_subject && libvirt_vm && o_.vm.name.empty()) {
    if (o_.vm.kind == VmOptions::Kind::testvm)
      o_.vm.name = "cinergy-testvm";
    else
      return fail("--vm needs a domain name");
  }
  libvirt_ = HostVms::connect(o_.vm.connect_uri);
  if (needs_subject && libvirt_vm && libvirt_ && libvirt_->domain_running(o_.vm.name))
    return fail(
        fmt::format("a VM named '{}' is already running ({}): refusing to start, the "
                    "run needs to start it alone (stop it first: virsh -c {} destroy {})",
                    o_.vm.name, o_.vm.connect_uri, o_.vm.connect_uri, o_.vm.name));

  // The run directory.
  run_dir_ =
      o_.out_dir.empty() ? fs::path("runs") / (host_ + "-" + utc_compact(started)) : o_.out_dir;
  std::error_code ec;
  if (fs::exists(run_dir_, ec) && !fs::is_empty(run_dir_, ec))
    return fail(fmt::format("--out {}: exists and is not empty", run_dir_.string()));
  fs::create_directories(run_dir_, ec);
  if (ec) return fail_errno(ec.value(), "cannot create run directory " + run_dir_.string());
  run_dir_ = fs::absolute(run_dir_);

  // Validate the energy source before anything starts (a probe sampler).
  {
    bpf::Options ao;
    ao.cgroup2_root = cg_root_;
    ao.backend = o_.cpu_backend;
    auto acc = bpf::open_cpu_accounting(ao);
    if (!acc) return std::unexpected(acc.error());
    auto source = sampler::open_energy_source(o_.source, acc->get());
    if (!source) return std::unexpected(source.error());
    sampler::SamplerConfig cfg;
    cfg.rate_hz = o_.rate_hz;
    auto probe = sampler::Sampler::create(std::move(*source), acc->get(), cfg);
    if (!probe) return std::unexpected(probe.error());
    simulated_ = (*probe)->simulated();
    manifest_["rapl"] = {{"source", o_.source.source},
                         {"domains", (*probe)->domain_names()},
                         {"simulated", simulated_},
                         {"sim_host", o_.source.sim_host},
                         {"note", o_.source_note}};
    manifest_["cpu_accounting"] = {{"backend", std::string((*acc)->backend())},
                                   {"fallback_reason", std::string((*acc)->fallback_reason())}};
  }

  run_id_ = make_run_id(::getpid(), started);
  procs_ = make_process_runner();
  auto noise = NoiseGroup::create(cg_root_, fs::path("cinergy") / run_id_ / "noise", *procs_,
                                  run_dir_ / "stress-ng.log");
  if (!noise) return std::unexpected(noise.error());
  noise_ = std::move(*noise);

  if (needs_subject) {
    switch (o_.subject.kind) {
      case SubjectOptions::Kind::vm: {
        vm_options_ = o_.vm;
        vm_options_.work_dir = run_dir_ / "vm";
        vm_options_.cgroup2_root = cg_root_;
        fs::create_directories(vm_options_.work_dir, ec);
        auto vm = make_vm(vm_options_);  // validates the options now
        if (!vm) return std::unexpected(vm.error());
        subject_ = std::move(*vm);
        break;
      }
      case SubjectOptions::Kind::cgroup:
        subject_ = detail::make_cgroup_subject(cg_root_, o_.subject);
        break;
      case SubjectOptions::Kind::command:
        subject_ = detail::make_command_subject(cg_root_, fs::path("cinergy") / run_id_ / "subject",
                                                o_.subject, *procs_, run_dir_ / "subject.log");
        break;
    }
  }

  const double planned = planned_seconds(o_, plan_, subject_expected_seconds(o_));
  progress_ = std::make_unique<Progress>(o_.live, planned);

  ManifestInputs mi;
  mi.run_id = run_id_;
  mi.command_line = o_.command_line;
  mi.host_name = host_;
  mi.topology = topo_;
  mi.rapl = manifest_["rapl"];
  mi.simulated = simulated_;
  mi.cpu_accounting = manifest_["cpu_accounting"];
  mi.csv_prefix = prefix_;
  mi.settings = settings_json(o_);
  mi.plan = nlohmann::json::array();
  for (const auto& p : plan_)
    mi.plan.push_back({{"phase", p.name},
                       {"scenario", std::string(1, p.scenario)},
                       {"step", p.step},
                       {"levels", p.levels.size()}});
  mi.planned_seconds = planned;
  mi.vm = subject_ ? subject_->describe() : nlohmann::json(nullptr);
  mi.versions = {{"cinergy", CINERGY_VERSION},
                 {"kernel", kernel_release()},
                 {"stress-ng", first_line_of({"stress-ng", "--version"})},
                 {"libvirt", HostVms::library_version()}};
  mi.cgroups = {{"root", cg_root_.string()}, {"noise", noise_->path().string()}};
  mi.libvirt_connected = libvirt_ != nullptr;
  mi.start = started;
  manifest_ = initial_manifest(mi);
  write_manifest();

  if (simulated_)
    progress_->say(fmt::format(
        "WARNING: SIMULATED POWER (--source sim{}): the energy figures of this run are modelled, "
        "not measured.{}",
        o_.source.sim_host.empty() ? "" : ", host " + o_.source.sim_host,
        o_.source_note.empty() ? "" : " " + o_.source_note));
  progress_->say(
      fmt::format("cinergy run: {} phase(s), about {} (host {}: {} threads, {} socket(s)); "
                  "run directory {}",
                  plan_.size(), format_duration(planned), host_, topo_.threads(), topo_.sockets(),
                  run_dir_.string()));
  return ok();
}

void Runner::write_manifest() {
  if (run_dir_.empty()) return;
  if (auto r = detail::write_atomic(run_dir_ / "manifest.json", manifest_.dump(2) + "\n"); !r)
    spdlog::error("{}", r.error().what());
}

Result<bool> Runner::run_all() {
  for (const auto& phase : plan_) {
    if (stop_requested()) {
      stopped_at_ = StopPoint{phase.name, -1, -1};
      return false;
    }
    auto r = run_phase(phase);
    if (!r) return std::unexpected(r.error());
    if (!*r) return false;
  }
  return true;
}

Result<bool> Runner::run_phase(const PhasePlan& plan) {
  where_ = StopPoint{plan.name, -1, -1};
  const bool with_subject = plan.scenario != 'A';
  nlohmann::json record = {
      {"phase", plan.name}, {"scenario", std::string(1, plan.scenario)}, {"step", plan.step}};
  const auto csv_path = original_csv_path(run_dir_, prefix_, plan.name);
  const auto trace_path = run_dir_ / ("trace-" + plan.name + ".csv.xz");
  const auto events_path = run_dir_ / ("events-" + plan.name + ".csv");
  record["csv"] = csv_path.filename().string();
  record["trace"] = trace_path.filename().string();
  record["events"] = events_path.filename().string();

  std::optional<VmRuntime> runtime;
  if (with_subject) {
    if (!subject_)
      return fail("scenario " + plan.name + " needs a subject (--testvm, --vm, --cgroup or --cmd)");
    if (o_.subject.kind == SubjectOptions::Kind::vm && subject_used_) {
      // A fresh VM object per phase: B's has seen its guest power off.
      auto vm = make_vm(vm_options_);
      if (!vm) return std::unexpected(vm.error());
      subject_ = std::move(*vm);
    }
    subject_used_ = true;
    progress_->say(fmt::format("[{}] starting the subject ({})", plan.name,
                               subject_->describe().value("kind", "vm")));
    subject_running_ = true;  // from here on stop() is due, even if start() fails half-way
    auto rt = subject_->start();
    if (!rt) return std::unexpected(rt.error());
    runtime = *rt;
    if (rt->vcpus > 0) vm_vcpus_ = rt->vcpus;
    // A command subject's pid is the command's, not a qemu's; an existing
    // cgroup has none cinergy knows of.
    const std::string kind = subject_->describe().value("kind", "vm");
    record["vm_runtime"] = {{"cgroup", rt->cgroup.string()},
                            {kind == "command" || kind == "cgroup" ? "pid" : "qemu_pid",
                             rt->qemu_pid},
                            {"vcpus", rt->vcpus},
                            {"how", rt->how}};
    // What only a started subject knows (the test VM's accelerator and why).
    const auto described = subject_->describe();
    for (const char* key : {"accel", "accel_reason"})
      if (described.contains(key)) record["vm_runtime"][key] = described[key];
    manifest_["vm"] = described;
    // KVM that did not boot the test VM in B will not in C: TCG at once.
    if (const auto f = described.find("kvm_failure");
        f != described.end() && f->is_string() && !f->get<std::string>().empty())
      vm_options_.testvm_kvm_failed = f->get<std::string>();
  }
  if (stop_requested()) {
    stopped_at_ = where_;
    return false;
  }

  bpf::Options ao;
  ao.cgroup2_root = cg_root_;
  ao.backend = o_.cpu_backend;
  auto acc = bpf::open_cpu_accounting(ao);
  if (!acc) return std::unexpected(acc.error());
  auto& accounting = **acc;
  if (auto r = accounting.add_subject({bpf::SubjectKind::cgroup, noise_->path().string(), "noise"});
      !r)
    return std::unexpected(r.error());
  std::optional<std::size_t> vm_subject;
  if (runtime) {
    bpf::SubjectSpec spec{bpf::SubjectKind::cgroup, runtime->cgroup.string(), "vm"};
    if (runtime->cgroup.empty())
      spec = {bpf::SubjectKind::pid, std::to_string(runtime->qemu_pid), "vm"};
    auto idx = accounting.add_subject(spec);
    if (!idx) return std::unexpected(idx.error());
    vm_subject = *idx;
  }
  auto source = sampler::open_energy_source(o_.source, &accounting);
  if (!source) return std::unexpected(source.error());
  sampler::SamplerConfig cfg;
  cfg.rate_hz = o_.rate_hz;
  cfg.trace_path = trace_path;
  auto created = sampler::Sampler::create(std::move(*source), &accounting, cfg);
  if (!created) return std::unexpected(created.error());
  auto& sampler = **created;

  WindowLayout layout;
  layout.domain_names = sampler.domain_names();
  for (const auto& s : accounting.series()) layout.series_names.push_back(s.name);
  layout.cpu_socket = topo_.cpu_socket();
  layout.cpu_socket.resize(accounting.cpu_count(), -1);
  layout.sockets = topo_.sockets();
  record["series"] = layout.series_names;
  record["domains"] = layout.domain_names;
  record["cpu_backend"] = std::string(accounting.backend());

  auto csv = OriginalCsvWriter::open(csv_path);
  if (!csv) return std::unexpected(csv.error());
  auto events = EventLog::open(events_path);
  if (!events) return std::unexpected(events.error());

  if (auto r = sampler.start(); !r) return std::unexpected(r.error());
  bool interrupted = false;
  int windows_written = 0;
  // Whatever happens below, the sampler is stopped and the noise killed.
  auto finish = [&](bool was_interrupted) {
    (void)noise_->kill_all();
    events->write(monotonic_ns() - sampler.t0_monotonic_ns(),
                  was_interrupted ? "interrupted" : "scenario_end", where_.level, where_.window,
                  std::nullopt, static_cast<int>(noise_->workers()));
    events->close();
    csv->close();
    auto summary = sampler.stop(was_interrupted);
    record["sampler"] = summary.to_json();
    record["windows"] = windows_written;
    record["interrupted"] = was_interrupted;
    if (with_subject && subject_running_) {
      subject_->stop();
      subject_running_ = false;
    }
    manifest_["phases"].push_back(record);
    write_manifest();
  };

  std::optional<sampler::Snapshot> prev;
  const auto first_deadline = Clock::now() + std::chrono::seconds(5);
  while (!(prev = sampler.latest())) {
    if (!sleep_until(std::min(first_deadline, Clock::now() + std::chrono::milliseconds(5))) ||
        Clock::now() >= first_deadline)
      break;
  }
  if (!prev) {
    finish(true);
    if (stop_requested()) {
      stopped_at_ = where_;
      return false;
    }
    return fail("the sampler produced no sample within 5 s in " + plan.name);
  }
  const std::int64_t t0 = prev->t_ns;
  events->write(prev->t_ns, "scenario_start", -1, -1, std::nullopt, 0);
  if (runtime) events->write(prev->t_ns, "vm_ready", -1, -1, std::nullopt, 0);
  const auto phase_start = Clock::now();
  const auto window =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.window_s));
  int k = 0;
  const int levels = static_cast<int>(plan.levels.size());

  auto do_window = [&](const Level* level, int w, int windows) -> bool {
    where_.window = w;
    if (!sleep_until(phase_start + (k + 1) * window)) return false;
    ++k;
    auto snap = sampler.latest();
    if (!snap) return true;
    auto values = aggregate_window(layout, *prev, *snap, windows_written > 0,
                                   socket_freq_khz(o_.sysfs_cpu_root, topo_));
    auto rows = values.rows;
    if (libvirt_) {
      if (auto t = libvirt_->totals()) {
        rows.emplace_back("libvirt_vm_count", t->domains);
        rows.emplace_back("libvirt_vm_cpu_cml", t->vcpus);
        rows.emplace_back("libvirt_vm_mem_cml", t->memory_mib);
      }
    }
    const auto ts =
        static_cast<std::int64_t>(std::llround(static_cast<double>(snap->t_ns - t0) / 1e9));
    std::optional<double> target;
    if (level != nullptr) target = level->target_pct;
    if (auto r = csv->write_window(ts, plan.name, target, rows); !r)
      spdlog::error("{}", r.error().what());
    events->write(snap->t_ns, "window_end", level ? level->index : 0, w, target,
                  static_cast<int>(noise_->workers()));
    ++windows_written;
    progress_->window(plan.name, level, levels, w, windows, values);
    prev = snap;
    return true;
  };

  if (plan.levels.empty()) {
    // B: until the subject finishes (or a safety cap twice its expected length).
    where_.level = 0;
    const auto expected = subject_expected_seconds(o_);
    const double cap_s = expected ? std::max(2 * *expected, *expected + 120) : 24 * 3600.0;
    for (int w = 0;; ++w) {
      if (subject_->finished()) {
        events->write(prev->t_ns, "vm_finished", 0, w, std::nullopt, 0);
        break;
      }
      if (static_cast<double>(k) * o_.window_s >= cap_s) {
        progress_->say(
            fmt::format("[{}] the subject still runs after {} s: stopping it", plan.name, cap_s));
        break;
      }
      if (!do_window(nullptr, w, 0)) {
        interrupted = true;
        break;
      }
    }
  } else {
    for (const auto& level : plan.levels) {
      where_.level = level.index;
      where_.window = -1;
      while (static_cast<int>(noise_->workers()) < level.workers) {
        auto pid = noise_->add_worker(plan.step, level.cpus);
        if (!pid) {
          finish(true);
          return std::unexpected(pid.error());
        }
      }
      events->write(monotonic_ns() - sampler.t0_monotonic_ns(), "level_start", level.index, -1,
                    level.target_pct, level.workers);
      for (int w = 0; w < o_.windows_per_level && !interrupted; ++w)
        if (!do_window(&level, w, o_.windows_per_level)) interrupted = true;
      if (interrupted) break;
      if (with_subject && subject_->finished()) {
        events->write(prev->t_ns, "vm_finished", level.index, o_.windows_per_level,
                      level.target_pct, level.workers);
        progress_->say(fmt::format("[{}] the subject finished at level {}: the scenario ends here",
                                   plan.name, level.index));
        break;
      }
    }
  }
  progress_->end_line();
  finish(interrupted);
  if (interrupted) stopped_at_ = where_;
  return !interrupted;
}

void Runner::cleanup() {
  if (cleaned_) return;
  cleaned_ = true;
  if (noise_) {
    if (auto r = noise_->remove(); !r) spdlog::error("{}", r.error().what());
    noise_.reset();
  }
  if (subject_ && subject_running_) subject_->stop();
  subject_running_ = false;
  subject_.reset();
}

void Runner::finish_manifest(bool interrupted, const std::string& error) {
  if (manifest_.is_null() || run_dir_.empty()) return;
  const auto at = stopped_at_.value_or(where_);
  const int sig = g_signal.load();
  ManifestEnd end;
  end.interrupted = interrupted;
  end.error = error;
  end.scenario = at.scenario;
  end.level = at.level;
  end.window = at.window;
  end.by = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "";
  end.end = std::chrono::system_clock::now();
  orchestrator::finish_manifest(manifest_, end);
  write_manifest();
}

void Runner::analyze() {
  nlohmann::json analysis;
  for (auto method : {model::Method::cinergy, model::Method::paper}) {
    const char* name = method == model::Method::cinergy ? "cinergy" : "paper";
    model::AnalyzeOptions ao;
    ao.data_dir = run_dir_;
    ao.host_threads = topo_.threads();
    if (vm_vcpus_ > 0) ao.vm_vcpus = vm_vcpus_;
    ao.method = method;
    ao.out_dir = run_dir_;
    progress_->say(fmt::format("analysis ({} method)...", name));
    auto r = model::analyze(ao);
    if (r) {
      analysis[name] = {{"ok", true}, {"evaluation", *r}};
    } else {
      spdlog::error("analysis ({}): {}", name, r.error().what());
      analysis[name] = {{"ok", false}, {"error", r.error().what()}};
    }
  }
  auto rep = report::write_report(run_dir_, run_dir_ / "report.html");
  if (rep) {
    analysis["report"] = {{"file", "report.html"}, {"missing", rep->missing}};
    progress_->say("report: " + (run_dir_ / "report.html").string());
  } else {
    spdlog::error("report: {}", rep.error().what());
    analysis["report"] = {{"error", rep.error().what()}};
  }
  manifest_["analysis"] = analysis;
  write_manifest();
}

}  // namespace

Result<RunResult> run(const RunOptions& options) {
  SignalScope signals;
  Runner runner(options);
  if (auto r = runner.prepare(); !r) {
    runner.cleanup();
    runner.finish_manifest(false, r.error().what());
    return std::unexpected(r.error());
  }
  auto done = runner.run_all();
  runner.cleanup();
  if (!done) {
    runner.finish_manifest(true, done.error().what());
    if (!runner.run_dir().empty())
      runner.progress().say("run directory: " + runner.run_dir().string());
    return std::unexpected(done.error());
  }
  const bool interrupted = !*done;
  runner.finish_manifest(interrupted, "");
  if (interrupted) {
    const auto at = runner.stopped_at().value_or(StopPoint{});
    runner.progress().say(
        fmt::format("interrupted in {} (level {}, window {}): workers killed, "
                    "subject stopped, traces flushed",
                    at.scenario, at.level, at.window));
  } else if (options.analysis) {
    runner.analyze();
  }
  RunResult result;
  result.run_dir = runner.run_dir();
  result.interrupted = interrupted;
  result.stopped_at = runner.stopped_at();
  result.manifest = runner.manifest();
  return result;
}

}  // namespace cinergy::orchestrator
