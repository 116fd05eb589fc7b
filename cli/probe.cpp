// `cinergy probe`: every check returns a JSON item with ok / reason / fix.
#include "probe.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <fstream>

#include "cinergy/common/cgroup.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"
#include "cinergy/common/topology.hpp"
#include "cinergy/sampler/energy_source.hpp"
#include "cinergy/sampler/specpower.hpp"
#include "cinergy/vm/host_vms.hpp"
#include "cinergy/vm/vm.hpp"

namespace cinergy::cli {
namespace {

using nlohmann::json;
using namespace cinergy::sampler;

std::optional<std::uint64_t> read_u64(const std::filesystem::path& file) {
  auto text = read_trimmed(file);
  std::uint64_t v = 0;
  if (!text) return std::nullopt;
  const auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc{} || p != text->data() + text->size()) return std::nullopt;
  return v;
}

json missing(const std::string& reason, const std::string& fix) {
  return {{"ok", false}, {"reason", reason}, {"fix", fix}};
}

json domains_json(const EnergySource& src, const std::filesystem::path& powercap_root) {
  json out = json::array();
  for (const auto& d : src.domains()) {
    json j = {{"name", d.name}, {"max_energy_range_uj", d.max_energy_range_uj}};
    if (d.max_energy_range_uj > 0) {
      double watts = 200.0;
      std::string basis = "200 W";
      if (!powercap_root.empty() && d.package >= 0) {
        // Package TDP from the package zone's long-term constraint when present.
        auto tdp = read_u64(powercap_root / ("intel-rapl:" + std::to_string(d.package)) /
                            "constraint_0_max_power_uw");
        if (tdp && *tdp > 0) {
          watts = static_cast<double>(*tdp) / 1e6;
          basis = fmt::format("TDP {:.0f} W", watts);
        }
      }
      j["wrap_s"] = std::round(wrap_time_s(static_cast<double>(d.max_energy_range_uj), watts));
      j["wrap_basis"] = basis;
    }
    out.push_back(j);
  }
  return out;
}

void add_interval(json& j, EnergySource& src, int poll_ms) {
  auto iv = measure_update_interval_ms(src, poll_ms);
  if (iv)
    j["update_interval_ms"] = std::round(*iv * 1000.0) / 1000.0;
  else
    j["update_interval_ms"] = nullptr;
}

json probe_topology(const std::filesystem::path& root) {
  auto t = read_topology(root);
  if (!t || t->threads() == 0)
    return missing(
        "no CPU topology under " + root.string() + (t ? std::string() : ": " + t.error().message),
        "check that sysfs is mounted");
  return {{"ok", true}, {"sockets", t->sockets()}, {"cores", t->cores}, {"threads", t->threads()}};
}

json probe_cgroup(const std::filesystem::path& mountinfo) {
  auto text = read_file(mountinfo);
  if (!text) return missing("cannot read " + mountinfo.string(), "check that /proc is mounted");
  const auto v2 = parse_cgroup2_mount(*text);
  // Any cgroup v1 hierarchy beside it makes the layout hybrid.
  const bool v1 = text->find(" - cgroup ") != std::string::npos;
  json j = {{"ok", v2.has_value()},
            {"layout", !v2 ? "v1" : (v1 ? "hybrid" : "v2")},
            {"cgroup2_mount", v2 ? json(v2->string()) : json(nullptr)}};
  if (!v2) {
    j["reason"] = "only cgroup v1 is mounted: per-cgroup CPU accounting needs cgroup2";
    j["fix"] = "mount cgroup2 (e.g. mount -t cgroup2 none /sys/fs/cgroup/unified)";
  }
  return j;
}

json probe_bpf(const std::filesystem::path& btf) {
  const bool root = ::geteuid() == 0;
  std::error_code ec;
  const bool has_btf = std::filesystem::exists(btf, ec);
  json j = {{"ok", root && has_btf}, {"root", root}, {"btf", has_btf}};
  if (!root) {
    j["reason"] = "not root: BPF programs cannot be loaded";
    j["fix"] = "run as root (CPU accounting falls back to procfs otherwise)";
  } else if (!has_btf) {
    j["reason"] = btf.string() + " missing: the kernel has no BTF";
    j["fix"] = "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (procfs fallback otherwise)";
  }
  return j;
}

json probe_libvirt() {
  auto h = vm::HostVms::open("");
  if (!h)
    return missing(h.error().message,
                   "install and start libvirtd (scripts/install-deps.sh) to run VMs");
  const auto totals = (*h)->totals();
  return {{"ok", true}, {"uri", (*h)->uri()}, {"domains", totals ? totals->domains : 0}};
}

json probe_stress_ng() {
  auto r = run_capture({"stress-ng", "--version"}, std::chrono::seconds(10));
  if (!r || r->exit_code != 0)
    return missing("stress-ng not found in PATH",
                   "apt-get install stress-ng (scripts/install-deps.sh)");
  std::string out(trim(r->output));
  if (auto nl = out.find('\n'); nl != std::string::npos) out.resize(nl);
  auto pos = out.find("version ");
  std::string version = pos == std::string::npos ? out : out.substr(pos + 8);
  if (auto sp = version.find(' '); sp != std::string::npos) version.resize(sp);
  return {{"ok", true}, {"version", version}};
}

// Judged by a guest that boots (vm::probe_kvm), not by whether /dev/kvm
// opens; ok only for "present, boots a guest".
json probe_kvm() {
  using State = vm::KvmProbe::State;
  // The probe's own VM start and stop lines are noise here: warnings only.
  const auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::warn);
  const auto k = vm::probe_kvm(vm::VmOptions{});
  spdlog::set_level(level);
  json j = {
      {"ok", k.state == State::boots}, {"state", vm::to_string(k.state)}, {"detail", k.detail}};
  switch (k.state) {
    case State::boots:
      j["boot_s"] = k.boot_s;
      break;
    case State::absent:
      j["reason"] = "absent: " + k.detail;
      j["fix"] =
          "the test VM runs under TCG (slower, still exact CPU accounting); enable "
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

json run_probe(const ProbeOptions& o) {
  json energy;
  if (auto s = open_powercap(o.powercap_root)) {
    energy["powercap"] = {{"ok", true},
                          {"root", o.powercap_root.string()},
                          {"domains", domains_json(**s, o.powercap_root)}};
    add_interval(energy["powercap"], **s, o.poll_ms);
  } else {
    energy["powercap"] =
        missing(s.error().what(), "run as root on a host with RAPL, or pass --powercap-root DIR");
  }
  if (auto s = open_msr(o.dev_cpu_root, o.sysfs_cpu_root)) {
    const auto& d = (*s)->domains().front();
    energy["msr"] = {{"ok", true},
                     {"energy_unit_uj", static_cast<double>(d.max_energy_range_uj) / 4294967296.0},
                     {"domains", domains_json(**s, {})}};
    add_interval(energy["msr"], **s, o.poll_ms);
  } else {
    energy["msr"] = missing(s.error().what(), "modprobe msr and run as root on a host with RAPL");
  }
  if (auto pmu = read_perf_pmu(o.perf_root)) {
    json evs = json::array();
    for (const auto& e : pmu->events)
      evs.push_back({{"name", e.name}, {"config", e.config}, {"scale", e.scale}, {"unit", e.unit}});
    energy["perf"] = {{"ok", true}, {"type", pmu->type}, {"cpus", pmu->cpus}, {"events", evs}};
    if (auto s = open_perf(o.perf_root, o.sysfs_cpu_root)) {
      add_interval(energy["perf"], **s, o.poll_ms);
    } else {
      energy["perf"]["ok"] = false;
      energy["perf"]["reason"] = s.error().what();
      energy["perf"]["fix"] = "run as root or set kernel.perf_event_paranoid=0";
    }
  } else {
    energy["perf"] = missing(pmu.error().what(),
                             "needs a kernel with the RAPL perf PMU (intel_rapl_perf / amd)");
  }
  if (auto c = find_spec_curve("")) {
    energy["sim"] = {
        {"ok", true},          {"simulated", true},     {"default_sim_host", c->result_id},
        {"system", c->system}, {"idle_w", c->watts[0]}, {"max_w", c->watts[10]}};
  } else {
    energy["sim"] =
        missing(c.error().what(), "rebuild: the SPECpower CSV is embedded at build time");
  }
  json j;
  j["energy"] = energy;
  j["topology"] = probe_topology(o.sysfs_cpu_root);
  j["cgroup"] = probe_cgroup(o.mountinfo);
  j["bpf"] = probe_bpf(o.btf);
  j["libvirt"] = o.check_libvirt ? probe_libvirt() : missing("not checked", "");
  j["stress_ng"] = o.check_stress_ng ? probe_stress_ng() : missing("not checked", "");
  j["kvm"] = o.check_kvm ? probe_kvm() : missing("not checked (--no-kvm-check)", "");
  return j;
}

std::string format_probe(const json& p) {
  std::string out;
  auto line = [&](const std::string& what, const json& item, const std::string& detail) {
    const bool ok = item.value("ok", false);
    out += fmt::format("{:<12} {:<4} {}\n", what, ok ? "ok" : "--",
                       ok ? detail : item.value("reason", ""));
    if (!ok && item.contains("fix") && !item["fix"].get<std::string>().empty())
      out += fmt::format("{:<17}-> {}\n", "", item["fix"].get<std::string>());
  };
  auto interval = [](const json& j) {
    return j.contains("update_interval_ms") && !j["update_interval_ms"].is_null()
               ? fmt::format("update every {:.3f} ms", j["update_interval_ms"].get<double>())
               : std::string("update interval: no change seen");
  };
  auto domains = [](const json& j) {
    std::string s;
    for (const auto& d : j.value("domains", json::array())) {
      s += fmt::format("\n{:<17}{} range {} uJ", "", d["name"].get<std::string>(),
                       d["max_energy_range_uj"].get<std::uint64_t>());
      if (d.contains("wrap_s"))
        s += fmt::format(", wraps in {:.0f} s at {}", d["wrap_s"].get<double>(),
                         d["wrap_basis"].get<std::string>());
    }
    return s;
  };
  out += "Energy sources\n";
  const auto& e = p["energy"];
  if (e["powercap"].value("ok", false))
    line("powercap", e["powercap"],
         e["powercap"]["root"].get<std::string>() + ", " + interval(e["powercap"]) +
             domains(e["powercap"]));
  else
    line("powercap", e["powercap"], "");
  if (e["msr"].value("ok", false))
    line("msr", e["msr"],
         fmt::format("unit {:.3f} uJ, {}", e["msr"]["energy_unit_uj"].get<double>(),
                     interval(e["msr"])) +
             domains(e["msr"]));
  else
    line("msr", e["msr"], "");
  if (e["perf"].value("ok", false)) {
    std::string evs;
    for (const auto& ev : e["perf"]["events"])
      evs += fmt::format("\n{:<17}{} scale {:g} {}", "", ev["name"].get<std::string>(),
                         ev["scale"].get<double>(), ev["unit"].get<std::string>());
    line("perf", e["perf"],
         fmt::format("type {}, {}", e["perf"]["type"].get<int>(), interval(e["perf"])) + evs);
  } else {
    line("perf", e["perf"], "");
  }
  if (e["sim"].value("ok", false))
    line("sim", e["sim"],
         fmt::format("SIMULATED meter available (--source sim), default host {} ({}, {}-{} W)",
                     e["sim"]["default_sim_host"].get<std::string>(),
                     e["sim"]["system"].get<std::string>(), e["sim"]["idle_w"].get<double>(),
                     e["sim"]["max_w"].get<double>()));
  else
    line("sim", e["sim"], "");
  out += "Host\n";
  const auto& t = p["topology"];
  line("topology", t,
       t.value("ok", false)
           ? fmt::format("{} sockets, {} cores, {} threads", t["sockets"].get<int>(),
                         t["cores"].get<int>(), t["threads"].get<int>())
           : "");
  const auto& c = p["cgroup"];
  line("cgroup", c,
       c.value("ok", false) ? fmt::format("{}, cgroup2 at {}", c["layout"].get<std::string>(),
                                          c["cgroup2_mount"].get<std::string>())
                            : "");
  line("bpf", p["bpf"], "root, BTF present: BPF CPU accounting can be loaded");
  const auto& l = p["libvirt"];
  line("libvirt", l,
       l.value("ok", false) ? fmt::format("{} answers, {} running domains",
                                          l["uri"].get<std::string>(), l["domains"].get<int>())
                            : "");
  line("stress-ng", p["stress_ng"], "version " + p["stress_ng"].value("version", std::string()));
  const auto& k = p["kvm"];
  line("kvm", k, k.value("state", std::string()) + ": " + k.value("detail", std::string()));
  return out;
}

}  // namespace cinergy::cli
