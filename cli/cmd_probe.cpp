// `cinergy probe`: what this host offers; exit 0 even when things are missing.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

#include "cinergy/orchestrator/vm.hpp"
#include "cinergy/sampler/probe.hpp"
#include "commands.hpp"

namespace cinergy::cli {

namespace {

// "kvm": judged by a guest that boots (orchestrator::probe_kvm), not by
// whether /dev/kvm opens. ok only for "present, boots a guest".
nlohmann::json kvm_item(bool check) {
  namespace orch = cinergy::orchestrator;
  using State = orch::KvmProbe::State;
  if (!check)
    return {{"ok", false},
            {"state", "not checked"},
            {"reason", "not checked (--no-kvm-check)"},
            {"fix", ""}};
  // The probe's own VM start and stop lines are noise here: warnings only.
  const auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::warn);
  const auto k = orch::probe_kvm(orch::VmOptions{});
  spdlog::set_level(level);
  nlohmann::json j = {{"ok", k.state == State::boots},
                      {"state", orch::to_string(k.state)},
                      {"detail", k.detail}};
  if (k.state == State::boots) j["boot_s"] = k.boot_s;
  switch (k.state) {
    case State::boots:
      break;
    case State::absent:
      j["reason"] = "absent: " + k.detail;
      j["fix"] = "the test VM runs under TCG (slower, still exact CPU accounting); enable "
                 "virtualisation in the firmware and load kvm_intel or kvm_amd for KVM";
      break;
    case State::cannot_open:
      j["reason"] = "present, cannot be opened: " + k.detail;
      j["fix"] = "run as root (or join the kvm group)";
      break;
    case State::does_not_boot:
      j["reason"] = "present, does not boot a guest: " + k.detail;
      j["fix"] = "--testvm-accel auto (the default) falls back to TCG by itself";
      break;
    case State::not_checked:
      j["reason"] = "present, not checked: " + k.detail;
      j["fix"] = "run as root with qemu-system-x86 installed (scripts/install-deps.sh)";
      break;
  }
  return j;
}

}  // namespace

void register_probe(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<sampler::ProbeOptions>();
  auto json = std::make_shared<bool>(false);
  auto no_kvm = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "probe", "Report energy sources, topology, cgroups, BPF, libvirt, stress-ng, KVM");
  cmd->add_option("--powercap-root", o->powercap_root,
                  "powercap sysfs root (default /sys/class/powercap)");
  cmd->add_option("--dev-cpu-root", o->dev_cpu_root, "MSR device root (default /dev/cpu)");
  cmd->add_option("--perf-root", o->perf_root, "perf power PMU sysfs directory");
  cmd->add_option("--sysfs-cpu-root", o->sysfs_cpu_root, "CPU topology root");
  cmd->add_option("--poll-ms", o->poll_ms,
                  "How long to poll each real source for its update interval");
  cmd->add_flag("--no-kvm-check", *no_kvm,
                "Do not boot a test guest under KVM (the check takes up to about 25 s)");
  cmd->add_flag("--json", *json, "One JSON object on stdout");
  cmd->callback([o, json, no_kvm, &exit_code] {
    auto p = sampler::run_probe(*o);
    p["kvm"] = kvm_item(!*no_kvm);
    if (*json)
      std::printf("%s\n", p.dump().c_str());
    else
      std::printf("%s", sampler::format_probe(p).c_str());
    exit_code = 0;
  });
}

}  // namespace cinergy::cli
