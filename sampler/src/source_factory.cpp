#include "cinergy/sampler/energy_source.hpp"
#include "cinergy/sampler/sampler.hpp"

namespace cinergy::sampler {

Result<std::unique_ptr<EnergySource>> open_energy_source(const SourceOptions& o,
                                                         bpf::CpuAccounting* accounting) {
  if (o.source == "powercap") return open_powercap(o.powercap_root);
  if (o.source == "msr") return open_msr(o.dev_cpu_root, o.sysfs_cpu_root);
  if (o.source == "perf") return open_perf(o.perf_sysfs_root, o.sysfs_cpu_root);
  if (o.source == "sim") {
    auto curve = find_spec_curve(o.sim_host, o.specpower_csv);
    if (!curve) return std::unexpected(curve.error());
    auto util = accounting ? open_accounting_utilisation(accounting, o.sysfs_cpu_root)
                           : open_proc_stat_utilisation();
    if (!util) return std::unexpected(util.error());
    SimOptions so;
    so.curve = std::move(*curve);
    so.seed = o.sim_seed;
    return open_sim(std::move(so), std::move(*util));
  }
  if (o.source == "auto") {
    // Best real source first; never the simulated meter.
    std::string why;
    auto perf = open_perf(o.perf_sysfs_root, o.sysfs_cpu_root);
    if (perf) return perf;
    why += "perf: " + perf.error().what();
    auto pc = open_powercap(o.powercap_root);
    if (pc) return pc;
    why += "; powercap: " + pc.error().what();
    auto msr = open_msr(o.dev_cpu_root, o.sysfs_cpu_root);
    if (msr) return msr;
    why += "; msr: " + msr.error().what();
    return fail("no RAPL energy source on this host (" + why +
                "); use --source sim to run with the simulated meter");
  }
  return fail("unknown --source '" + o.source + "' (auto, powercap, msr, perf or sim)");
}

}  // namespace cinergy::sampler
