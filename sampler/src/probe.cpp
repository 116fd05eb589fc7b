// `cinergy probe`: every check returns a JSON item with ok / reason / fix.
#include "cinergy/sampler/probe.hpp"

#include <fmt/format.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "cinergy/sampler/energy_source.hpp"
#include "cinergy/sampler/specpower.hpp"
#include "util.hpp"

namespace cinergy::sampler {
namespace {

using nlohmann::json;

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
        auto tdp = detail::read_u64(powercap_root / ("intel-rapl:" + std::to_string(d.package)) /
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
  std::set<int> sockets;
  std::set<std::pair<int, int>> cores;
  int threads = 0;
  std::error_code ec;
  for (const auto& c : detail::cpu_packages(root)) {
    ++threads;
    sockets.insert(c.package);
    auto core = detail::read_u64(root / ("cpu" + std::to_string(c.cpu)) / "topology/core_id");
    cores.insert({c.package, core ? static_cast<int>(*core) : c.cpu});
  }
  if (threads == 0)
    return missing("no CPU topology under " + root.string(), "check that sysfs is mounted");
  return {{"ok", true}, {"sockets", sockets.size()}, {"cores", cores.size()}, {"threads", threads}};
}

json probe_cgroup(const std::filesystem::path& mountinfo) {
  std::ifstream in(mountinfo);
  if (!in) return missing("cannot read " + mountinfo.string(), "check that /proc is mounted");
  std::string line, v2_mount;
  int v1 = 0;
  while (std::getline(in, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string id, parent, devno, root, mnt, fstype;
    pre >> id >> parent >> devno >> root >> mnt;
    post >> fstype;
    if (fstype == "cgroup2" && v2_mount.empty()) v2_mount = mnt;
    if (fstype == "cgroup") ++v1;
  }
  if (v2_mount.empty() && v1 == 0)
    return missing("no cgroup filesystem mounted",
                   "mount cgroup2: mount -t cgroup2 none /sys/fs/cgroup");
  json j = {{"ok", !v2_mount.empty()},
            {"layout", v2_mount.empty() ? "v1" : (v1 > 0 ? "hybrid" : "v2")},
            {"cgroup2_mount", v2_mount.empty() ? json(nullptr) : json(v2_mount)}};
  if (v2_mount.empty()) {
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

void silent_virt_error(void*, virErrorPtr) {}

json probe_libvirt() {
  virSetErrorFunc(nullptr, silent_virt_error);
  virConnectPtr conn = virConnectOpenReadOnly(nullptr);
  if (!conn) {
    virErrorPtr e = virGetLastError();
    std::string msg = e && e->message ? e->message : "no answer";
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    return missing("libvirt does not answer on the default URI: " + msg,
                   "install and start libvirtd (scripts/install-deps.sh) to run VMs");
  }
  const char* uri = virConnectGetURI(conn);
  json j = {{"ok", true}, {"uri", uri ? uri : ""}, {"domains", virConnectNumOfDomains(conn)}};
  if (uri) free(const_cast<char*>(uri));
  virConnectClose(conn);
  return j;
}

json probe_stress_ng() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return missing("pipe failed", "retry");
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return missing("fork failed", "retry");
  }
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    char a0[] = "stress-ng", a1[] = "--version";
    char* argv[] = {a0, a1, nullptr};
    ::execvp(argv[0], argv);
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return missing("stress-ng not found in PATH",
                   "apt-get install stress-ng (scripts/install-deps.sh)");
  out = detail::trim(out);
  if (auto nl = out.find('\n'); nl != std::string::npos) out.resize(nl);
  auto pos = out.find("version ");
  std::string version = pos == std::string::npos ? out : out.substr(pos + 8);
  if (auto sp = version.find(' '); sp != std::string::npos) version.resize(sp);
  return {{"ok", true}, {"version", version}};
}

}  // namespace

std::optional<double> measure_update_interval_ms(EnergySource& source, int poll_ms) {
  const std::size_t n = source.domains().size();
  if (n == 0) return std::nullopt;
  std::vector<std::uint64_t> e(n), prev(n);
  source.read(prev);
  std::vector<std::int64_t> changes;
  const std::int64_t end = detail::monotonic_ns() + static_cast<std::int64_t>(poll_ms) * 1'000'000;
  while (detail::monotonic_ns() < end) {
    timespec ts{0, 200'000};
    ::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    source.read(e);
    if (e[0] != prev[0]) changes.push_back(detail::monotonic_ns());
    prev = e;
  }
  if (changes.size() < 3) return std::nullopt;
  std::vector<double> iv;
  for (std::size_t i = 1; i < changes.size(); ++i)
    iv.push_back(static_cast<double>(changes[i] - changes[i - 1]) / 1e6);
  std::nth_element(iv.begin(), iv.begin() + static_cast<long>(iv.size() / 2), iv.end());
  return iv[iv.size() / 2];
}

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
  // Added by the executable (it boots a guest, which needs the VM library).
  if (const auto k = p.find("kvm"); k != p.end())
    line("kvm", *k, k->value("state", std::string()) + ": " + k->value("detail", std::string()));
  return out;
}

}  // namespace cinergy::sampler
