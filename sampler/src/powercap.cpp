// powercap sysfs source: intel-rapl:P[:S]/energy_uj, opened once, pread per sample.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "cinergy/sampler/energy_source.hpp"
#include "util.hpp"

namespace cinergy::sampler {
namespace {

struct Zone {
  int package = 0;
  int sub = -1;  // -1 for the package-level zone
  std::filesystem::path dir;
};

// "intel-rapl:0" -> {0,-1}; "intel-rapl:0:2" -> {0,2}; anything else -> false.
bool parse_zone_id(const std::string& n, int& package, int& sub) {
  static constexpr std::string_view kPrefix = "intel-rapl:";
  if (n.size() <= kPrefix.size() || n.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  std::string rest = n.substr(kPrefix.size());
  auto colon = rest.find(':');
  std::uint64_t p = 0, s = 0;
  if (colon == std::string::npos) {
    if (!parse_u64(rest.data(), rest.size(), p)) return false;
    package = static_cast<int>(p);
    sub = -1;
    return true;
  }
  if (!parse_u64(rest.data(), colon, p)) return false;
  if (!parse_u64(rest.data() + colon + 1, rest.size() - colon - 1, s)) return false;
  package = static_cast<int>(p);
  sub = static_cast<int>(s);
  return true;
}

class PowercapSource final : public EnergySource {
 public:
  struct Domain {
    int fd;
    Counter counter;
  };
  ~PowercapSource() override {
    for (auto& d : fds_) ::close(d.fd);
  }
  std::string_view kind() const override { return "powercap"; }
  const std::vector<DomainInfo>& domains() const override { return info_; }
  std::uint64_t suspect_gaps() const noexcept override { return detail::sum_suspect_gaps(fds_); }

  std::size_t read(std::span<std::uint64_t> energy_uj) noexcept override {
    std::size_t errors = 0;
    const std::int64_t t = detail::monotonic_ns();
    for (std::size_t i = 0; i < fds_.size(); ++i) {
      char buf[32];
      ssize_t n = ::pread(fds_[i].fd, buf, sizeof buf, 0);
      std::uint64_t raw = 0;
      if (n <= 0 || !parse_u64(buf, static_cast<std::size_t>(n), raw) ||
          !fds_[i].counter.update(raw, t)) {
        ++errors;
      }
      energy_uj[i] = fds_[i].counter.energy_uj();
    }
    global_.write(energy_uj);
    return errors;
  }

  std::vector<DomainInfo> info_;
  std::vector<Domain> fds_;
  detail::PackageGlobal global_;
};

}  // namespace

Result<std::unique_ptr<EnergySource>> open_powercap(const std::filesystem::path& root) {
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec))
    return fail_errno(ENOENT,
                      "powercap root " + root.string() + " does not exist (--powercap-root)");
  std::vector<Zone> zones;
  for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
    Zone z;
    if (!parse_zone_id(e.path().filename().string(), z.package, z.sub)) continue;
    z.dir = e.path();
    zones.push_back(z);
  }
  if (zones.empty())
    return fail("no intel-rapl:* zone under " + root.string() +
                " (no RAPL here? use --source sim to run with the simulated meter)");
  std::sort(zones.begin(), zones.end(), [](const Zone& a, const Zone& b) {
    return std::pair(a.package, a.sub) < std::pair(b.package, b.sub);
  });

  auto src = std::make_unique<PowercapSource>();
  std::map<std::string, int> seen;
  for (const auto& z : zones) {
    auto name = read_trimmed(z.dir / "name");
    if (!name) return std::unexpected(name.error());
    if (name->empty()) return fail(z.dir.string() + "/name is empty");
    std::string dom = *name;
    // The original format: "<name>-<package>" when the name has no '-'.
    // psys is platform-wide (one per host), so it keeps its bare name.
    if (dom.find('-') == std::string::npos && dom != "psys") dom += "-" + std::to_string(z.package);
    if (const int n = ++seen[dom]; n > 1) {  // duplicate names (multi-die parts): "<name>#2", ...
      dom += '#';
      dom += std::to_string(n);
    }
    auto range = detail::read_u64(z.dir / "max_energy_range_uj");
    if (!range) return std::unexpected(range.error());
    if (*range == 0) return fail((z.dir / "max_energy_range_uj").string() + " is 0");
    const auto energy_path = z.dir / "energy_uj";
    int fd = ::open(energy_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      return fail_errno(
          e, "cannot open " + energy_path.string() +
                 (e == EACCES ? " (energy_uj is root-only since 2020: run as root)" : ""));
    }
    char buf[32];
    ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    std::uint64_t v = 0;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return fail_errno(
          e, "cannot read " + energy_path.string() + (e == EACCES ? " (run as root)" : ""));
    }
    if (!parse_u64(buf, static_cast<std::size_t>(n), v)) {
      ::close(fd);
      return fail(energy_path.string() + ": not an unsigned integer");
    }
    src->fds_.push_back({fd, Counter(*range, 1.0)});
    src->global_.add_domain(dom.rfind("package-", 0) == 0);
    src->info_.push_back({dom, dom == "psys" ? -1 : z.package, *range});
  }
  src->global_.finish(src->info_);
  return src;
}

}  // namespace cinergy::sampler
