#include "phase.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>

#include "cinergy/common/topology.hpp"
#include "cinergy/sampler/energy_source.hpp"
#include "host_info.hpp"

namespace cinergy::orchestrator::detail {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

Phase::Phase(PhaseContext context, const PhasePlan& plan, nlohmann::json record, vm::Vm* subject,
             std::optional<vm::VmRuntime> runtime, std::function<void(nlohmann::json)> done)
    : c_(context),
      plan_(plan),
      record_(std::move(record)),
      subject_(subject),
      runtime_(std::move(runtime)),
      done_(std::move(done)) {}

Phase::~Phase() { finish(true); }

Result<void> Phase::open() {
  bpf::Options ao;
  ao.cgroup2_root = c_.cgroup2_root;
  ao.backend = c_.options.cpu_backend;
  auto acc = bpf::open_cpu_accounting(ao);
  if (!acc) return std::unexpected(acc.error());
  accounting_ = std::move(*acc);
  if (auto r =
          accounting_->add_subject({bpf::SubjectKind::cgroup, c_.noise.path().string(), "noise"});
      !r)
    return std::unexpected(r.error());
  if (runtime_) {
    bpf::SubjectSpec spec{bpf::SubjectKind::cgroup, runtime_->cgroup.string(), "vm"};
    if (runtime_->cgroup.empty())
      spec = {bpf::SubjectKind::pid, std::to_string(runtime_->qemu_pid), "vm"};
    if (auto idx = accounting_->add_subject(spec); !idx) return std::unexpected(idx.error());
  }
  auto source = sampler::open_energy_source(c_.options.source, accounting_.get());
  if (!source) return std::unexpected(source.error());
  sampler::SamplerConfig cfg;
  cfg.rate_hz = c_.options.rate_hz;
  cfg.trace_path = c_.run_dir / record_["trace"].get<std::string>();
  cfg.sysfs_cpu_root = c_.options.sysfs_cpu_root;
  auto created = sampler::Sampler::create(std::move(*source), accounting_.get(), cfg);
  if (!created) return std::unexpected(created.error());
  sampler_ = std::move(*created);

  layout_.domain_names = sampler_->domain_names();
  for (const auto& s : accounting_->series()) layout_.series_names.push_back(s.name);
  layout_.cpu_socket = c_.topology.cpu_socket();
  layout_.cpu_socket.resize(accounting_->cpu_count(), -1);
  layout_.sockets = c_.topology.sockets();
  record_["series"] = layout_.series_names;
  record_["domains"] = layout_.domain_names;
  record_["cpu_backend"] = std::string(accounting_->backend());

  auto csv = OriginalCsvWriter::open(c_.run_dir / record_["csv"].get<std::string>());
  if (!csv) return std::unexpected(csv.error());
  csv_ = std::move(*csv);
  auto events = EventLog::open(c_.run_dir / record_["events"].get<std::string>());
  if (!events) return std::unexpected(events.error());
  events_ = std::move(*events);

  if (auto r = sampler_->start(); !r) return std::unexpected(r.error());
  sampling_ = true;
  return ok();
}

void Phase::finish(bool interrupted) {
  if (finished_) return;
  finished_ = true;
  if (sampling_) {
    (void)c_.noise.kill_all();
    events_->write(monotonic_ns() - sampler_->t0_monotonic_ns(),
                   interrupted ? "interrupted" : "scenario_end", c_.where.level, c_.where.window,
                   std::nullopt, static_cast<int>(c_.noise.workers()));
    events_->close();
    csv_->close();
    const auto summary = sampler_->stop(interrupted);
    record_["sampler"] = summary.to_json();
    record_["windows"] = windows_written_;
    record_["interrupted"] = interrupted;
    if (windows_written_ > 0) {
      const double mean = other_cpu_sum_ / windows_written_;
      record_["other_cpu_pct"] = {{"mean", mean}, {"max", other_cpu_max_}};
      // Work of no subject is in the measured power but in no CPU figure:
      // the model's points (A) or the ground truth (B) then carry it.
      if (mean > kOtherCpuWarnPct)
        c_.progress.say(fmt::format(
            "[{}] WARNING: the host was not quiet: work outside this run used {:.1f} % of the "
            "host on average (at most {:.1f} %); its power is in this scenario's figures",
            plan_.name, mean, other_cpu_max_));
    }
  }
  if (subject_ != nullptr) subject_->stop();
  // A phase that never sampled has no record: nothing of it was measured.
  if (sampling_ && done_) done_(std::move(record_));
}

Result<void> Phase::wait_first_sample() {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!(prev_ = sampler_->latest())) {
    if (!sleep_until(std::min(deadline, Clock::now() + std::chrono::milliseconds(5))) ||
        Clock::now() >= deadline)
      break;
  }
  if (prev_) return ok();
  if (stop_requested()) return ok();
  return fail("the sampler produced no sample within 5 s in " + plan_.name);
}

bool Phase::window(const Level* level, int w, int windows) {
  c_.where.window = w;
  const auto length = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(c_.options.window_s));
  if (!sleep_until(start_ + (windows_elapsed_ + 1) * length)) return false;
  ++windows_elapsed_;
  auto snap = sampler_->latest();
  if (!snap) return true;
  auto values = aggregate_window(layout_, *prev_, *snap, windows_written_ > 0,
                                 socket_freq_khz(c_.options.sysfs_cpu_root, c_.topology));
  auto rows = values.rows;
  if (c_.libvirt != nullptr) {
    if (auto t = c_.libvirt->totals()) {
      rows.emplace_back("libvirt_vm_count", t->domains);
      rows.emplace_back("libvirt_vm_cpu_cml", t->vcpus);
      rows.emplace_back("libvirt_vm_mem_cml", t->memory_mib);
    }
  }
  const auto ts =
      static_cast<std::int64_t>(std::llround(static_cast<double>(snap->t_ns - t0_ns_) / 1e9));
  std::optional<double> target;
  if (level != nullptr) target = level->target_pct;
  if (auto r = csv_->write_window(ts, plan_.name, target, rows); !r)
    spdlog::error("{}", r.error().what());
  events_->write(snap->t_ns, "window_end", level ? level->index : 0, w, target,
                 static_cast<int>(c_.noise.workers()));
  ++windows_written_;
  other_cpu_sum_ += values.other_cpu_pct;
  other_cpu_max_ = std::max(other_cpu_max_, values.other_cpu_pct);
  c_.progress.window(plan_.name, level, static_cast<int>(plan_.levels.size()), w, windows, values);
  prev_ = snap;
  return true;
}

bool Phase::subject_alone() {
  c_.where.level = 0;
  const auto expected = subject_expected_seconds(c_.options);
  const double cap_s = expected ? std::max(2 * *expected, *expected + 120) : 24 * 3600.0;
  for (int w = 0;; ++w) {
    if (subject_->finished()) {
      events_->write(prev_->t_ns, "vm_finished", 0, w, std::nullopt, 0);
      return true;
    }
    if (static_cast<double>(windows_elapsed_) * c_.options.window_s >= cap_s) {
      c_.progress.say(
          fmt::format("[{}] the subject still runs after {} s: stopping it", plan_.name, cap_s));
      return true;
    }
    if (!window(nullptr, w, 0)) return false;
  }
}

Result<bool> Phase::staircase() {
  const bool with_subject = subject_ != nullptr;
  for (const auto& level : plan_.levels) {
    c_.where.level = level.index;
    c_.where.window = -1;
    while (static_cast<int>(c_.noise.workers()) < level.workers) {
      auto pid = c_.noise.add_worker(
          plan_.step, level.cpus,
          plan_.scenario == 'C' &&
              c_.options.cloudlike_noise_sched == RunOptions::NoiseSched::idle);
      if (!pid) return std::unexpected(pid.error());
    }
    events_->write(monotonic_ns() - sampler_->t0_monotonic_ns(), "level_start", level.index, -1,
                   level.target_pct, level.workers);
    for (int w = 0; w < c_.options.windows_per_level; ++w)
      if (!window(&level, w, c_.options.windows_per_level)) return false;
    if (with_subject && subject_->finished()) {
      events_->write(prev_->t_ns, "vm_finished", level.index, c_.options.windows_per_level,
                     level.target_pct, level.workers);
      c_.progress.say(fmt::format("[{}] the subject finished at level {}: the scenario ends here",
                                  plan_.name, level.index));
      break;
    }
  }
  return true;
}

Result<bool> Phase::measure() {
  if (auto r = wait_first_sample(); !r) return std::unexpected(r.error());
  if (!prev_) return false;  // stopped while waiting
  t0_ns_ = prev_->t_ns;
  events_->write(prev_->t_ns, "scenario_start", -1, -1, std::nullopt, 0);
  if (runtime_) events_->write(prev_->t_ns, "vm_ready", -1, -1, std::nullopt, 0);
  start_ = Clock::now();
  Result<bool> completed = plan_.levels.empty() ? Result<bool>(subject_alone()) : staircase();
  c_.progress.end_line();
  if (!completed) return completed;  // the destructor finishes as interrupted
  finish(!*completed);
  return *completed;
}

}  // namespace cinergy::orchestrator::detail
