// MSR device source: /dev/cpu/N/msr of one CPU per package, pread(fd, 8, reg).
#include <fcntl.h>
#include <unistd.h>

#include <map>

#include "cinergy/sampler/energy_source.hpp"
#include "util.hpp"

namespace cinergy::sampler {
namespace {

constexpr std::uint64_t kIntelPowerUnit = 0x606;
constexpr std::uint64_t kAmdPowerUnit = 0xC0010299;

struct Reg {
  std::uint64_t address;
  const char* name;  // domain base name
};
constexpr Reg kIntelRegs[] = {
    {0x611, "package"}, {0x639, "core"}, {0x641, "uncore"}, {0x619, "dram"}, {0x64D, "psys"}};
// AMD: 0xC001029A (core energy) is per core: read from one CPU it would be one
// core's energy, not the package's, so only the package register is used.
constexpr Reg kAmdRegs[] = {{0xC001029B, "package"}};

bool read_msr(int fd, std::uint64_t reg, std::uint64_t& value) noexcept {
  return ::pread(fd, &value, sizeof value, static_cast<off_t>(reg)) == sizeof value;
}

class MsrSource final : public EnergySource {
 public:
  struct Domain {
    int fd;
    std::uint64_t reg;
    Counter counter;
  };
  ~MsrSource() override {
    for (int fd : fds_) ::close(fd);
  }
  std::string_view kind() const override { return "msr"; }
  const std::vector<DomainInfo>& domains() const override { return info_; }
  std::uint64_t suspect_gaps() const noexcept override { return detail::sum_suspect_gaps(doms_); }
  std::size_t read(std::span<std::uint64_t> energy_uj) noexcept override {
    std::size_t errors = 0;
    const std::int64_t t = detail::monotonic_ns();
    for (std::size_t i = 0; i < doms_.size(); ++i) {
      std::uint64_t v = 0;
      if (!read_msr(doms_[i].fd, doms_[i].reg, v) || !doms_[i].counter.update(v & 0xFFFFFFFFu, t))
        ++errors;
      energy_uj[i] = doms_[i].counter.energy_uj();
    }
    global_.write(energy_uj);
    return errors;
  }

  std::vector<int> fds_;
  std::vector<Domain> doms_;
  std::vector<DomainInfo> info_;
  detail::PackageGlobal global_;
};

}  // namespace

Result<std::unique_ptr<EnergySource>> open_msr(const std::filesystem::path& dev_cpu_root,
                                               const std::filesystem::path& sysfs_cpu_root) {
  auto cpus = detail::cpu_packages(sysfs_cpu_root);
  if (cpus.empty())
    return fail("no CPU topology under " + sysfs_cpu_root.string() +
                " (cpuN/topology/physical_package_id)");
  std::map<int, int> first_cpu;  // package -> lowest CPU
  for (auto c : cpus) first_cpu.try_emplace(c.package, c.cpu);

  auto src = std::make_unique<MsrSource>();
  bool psys_done = false;
  for (auto [package, cpu] : first_cpu) {
    const auto dev = dev_cpu_root / std::to_string(cpu) / "msr";
    int fd = ::open(dev.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      return fail_errno(e, "cannot open " + dev.string() +
                               (e == ENOENT                 ? " (load the msr module: modprobe msr)"
                                : e == EACCES || e == EPERM ? " (run as root)"
                                                            : ""));
    }
    src->fds_.push_back(fd);
    std::uint64_t unit_msr = 0;
    std::span<const Reg> regs;
    if (read_msr(fd, kAmdPowerUnit, unit_msr)) {
      regs = kAmdRegs;
    } else if (read_msr(fd, kIntelPowerUnit, unit_msr)) {
      regs = kIntelRegs;
    } else {
      return fail("cannot read the RAPL power-unit MSR (0x606 / 0xC0010299) from " + dev.string() +
                  " (no RAPL on this CPU?)");
    }
    const double unit_uj = energy_unit_uj(unit_msr);
    for (const auto& r : regs) {
      std::uint64_t v = 0;
      if (!read_msr(fd, r.address, v)) continue;  // register absent on this model
      std::string base = r.name;
      if (base == "psys") {
        if (psys_done) continue;
        psys_done = true;
      }
      std::string dom = base == "psys" ? base : base + "-" + std::to_string(package);
      src->doms_.push_back({fd, r.address, Counter(kMsrModulus, unit_uj)});
      src->global_.add_domain(base == "package");
      src->info_.push_back(
          {dom, base == "psys" ? -1 : package,
           static_cast<std::uint64_t>(static_cast<double>(kMsrModulus) * unit_uj)});
    }
  }
  if (src->doms_.empty()) return fail("no readable RAPL energy MSR under " + dev_cpu_root.string());
  src->global_.finish(src->info_);
  return src;
}

}  // namespace cinergy::sampler
