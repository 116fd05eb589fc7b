// `cinergy probe`: what this host offers; exit 0 even when things are missing.
#include <cstdio>
#include <memory>

#include "commands.hpp"
#include "probe.hpp"

namespace cinergy::cli {

void register_probe(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ProbeOptions>();
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
    o->check_kvm = !*no_kvm;
    const auto p = run_probe(*o);
    if (*json)
      std::printf("%s\n", p.dump().c_str());
    else
      std::printf("%s", format_probe(p).c_str());
    exit_code = 0;
  });
}

}  // namespace cinergy::cli
