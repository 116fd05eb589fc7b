// Planning a run (run.hpp): profiles, the phases and their expected length,
// and the settings block of the manifest.
#include <fmt/format.h>

#include "cinergy/orchestrator/run.hpp"

namespace cinergy::orchestrator {

Result<void> apply_profile(RunOptions& o, const std::string& profile) {
  if (profile == "paper") {
    o.steps = {25, 50, 100};
    o.window_s = 2.0;
    o.windows_per_level = 10;
    o.vm.testvm_profile_pct = {20, 95, 60, 3};
    o.vm.testvm_step_seconds = 30;
    o.vm.testvm_cycles = 1;
    o.cloudlike_noise_sched = RunOptions::NoiseSched::normal;
  } else if (profile == "quick") {
    // 2-core host with the test VM: A 17 levels x 2 s, B ~25 s, C ~25 s.
    o.steps = {25, 50, 100};
    o.window_s = 1.0;
    o.windows_per_level = 2;
    o.vm.testvm_profile_pct = {20, 95, 60, 3};
    o.vm.testvm_step_seconds = 5;
    o.vm.testvm_cycles = 1;
    // 2 cores, 2 vCPUs: normal noise would starve the VM in C.
    o.cloudlike_noise_sched = RunOptions::NoiseSched::idle;
  } else {
    return fail(fmt::format("--profile '{}': expected paper or quick", profile));
  }
  o.profile = profile;
  return ok();
}

Result<RunOptions::NoiseSched> parse_noise_sched(std::string_view text, std::string_view flag) {
  if (text == "normal") return RunOptions::NoiseSched::normal;
  if (text == "idle") return RunOptions::NoiseSched::idle;
  return fail(fmt::format("{}: '{}' is not one of normal, idle", flag, text));
}

std::string_view to_string(RunOptions::NoiseSched sched) {
  return sched == RunOptions::NoiseSched::idle ? "idle" : "normal";
}

std::vector<PhasePlan> plan_phases(const RunOptions& o, const Topology& topology) {
  std::vector<PhasePlan> plan;
  if (o.scenarios.find('A') != std::string::npos)
    for (int s : o.steps)
      plan.push_back({'A', fmt::format("training-{}", s), s, staircase(topology, s, o.pin_socket)});
  if (o.scenarios.find('A') != std::string::npos && o.pin_socket && o.unpinned_training &&
      topology.sockets() > 1)
    for (int s : o.steps)
      plan.push_back(
          {'A', fmt::format("training-unpinned-{}", s), s, staircase(topology, s, false)});
  if (o.scenarios.find('B') != std::string::npos) plan.push_back({'B', "groundtruth", 0, {}});
  if (o.scenarios.find('C') != std::string::npos)
    plan.push_back({'C', "cloudlike", 25, staircase(topology, 25, o.pin_socket)});
  return plan;
}

std::optional<double> subject_expected_seconds(const RunOptions& o) {
  if (o.subject.kind == SubjectOptions::Kind::vm && o.vm.kind == vm::VmOptions::Kind::testvm)
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
  nlohmann::json vm_settings = {
      {"kind", o.vm.kind == vm::VmOptions::Kind::testvm           ? "testvm"
               : o.vm.kind == vm::VmOptions::Kind::libvirt_domain ? "libvirt_domain"
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
      {"testvm_accel", vm::to_string(o.vm.testvm_accel)}};
  const char* subject = o.subject.kind == SubjectOptions::Kind::vm       ? "vm"
                        : o.subject.kind == SubjectOptions::Kind::cgroup ? "cgroup"
                                                                         : "command";
  return {{"scenarios", o.scenarios},
          {"steps", o.steps},
          {"window_s", o.window_s},
          {"windows_per_level", o.windows_per_level},
          {"profile", o.profile},
          {"cloudlike_noise_sched", to_string(o.cloudlike_noise_sched)},
          {"rate_hz", o.rate_hz},
          {"source", o.source.source},
          {"sim_host", o.source.sim_host},
          {"cpu_backend", o.cpu_backend},
          {"out_dir", o.out_dir.string()},
          {"live", o.live},
          {"analysis", o.analysis},
          {"pin_socket", o.pin_socket},
          {"unpinned_training", o.unpinned_training},
          {"subject", subject},
          {"subject_cgroup", o.subject.cgroup.string()},
          {"subject_command", o.subject.command},
          {"subject_ready_command", o.subject.ready_command},
          {"subject_ready_file", o.subject.ready_file.string()},
          {"subject_max_seconds", o.subject.max_seconds.count()},
          {"vm", vm_settings},
          {"cgroup2_root", o.cgroup2_root.string()},
          {"csv_prefix", o.csv_prefix}};
}

}  // namespace cinergy::orchestrator
