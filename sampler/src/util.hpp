// Small setup-time helpers shared by the sources (not part of the public API).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/topology.hpp"
#include "cinergy/sampler/counter.hpp"
#include "cinergy/sampler/energy_source.hpp"

namespace cinergy::sampler::detail {

inline Result<std::uint64_t> read_u64(const std::filesystem::path& p) {
  auto t = read_trimmed(p);
  if (!t) return std::unexpected(t.error());
  std::uint64_t v = 0;
  if (!parse_u64(t->data(), t->size(), v))
    return fail(p.string() + ": not an unsigned integer: '" + t->substr(0, 40) + "'");
  return v;
}

// The package-global series of a multi-domain source: the sum of its
// package-* domains (never psys), written after the domains themselves.
class PackageGlobal {
 public:
  // Declares the source's next domain (in read() order).
  void add_domain(bool is_package) { is_package_.push_back(is_package); }
  // Appends the package-global domain to `info` when there is any package.
  void finish(std::vector<DomainInfo>& info) {
    enabled_ = std::find(is_package_.begin(), is_package_.end(), true) != is_package_.end();
    if (enabled_) info.push_back({"package-global", -1, 0});
  }
  // Hot path: energy_uj[domains] = sum of the package domains' energy_uj.
  void write(std::span<std::uint64_t> energy_uj) const noexcept {
    if (!enabled_) return;
    std::uint64_t sum_uj = 0;
    for (std::size_t i = 0; i < is_package_.size(); ++i)
      if (is_package_[i]) sum_uj += energy_uj[i];
    energy_uj[is_package_.size()] = sum_uj;
  }

 private:
  std::vector<bool> is_package_;
  bool enabled_ = false;
};

// Sum of the suspect gaps of every domain's counter (see EnergySource).
template <typename Domains>
std::uint64_t sum_suspect_gaps(const Domains& domains) noexcept {
  std::uint64_t n = 0;
  for (const auto& d : domains) n += d.counter.suspect_gaps();
  return n;
}

// Sorted logical CPUs that have a topology directory, with their package.
struct CpuPackage {
  int cpu;
  int package;
};
inline std::vector<CpuPackage> cpu_packages(const std::filesystem::path& sysfs_cpu_root) {
  std::vector<CpuPackage> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(sysfs_cpu_root, ec)) {
    const std::string n = e.path().filename().string();
    if (n.size() < 4 || n.compare(0, 3, "cpu") != 0) continue;
    std::uint64_t cpu = 0;
    if (!parse_u64(n.data() + 3, n.size() - 3, cpu)) continue;
    auto pkg = read_u64(e.path() / "topology/physical_package_id");
    if (!pkg) continue;
    out.push_back({static_cast<int>(cpu), static_cast<int>(*pkg)});
  }
  std::sort(out.begin(), out.end(), [](auto a, auto b) { return a.cpu < b.cpu; });
  return out;
}

using cinergy::monotonic_ns;  // common/topology.hpp

}  // namespace cinergy::sampler::detail
