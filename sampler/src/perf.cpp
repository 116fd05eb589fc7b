// perf `power` PMU source: one perf_event_open counter per package and event.
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "cinergy/common/cpu_list.hpp"
#include "cinergy/sampler/energy_source.hpp"
#include "util.hpp"

namespace cinergy::sampler {

Result<std::uint64_t> parse_perf_event_config(std::string_view text) {
  std::string t(trim(text));
  static constexpr std::string_view kKey = "event=";
  if (t.rfind(kKey, 0) != 0 || t.find(',') != std::string::npos)
    return fail("unsupported perf event format '" + t + "' (expected event=0x..)");
  std::string_view v(t);
  v.remove_prefix(kKey.size());
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    v.remove_prefix(2);
    base = 16;
  }
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out, base);
  if (ec != std::errc{} || p != v.data() + v.size() || v.empty())
    return fail("bad perf event config '" + t + "'");
  return out;
}

Result<PerfPmu> read_perf_pmu(const std::filesystem::path& root) {
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec))
    return fail_errno(ENOENT, "no perf power PMU at " + root.string());
  PerfPmu pmu;
  auto type = detail::read_u64(root / "type");
  if (!type) return std::unexpected(type.error());
  pmu.type = static_cast<std::uint32_t>(*type);
  auto mask = read_trimmed(root / "cpumask");
  if (!mask) return std::unexpected(mask.error());
  auto cpus = parse_cpu_list(*mask);
  if (!cpus) return fail((root / "cpumask").string() + ": " + cpus.error().message);
  pmu.cpus = *cpus;
  for (const auto& e : std::filesystem::directory_iterator(root / "events", ec)) {
    const std::string n = e.path().filename().string();
    if (n.find('.') != std::string::npos) continue;  // .scale / .unit companions
    auto cfg_text = read_trimmed(e.path());
    if (!cfg_text) return std::unexpected(cfg_text.error());
    auto cfg = parse_perf_event_config(*cfg_text);
    if (!cfg) return fail(e.path().string() + ": " + cfg.error().message);
    PerfEvent ev{n, *cfg, 1.0, ""};
    auto scale_text = read_trimmed(root / "events" / (n + ".scale"));
    if (!scale_text) return std::unexpected(scale_text.error());
    char* end = nullptr;
    ev.scale = std::strtod(scale_text->c_str(), &end);
    if (end == scale_text->c_str() || *end != '\0' || !(ev.scale > 0) || !std::isfinite(ev.scale))
      return fail((root / "events" / (n + ".scale")).string() + ": bad scale '" + *scale_text +
                  "'");
    if (auto unit = read_trimmed(root / "events" / (n + ".unit"))) ev.unit = *unit;
    pmu.events.push_back(ev);
  }
  if (pmu.events.empty()) return fail("no events under " + (root / "events").string());
  std::sort(pmu.events.begin(), pmu.events.end(),
            [](const PerfEvent& a, const PerfEvent& b) { return a.name < b.name; });
  return pmu;
}

std::string perf_domain_name(std::string_view event_name, int package) {
  std::string_view base = event_name;
  if (base.rfind("energy-", 0) == 0) base.remove_prefix(7);
  std::string name;
  if (base == "pkg")
    name = "package";
  else if (base == "cores")
    name = "core";
  else if (base == "ram")
    name = "dram";
  else if (base == "gpu")
    name = "uncore";
  else if (base == "psys")
    return "psys";
  else
    name = std::string(base);
  return name + "-" + std::to_string(package);
}

namespace {

class PerfSource final : public EnergySource {
 public:
  struct Domain {
    int fd;
    double uj_per_count;
    std::uint64_t first = 0;
    bool primed = false;
    std::uint64_t last_uj = 0;
  };
  ~PerfSource() override {
    for (auto& d : doms_) ::close(d.fd);
  }
  std::string_view kind() const override { return "perf"; }
  const std::vector<DomainInfo>& domains() const override { return info_; }
  // The kernel extends the counters to 64 bit itself: no wrap handling here.
  std::size_t read(std::span<std::uint64_t> energy_uj) noexcept override {
    std::size_t errors = 0;
    for (std::size_t i = 0; i < doms_.size(); ++i) {
      auto& d = doms_[i];
      std::uint64_t count = 0;
      if (::read(d.fd, &count, sizeof count) != sizeof count) {
        ++errors;
      } else if (!d.primed) {
        d.primed = true;
        d.first = count;
        d.last_uj = 0;
      } else if (count >= d.first) {
        d.last_uj =
            static_cast<std::uint64_t>(static_cast<double>(count - d.first) * d.uj_per_count);
      } else {
        ++errors;
      }
      energy_uj[i] = d.last_uj;
    }
    global_.write(energy_uj);
    return errors;
  }

  std::vector<Domain> doms_;
  std::vector<DomainInfo> info_;
  detail::PackageGlobal global_;
};

}  // namespace

Result<std::unique_ptr<EnergySource>> open_perf(const std::filesystem::path& perf_root,
                                                const std::filesystem::path& sysfs_cpu_root) {
  auto pmu = read_perf_pmu(perf_root);
  if (!pmu) return std::unexpected(pmu.error());
  std::map<int, int> cpu_pkg;
  for (auto c : detail::cpu_packages(sysfs_cpu_root)) cpu_pkg[c.cpu] = c.package;
  auto src = std::make_unique<PerfSource>();
  bool psys_done = false;
  for (int cpu : pmu->cpus) {
    const int package = cpu_pkg.contains(cpu) ? cpu_pkg[cpu] : 0;
    for (const auto& ev : pmu->events) {
      std::string dom = perf_domain_name(ev.name, package);
      if (dom == "psys") {
        if (psys_done) continue;
        psys_done = true;
      }
      perf_event_attr attr{};
      attr.type = pmu->type;
      attr.size = sizeof attr;
      attr.config = ev.config;
      long fd = ::syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
      if (fd < 0) {
        int e = errno;
        return fail_errno(
            e, "perf_event_open(power/" + ev.name + "/, cpu " + std::to_string(cpu) + ")" +
                   (e == EACCES || e == EPERM ? " (run as root or lower kernel.perf_event_paranoid)"
                                              : ""));
      }
      const double to_uj = ev.unit == "Joules" || ev.unit.empty() ? 1e6 : 1.0;
      src->doms_.push_back({static_cast<int>(fd), ev.scale * to_uj});
      src->global_.add_domain(dom.rfind("package-", 0) == 0);
      src->info_.push_back({dom, dom == "psys" ? -1 : package, 0});
    }
  }
  if (src->doms_.empty()) return fail("perf power PMU at " + perf_root.string() + " has no CPU");
  src->global_.finish(src->info_);
  return src;
}

}  // namespace cinergy::sampler
