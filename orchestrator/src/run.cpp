// The run itself (run.hpp): prepare (checks, run directory, noise cgroup,
// subject, manifest), then each planned phase (phase.hpp), then the end of
// the manifest. The analysis and the report are the executable's (cli).
#include "cinergy/orchestrator/run.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "cinergy/common/cgroup.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/time_format.hpp"
#include "cinergy/orchestrator/manifest.hpp"
#include "cinergy/orchestrator/noise.hpp"
#include "cinergy/orchestrator/original_csv.hpp"
#include "cinergy/sampler/energy_source.hpp"
#include "cinergy/vm/host_vms.hpp"
#include "host_info.hpp"
#include "phase.hpp"
#include "progress.hpp"
#include "signals.hpp"
#include "subject.hpp"

#ifndef CINERGY_VERSION
#define CINERGY_VERSION "unknown"
#endif

namespace cinergy::orchestrator {
namespace fs = std::filesystem;

namespace {

class Runner {
 public:
  explicit Runner(RunOptions o) : o_(std::move(o)) {}
  ~Runner() { cleanup(); }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  Result<void> prepare();
  // Runs every phase; false when interrupted (stopped_at_ says where).
  Result<bool> run_all();
  void cleanup();
  void finish_manifest(bool interrupted, const std::string& error);

  const fs::path& run_dir() const { return run_dir_; }
  const std::optional<StopPoint>& stopped_at() const { return stopped_at_; }
  const nlohmann::json& manifest() const { return manifest_; }
  detail::Progress& progress() { return *progress_; }
  int host_threads() const { return topo_.threads(); }
  int vm_vcpus() const { return vm_vcpus_; }

 private:
  Result<bool> run_phase(const PhasePlan& plan);
  // Starts the subject of B or C (a fresh VM object after B): its record
  // entries, and where its CPU time is accounted.
  Result<vm::VmRuntime> start_subject(const PhasePlan& plan, nlohmann::json& record);
  void write_manifest();
  nlohmann::json noise_json() const {
    auto j = noise_->cpu_placement().to_json();
    j["cgroup2"] = noise_->path().string();
    return j;
  }

  RunOptions o_;
  std::string host_, prefix_, run_id_;
  fs::path cg_root_, run_dir_;
  Topology topo_;
  std::vector<PhasePlan> plan_;
  std::unique_ptr<ProcessRunner> procs_;
  std::unique_ptr<NoiseGroup> noise_;
  std::unique_ptr<vm::Vm> subject_;
  bool subject_running_ = false;
  bool subject_used_ = false;
  vm::VmOptions vm_options_;
  std::unique_ptr<vm::HostVms> libvirt_;
  std::unique_ptr<detail::Progress> progress_;
  nlohmann::json manifest_;
  StopPoint where_;
  std::optional<StopPoint> stopped_at_;
  bool simulated_ = false;
  int vm_vcpus_ = 0;
  bool cleaned_ = false;
};

Result<void> Runner::prepare() {
  const auto started = std::chrono::system_clock::now();
  host_ = o_.host_name.empty() ? detail::host_name() : o_.host_name;
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
    auto root = cgroup2_mount();
    if (!root) return std::unexpected(root.error());
    cg_root_ = *root;
  }
  auto topo = read_topology(o_.sysfs_cpu_root);
  if (!topo) return std::unexpected(topo.error());
  topo_ = *topo;
  plan_ = plan_phases(o_, topo_);

  // Refuse to start beside another run (its v1 cpu noise cgroup too).
  fs::path cpu_v1_root;
  if (!o_.mountinfo.empty())
    if (auto m = cgroup1_mount("cpu", o_.mountinfo)) cpu_v1_root = *m;
  const auto stale = check_stale_noise(cg_root_, cpu_v1_root);
  for (const auto& p : stale.removed)
    spdlog::info("removed an empty leftover cgroup {}", p.string());
  if (!stale.busy.empty())
    return fail(fmt::format(
        "another cinergy run is active or left workers behind: {} (stop that run, or kill its "
        "processes: echo 1 > {}/cgroup.kill)",
        stale.busy.front().string(), stale.busy.front().string()));
  const bool needs_subject = o_.scenarios.find_first_of("BC") != std::string::npos;
  const bool libvirt_vm = o_.subject.kind == SubjectOptions::Kind::vm &&
                          o_.vm.kind != vm::VmOptions::Kind::launch_script;
  if (needs_subject && libvirt_vm && o_.vm.name.empty()) {
    if (o_.vm.kind == vm::VmOptions::Kind::testvm)
      o_.vm.name = "cinergy-testvm";
    else
      return fail("--vm needs a domain name");
  }
  libvirt_ = vm::HostVms::connect(o_.vm.connect_uri);
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
  NoiseCpuOptions noise_cpu;
  noise_cpu.idle_workers = o_.scenarios.find('C') != std::string::npos &&
                           o_.cloudlike_noise_sched == RunOptions::NoiseSched::idle;
  noise_cpu.mountinfo = o_.mountinfo;
  auto noise = NoiseGroup::create(cg_root_, fs::path("cinergy") / run_id_ / "noise", *procs_,
                                  run_dir_ / "stress-ng.log", noise_cpu);
  if (!noise) return std::unexpected(noise.error());
  noise_ = std::move(*noise);

  if (needs_subject) {
    switch (o_.subject.kind) {
      case SubjectOptions::Kind::vm: {
        vm_options_ = o_.vm;
        vm_options_.work_dir = run_dir_ / "vm";
        vm_options_.cgroup2_root = cg_root_;
        fs::create_directories(vm_options_.work_dir, ec);
        auto vm = vm::make_vm(vm_options_);  // validates the options now
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
  progress_ = std::make_unique<detail::Progress>(o_.live, planned);

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
                 {"kernel", detail::kernel_release()},
                 {"stress-ng", detail::first_line_of({"stress-ng", "--version"})},
                 {"libvirt", vm::HostVms::library_version()}};
  mi.cgroups = {{"root", cg_root_.string()}, {"noise", noise_->path().string()}};
  mi.noise = noise_json();
  mi.libvirt_connected = libvirt_ != nullptr;
  mi.start = started;
  manifest_ = initial_manifest(mi);
  write_manifest();

  if (noise_cpu.idle_workers && noise_->cpu_placement().kind == NoiseCpuPlacement::Kind::none)
    for (const auto& note : noise_->cpu_placement().notes) progress_->say("WARNING: " + note);
  if (simulated_)
    progress_->say(fmt::format(
        "WARNING: SIMULATED POWER (--source sim{}): the energy figures of this run are modelled, "
        "not measured.{}",
        o_.source.sim_host.empty() ? "" : ", host " + o_.source.sim_host,
        o_.source_note.empty() ? "" : " " + o_.source_note));
  progress_->say(
      fmt::format("cinergy run: {} phase(s), about {} (host {}: {} threads, {} socket(s)); "
                  "run directory {}",
                  plan_.size(), detail::format_duration(planned), host_, topo_.threads(),
                  topo_.sockets(), run_dir_.string()));
  return ok();
}

void Runner::write_manifest() {
  if (run_dir_.empty()) return;
  if (auto r = orchestrator::write_manifest(run_dir_, manifest_); !r)
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

Result<vm::VmRuntime> Runner::start_subject(const PhasePlan& plan, nlohmann::json& record) {
  if (!subject_)
    return fail("scenario " + plan.name + " needs a subject (--testvm, --vm, --cgroup or --cmd)");
  if (o_.subject.kind == SubjectOptions::Kind::vm && subject_used_) {
    // A fresh VM object per phase: B's has seen its guest power off.
    auto vm = vm::make_vm(vm_options_);
    if (!vm) return std::unexpected(vm.error());
    subject_ = std::move(*vm);
  }
  subject_used_ = true;
  progress_->say(fmt::format("[{}] starting the subject ({})", plan.name,
                             subject_->describe().value("kind", "vm")));
  subject_running_ = true;  // from here on stop() is due, even if start() fails half-way
  auto rt = subject_->start();
  if (!rt) return std::unexpected(rt.error());
  if (rt->vcpus > 0) vm_vcpus_ = rt->vcpus;
  // A command subject's pid is the command's, not a qemu's; an existing
  // cgroup has none cinergy knows of.
  const auto described = subject_->describe();
  const std::string kind = described.value("kind", "vm");
  record["vm_runtime"] = {
      {"cgroup", rt->cgroup.string()},
      {kind == "command" || kind == "cgroup" ? "pid" : "qemu_pid", rt->qemu_pid},
      {"vcpus", rt->vcpus},
      {"how", rt->how}};
  // What only a started subject knows (the test VM's accelerator and why).
  for (const char* key : {"accel", "accel_reason"})
    if (described.contains(key)) record["vm_runtime"][key] = described[key];
  manifest_["vm"] = described;
  // KVM that did not boot the test VM in B will not in C: TCG at once.
  if (const auto f = described.find("kvm_failure");
      f != described.end() && f->is_string() && !f->get<std::string>().empty())
    vm_options_.testvm_kvm_failed = f->get<std::string>();
  return rt;
}

Result<bool> Runner::run_phase(const PhasePlan& plan) {
  where_ = StopPoint{plan.name, -1, -1};
  const bool with_subject = plan.scenario != 'A';
  nlohmann::json record = {
      {"phase", plan.name}, {"scenario", std::string(1, plan.scenario)}, {"step", plan.step}};
  record["csv"] = original_csv_path(run_dir_, prefix_, plan.name).filename().string();
  record["trace"] = "trace-" + plan.name + ".csv.xz";
  record["events"] = "events-" + plan.name + ".csv";

  std::optional<vm::VmRuntime> runtime;
  if (with_subject) {
    auto rt = start_subject(plan, record);
    if (!rt) return std::unexpected(rt.error());
    runtime = *rt;
  }
  if (stop_requested()) {
    stopped_at_ = where_;
    return false;
  }
  detail::Phase phase(
      {o_, topo_, run_dir_, prefix_, cg_root_, *noise_, libvirt_.get(), *progress_, where_}, plan,
      std::move(record), with_subject ? subject_.get() : nullptr, runtime,
      [this](nlohmann::json r) {
        manifest_["noise"] = noise_json();  // C made it idle
        manifest_["phases"].push_back(std::move(r));
        write_manifest();
      });
  Result<bool> completed = true;
  if (auto opened = phase.open(); !opened)
    completed = std::unexpected(opened.error());
  else
    completed = phase.measure();
  // measure() has finished the phase unless an error ended it: then it ends
  // here as interrupted, and the subject is stopped with it either way.
  phase.finish(true);
  if (with_subject) subject_running_ = false;
  if (!completed) return completed;
  if (!*completed) stopped_at_ = where_;
  return *completed;
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
  const int sig = detail::stop_signal();
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

}  // namespace

Result<RunResult> run(const RunOptions& options) {
  detail::SignalScope signals;
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
  }
  RunResult result;
  result.run_dir = runner.run_dir();
  result.interrupted = interrupted;
  result.stopped_at = runner.stopped_at();
  result.manifest = runner.manifest();
  result.host_threads = runner.host_threads();
  result.vm_vcpus = runner.vm_vcpus();
  return result;
}

}  // namespace cinergy::orchestrator
