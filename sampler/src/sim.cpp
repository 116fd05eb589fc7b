// The simulated meter and its utilisation sources.
#include <fcntl.h>
#include <unistd.h>

#include <cmath>

#include "cinergy/common/topology.hpp"
#include "cinergy/sampler/energy_source.hpp"
#include "util.hpp"

namespace cinergy::sampler {
namespace {

// ---- utilisation from /proc/stat -------------------------------------------
class ProcStatUtilisation final : public UtilisationSource {
 public:
  ProcStatUtilisation(int fd) : fd_(fd), buf_(16384) {}
  ~ProcStatUtilisation() override { ::close(fd_); }
  std::string_view name() const override { return "proc-stat"; }
  std::int64_t min_refresh_ns() const override { return 10'000'000; }  // 10 ms ticks

  // Reads the aggregate "cpu" line: busy = user+nice+system+irq+softirq+steal.
  bool sample(std::uint64_t& busy, std::uint64_t& total) noexcept {
    ssize_t n = ::pread(fd_, buf_.data(), buf_.size() - 1, 0);
    if (n < 5 || std::string_view(buf_.data(), 4) != "cpu ") return false;
    std::uint64_t f[8] = {};
    std::size_t p = 4, k = 0;
    const auto end = static_cast<std::size_t>(n);
    while (k < 8 && p < end && buf_[p] != '\n') {
      while (p < end && buf_[p] == ' ') ++p;
      std::size_t q = p;
      while (q < end && buf_[q] >= '0' && buf_[q] <= '9') ++q;
      if (q == p || !parse_u64(buf_.data() + p, q - p, f[k])) return false;
      ++k;
      p = q;
    }
    if (k < 5) return false;
    total = 0;
    for (auto v : f) total += v;
    busy = total - f[3] - f[4];  // minus idle, iowait
    return true;
  }
  bool prime() { return sample(busy_, total_); }
  double busy_fraction() noexcept override {
    std::uint64_t b = 0, t = 0;
    if (!sample(b, t) || t < total_ || b < busy_) return -1;
    const std::uint64_t dt = t - total_, db = b - busy_;
    if (dt == 0) return last_;  // no tick yet: same as before
    busy_ = b;
    total_ = t;
    last_ = std::clamp(static_cast<double>(db) / static_cast<double>(dt), 0.0, 1.0);
    return last_;
  }

 private:
  int fd_;
  std::vector<char> buf_;
  std::uint64_t busy_ = 0, total_ = 0;
  double last_ = 0;
};

// ---- utilisation from CpuAccounting -----------------------------------------
class AccountingUtilisation final : public UtilisationSource {
 public:
  AccountingUtilisation(bpf::CpuAccounting* a, int online_cpus)
      : acc_(a),
        online_(static_cast<double>(online_cpus)),
        series_(a->series().size()),
        busy_(a->cpu_count()) {
    acc_->read(series_, busy_, last_t_);
    last_sum_ = sum(busy_);
  }
  std::string_view name() const override { return acc_->backend(); }
  void feed(std::span<const std::uint64_t> busy, std::int64_t at_ns) noexcept override {
    fed_ = busy.size() == busy_.size() ? busy : std::span<const std::uint64_t>{};
    fed_at_ = at_ns;
  }
  double busy_fraction() noexcept override {
    std::uint64_t s = 0;
    std::int64_t t = 0;
    if (!fed_.empty()) {
      s = sum(fed_);
      t = fed_at_;
      fed_ = {};
    } else {
      if (acc_->series().size() != series_.size()) return -1;  // subjects added after open
      acc_->read(series_, busy_, t);
      s = sum(busy_);
    }
    if (t <= last_t_ || s < last_sum_) return -1;
    const double f = static_cast<double>(s - last_sum_) / (static_cast<double>(t - last_t_) * online_);
    last_sum_ = s;
    last_t_ = t;
    return std::clamp(f, 0.0, 1.0);
  }

 private:
  static std::uint64_t sum(std::span<const std::uint64_t> v) noexcept {
    std::uint64_t s = 0;
    for (auto x : v) s += x;
    return s;
  }
  bpf::CpuAccounting* acc_;
  double online_;
  std::vector<std::uint64_t> series_, busy_;
  std::span<const std::uint64_t> fed_;
  std::int64_t fed_at_ = 0;
  std::uint64_t last_sum_ = 0;
  std::int64_t last_t_ = 0;
};

// ---- the meter ----------------------------------------------------------------
constexpr double kSimUnitUj = 1e6 / 16384.0;  // ESU 14: 61.03515625 uJ, as Xeon Scalable

std::int64_t real_clock() { return detail::monotonic_ns(); }

class SimSource final : public EnergySource {
 public:
  SimSource(SimOptions o, std::unique_ptr<UtilisationSource> u)
      : opt_(std::move(o)), util_(std::move(u)), counter_(kMsrModulus, kSimUnitUj) {
    clock_ = opt_.clock_ns ? opt_.clock_ns : &real_clock;
    rng_ = opt_.seed * 0x9E3779B97F4A7C15ull + 1;
    raw_ = opt_.initial_raw ? *opt_.initial_raw : static_cast<std::uint32_t>(next() >> 32);
    last_update_ns_ = clock_();
    last_util_ns_ = last_update_ns_;
    info_ = {{"package-0", 0, static_cast<std::uint64_t>(kMsrModulus * kSimUnitUj)},
             {"package-global", -1, 0}};
  }
  std::string_view kind() const override { return "sim"; }
  bool simulated() const override { return true; }
  std::string sim_host() const override { return opt_.curve.result_id; }
  const std::vector<DomainInfo>& domains() const override { return info_; }
  std::uint64_t suspect_gaps() const noexcept override { return counter_.suspect_gaps(); }
  // gauss() lies in [-2 sqrt(3), 2 sqrt(3)] (four uniforms, centred and scaled).
  std::optional<double> max_power_w() const override {
    return opt_.curve.watts[10] * (1 + opt_.noise_rel * 2 * std::sqrt(3.0));
  }

  void on_accounting_read(std::span<const std::uint64_t> busy, std::int64_t at_ns) noexcept override {
    if (util_) util_->feed(busy, at_ns);
    fed_now_ = at_ns;
  }

  std::size_t read(std::span<std::uint64_t> energy_uj) noexcept override {
    std::size_t errors = 0;
    // The sample's instant when the loop gave one (the energy then covers
    // exactly the sample's interval), else this meter's clock.
    std::int64_t now = clock_();
    if (fed_now_ > 0) {
      now = std::max(fed_now_, last_update_ns_);
      fed_now_ = 0;
    }
    const std::int64_t ms = (now - last_update_ns_) / 1'000'000;
    if (ms > 0) {
      if (util_ && now - last_util_ns_ >= util_->min_refresh_ns()) {
        const double u = util_->busy_fraction();
        if (u >= 0)
          utilisation_ = u;
        else
          ++errors;
        last_util_ns_ = now;
      }
      const double p =
          std::max(0.0, opt_.curve.power_w(utilisation_) * (1 + opt_.noise_rel * gauss()));
      const double units = p * 1000.0 * static_cast<double>(ms) / kSimUnitUj + carry_;
      const double whole = std::floor(units);
      carry_ = units - whole;
      raw_ = static_cast<std::uint32_t>(raw_ + static_cast<std::uint64_t>(whole));  // wraps at 2^32
      last_update_ns_ += ms * 1'000'000;
    }
    // The raw 32-bit counter goes through the same arithmetic as the MSR source.
    counter_.update(raw_, now);
    energy_uj[0] = counter_.energy_uj();
    energy_uj[1] = energy_uj[0];
    return errors;
  }

  [[nodiscard]] double utilisation() const { return utilisation_; }

 private:
  std::uint64_t next() noexcept {  // xorshift64*
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545F4914F6CDD1Dull;
  }
  // Approximately standard normal (Irwin-Hall, 4 uniforms): cheap, bounded.
  double gauss() noexcept {
    double s = 0;
    for (int i = 0; i < 4; ++i) s += static_cast<double>(next() >> 11) * 0x1.0p-53;
    return (s - 2.0) * std::sqrt(3.0);
  }

  SimOptions opt_;
  std::unique_ptr<UtilisationSource> util_;
  Counter counter_;
  std::int64_t (*clock_)() = nullptr;
  std::uint64_t rng_ = 1;
  std::uint32_t raw_ = 0;
  double carry_ = 0, utilisation_ = 0;
  std::int64_t last_update_ns_ = 0, last_util_ns_ = 0, fed_now_ = 0;
  std::vector<DomainInfo> info_;
};

}  // namespace

Result<std::unique_ptr<UtilisationSource>> open_proc_stat_utilisation(
    const std::filesystem::path& proc_stat) {
  int fd = ::open(proc_stat.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno("cannot open " + proc_stat.string());
  auto u = std::make_unique<ProcStatUtilisation>(fd);
  if (!u->prime()) return fail(proc_stat.string() + ": no aggregate 'cpu' line");
  return u;
}

Result<std::unique_ptr<UtilisationSource>> open_accounting_utilisation(
    bpf::CpuAccounting* accounting, const std::filesystem::path& sysfs_cpu_root) {
  if (!accounting) return fail("no CPU accounting given");
  if (accounting->cpu_count() == 0) return fail("CPU accounting covers no CPU");
  auto topo = read_topology(sysfs_cpu_root);
  if (!topo) return std::unexpected(topo.error());
  if (topo->threads() == 0) return fail("no online CPU in " + sysfs_cpu_root.string());
  return std::make_unique<AccountingUtilisation>(accounting, topo->threads());
}

Result<std::unique_ptr<EnergySource>> open_sim(SimOptions options,
                                               std::unique_ptr<UtilisationSource> utilisation) {
  if (!utilisation) return fail("simulated meter needs a utilisation source");
  return std::make_unique<SimSource>(std::move(options), std::move(utilisation));
}

}  // namespace cinergy::sampler
