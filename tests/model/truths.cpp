#include "truths.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <fstream>
#include <random>

namespace cinergy::model::testing {
namespace {

constexpr double kWindowS = 2.0;
constexpr double kCycleS = 120.0;  // the VM's workload cycle: four phases of 30 s
constexpr double kPhaseS = 30.0;
constexpr double kRaplUnitJ = 1.0 / 16384.0;  // 2^-14 J, a server's energy status unit
constexpr double kRaplUpdateS = 0.001;        // the counter moves about every millisecond

double round2(double v) { return std::round(v * 100.0) / 100.0; }

// Linux numbering: cpu = thread * cores + core, core = socket * cores_per_socket + i.
struct Topo {
  int sockets = 1, cps = 1, smt = 1;
  [[nodiscard]] int cores() const { return sockets * cps; }
  [[nodiscard]] int threads() const { return cores() * smt; }
  [[nodiscard]] int core_of(int cpu) const { return cpu % cores(); }
  [[nodiscard]] int socket_of(int cpu) const { return core_of(cpu) / cps; }
};

// The hidden parameters of one host (drawn per case, never read by the model).
struct Hidden {
  double idle_w = 0, range_w = 0;   // package power at idle and its dynamic range
  double tail = 0;                  // cores: awake = busy * (1 + tail), capped at 1
  double kappa = 0;                 // SMT: a second busy thread adds kappa of a core's work
  double w_core = 0, w_uncore = 0;  // cores: weights of awake cores and uncores (the rest: work)
  double turbo = 1;                 // freq: f(one awake core) / f(all cores)
  double alpha = 2.5;               // freq: core power ~ f^alpha
  double limit = 1;                 // freq: socket core power cap, in all-core units
  double awake_idle = 0.3;          // freq: an awake, not busy core, as a fraction of busy
  double uncore = 0.2;              // freq: uncore power per socket, in per-core units per core
  double w_curve = 0.3;             // freq: weight of the SPECpower curve term
  double leak = 0, tau_s = 60;      // realistic: leakage share of dynamic power, lag
  double ramp_s = 0.3;              // realistic: longest start delay of a new worker
  int hz = 250;                     // realistic: scheduler tick (CPU % from ticks)
  double sibling_weight = 1, socket_weight = 0;  // scheduler preferences
  double noise_rel = 0, noise_abs = 0, spike_prob = 0;
  double background_pct = 0.3;  // daemons, % of one CPU
  double vm_offset_s = 0;       // realistic: the VM's phases against the windows
  std::array<double, 4> phase_pct{};
  std::vector<double> imbalance;  // per vCPU
  double idle_vcpu_pct = 1;       // skewed: the idle vCPUs' own load
};

class Physics {
 public:
  Physics(TruthKind kind, const Topo& topo, const SpecCurve& spec, const Hidden& h)
      : kind_(kind),
        topo_(topo),
        h_(h),
        shape_(std::vector<double>(spec.load.begin(), spec.load.end()),
               std::vector<double>(spec.watts.begin(), spec.watts.end())) {
    shape0_ = shape_(0.0);
    shape1_ = shape_(1.0);
    if (kind_ == TruthKind::freq || kind_ == TruthKind::realistic) {
      const std::vector<double> full(static_cast<std::size_t>(topo_.threads()), 1.0);
      std::vector<double> sockets;
      full_ = raw_freq(full, sockets, nullptr);
    }
  }

  // Normalised SPECpower curve: 0 at idle, 1 at full load.
  [[nodiscard]] double curve(double load) const {
    return (shape_(load) - shape0_) / (shape1_ - shape0_);
  }

  // Noise-free package power (W) of a state (per-CPU busy fractions), its
  // split over sockets and the mean relative frequency of awake cores.
  double power_w(const std::vector<double>& u, std::vector<double>& socket_w,
                 double& freq_rel) const {
    const int ns = topo_.sockets;
    socket_w.assign(static_cast<std::size_t>(ns), 0.0);
    freq_rel = 1.0;
    double mean_u = 0;
    for (double v : u) mean_u += v;
    mean_u /= static_cast<double>(u.size());
    std::vector<double> share(static_cast<std::size_t>(ns), 0.0);  // dynamic power by socket
    double dyn = 0;
    if (kind_ == TruthKind::util) {
      dyn = curve(mean_u);
      for (int cpu = 0; cpu < topo_.threads(); ++cpu)
        share[static_cast<std::size_t>(topo_.socket_of(cpu))] += u[static_cast<std::size_t>(cpu)];
    } else if (kind_ == TruthKind::cores) {
      dyn = cores_activity(u, share);
    } else {
      const double raw = raw_freq(u, share, &freq_rel);
      dyn = h_.w_curve * curve(mean_u) + (1 - h_.w_curve) * raw / full_;
    }
    double total_share = 0;
    for (double s : share) total_share += s;
    const double p = h_.idle_w + h_.range_w * dyn;
    for (int s = 0; s < ns; ++s) {
      const double f = total_share > 0 ? share[static_cast<std::size_t>(s)] / total_share
                                       : 1.0 / static_cast<double>(ns);
      socket_w[static_cast<std::size_t>(s)] =
          h_.idle_w / ns + h_.range_w * dyn * f;  // idle split evenly
    }
    return p;
  }

 private:
  struct Core {
    double busy, work, awake;
  };
  // Per physical core: busy = some thread busy (independent threads), work
  // = busy plus kappa of the time both SMT threads are, over (1 + kappa);
  // awake = busy plus the C-state exit tail, capped at 1.
  [[nodiscard]] Core core(const std::vector<double>& u, int c) const {
    double idle = 1, both = 1;
    for (int t = 0; t < topo_.smt; ++t) {
      const double v = std::clamp(u[static_cast<std::size_t>(t * topo_.cores() + c)], 0.0, 1.0);
      idle *= 1 - v;
      both *= v;
    }
    const double busy = 1 - idle;
    const double kappa = topo_.smt > 1 ? h_.kappa : 0.0;
    const double work = (busy + kappa * (topo_.smt > 1 ? both : 0.0)) / (1 + kappa);
    return {busy, work, busy > 0 ? std::min(1.0, busy * (1 + h_.tail)) : 0.0};
  }

  // cores: w_core * mean awake + w_uncore * mean uncore awake + the rest *
  // curve(mean work); 1 at full load.
  double cores_activity(const std::vector<double>& u, std::vector<double>& share) const {
    double awake = 0, work = 0, uncore = 0;
    for (int s = 0; s < topo_.sockets; ++s) {
      double none = 1, sa = 0, sw = 0;
      for (int i = 0; i < topo_.cps; ++i) {
        const Core k = core(u, s * topo_.cps + i);
        none *= 1 - k.awake;
        sa += k.awake;
        sw += k.work;
      }
      awake += sa;
      work += sw;
      uncore += 1 - none;
      share[static_cast<std::size_t>(s)] = h_.w_core * sa / topo_.cores() +
                                           h_.w_uncore * (1 - none) / topo_.sockets +
                                           (1 - h_.w_core - h_.w_uncore) * sw / topo_.cores();
    }
    const double w_work = 1 - h_.w_core - h_.w_uncore;
    return h_.w_core * awake / topo_.cores() + h_.w_uncore * uncore / topo_.sockets +
           w_work * curve(work / topo_.cores());
  }

  // freq: per socket, the number of awake cores is Poisson-binomial over
  // the cores' awake fractions; at n awake cores each runs at f(n) = 1 +
  // (turbo - 1) (cores - n) / (cores - 1) (all-core frequency 1) and costs
  // f^alpha, the socket's cores together at most `limit` x cores (the
  // package power limit lowers f). An awake core's power is taken at the
  // size-biased count (the count a core sees while it is awake); a busy
  // core pays it in full, an awake idle one `awake_idle` of it. Plus an
  // uncore awake while any core is. In all-core units (full_ normalises).
  double raw_freq(const std::vector<double>& u, std::vector<double>& share,
                  double* freq_rel) const {
    const int m = topo_.cps;
    share.assign(static_cast<std::size_t>(topo_.sockets), 0.0);
    std::vector<double> dist(static_cast<std::size_t>(m + 1));
    double total = 0, f_sum = 0, f_n = 0;
    for (int s = 0; s < topo_.sockets; ++s) {
      std::fill(dist.begin(), dist.end(), 0.0);
      dist[0] = 1;
      double none = 1, pay = 0;
      for (int i = 0; i < m; ++i) {
        const Core k = core(u, s * m + i);
        none *= 1 - k.awake;
        pay += k.work + h_.awake_idle * (k.awake - k.work);
        for (int n = i + 1; n >= 1; --n)
          dist[static_cast<std::size_t>(n)] = dist[static_cast<std::size_t>(n)] * (1 - k.awake) +
                                              dist[static_cast<std::size_t>(n - 1)] * k.awake;
        dist[0] *= 1 - k.awake;
      }
      double en = 0, eg = 0, ef = 0;
      for (int n = 1; n <= m; ++n) {
        const double f =
            m > 1 ? 1 + (h_.turbo - 1) * static_cast<double>(m - n) / (m - 1) : h_.turbo;
        double g = std::pow(f, h_.alpha);
        double fe = f;
        if (n * g > h_.limit * m) {  // the power limit: lower f until n f^alpha = limit m
          g = h_.limit * m / n;
          fe = std::pow(g, 1 / h_.alpha);
        }
        const double p = dist[static_cast<std::size_t>(n)];
        en += p * n;
        eg += p * n * g;
        ef += p * n * fe;
      }
      const double per_core = en > 0 ? eg / en : 0.0;
      const double sp = pay * per_core + h_.uncore * m * (1 - none);
      share[static_cast<std::size_t>(s)] = sp;
      total += sp;
      f_sum += ef;
      f_n += en;
    }
    if (freq_rel != nullptr) *freq_rel = f_n > 0 ? f_sum / f_n : h_.turbo;
    return total;
  }

  TruthKind kind_;
  Topo topo_;
  const Hidden& h_;
  MonotoneCurve shape_;
  double shape0_ = 0, shape1_ = 1, full_ = 1;
};

// A task: a demand (fraction of one CPU) and the sockets it may run on (-1: any).
struct Task {
  double demand;
  int socket;
};

// The scheduler: each task in turn on the allowed CPU with the lowest
// load + sibling_weight * its SMT siblings' load + socket_weight * its
// socket's mean load, the lowest number among equals (idle cores first,
// then idle siblings). A CPU asked for more than 1 shares it in proportion.
class Scheduler {
 public:
  Scheduler(const Topo& topo, const Hidden& h)
      : topo_(topo), h_(h), load_(static_cast<std::size_t>(topo.threads()), 0.0) {}

  int place(const Task& t) {
    int best = -1;
    double best_score = 0;
    for (int cpu = 0; cpu < topo_.threads(); ++cpu) {
      if (t.socket >= 0 && topo_.socket_of(cpu) != t.socket) continue;
      double sib = 0;
      for (int k = 0; k < topo_.smt; ++k) {
        const int other = k * topo_.cores() + topo_.core_of(cpu);
        if (other != cpu) sib += load_[static_cast<std::size_t>(other)];
      }
      const double score = load_[static_cast<std::size_t>(cpu)] + h_.sibling_weight * sib +
                           h_.socket_weight * socket_load(topo_.socket_of(cpu));
      if (best < 0 || score < best_score - 1e-12) {
        best = cpu;
        best_score = score;
      }
    }
    load_[static_cast<std::size_t>(best)] += t.demand;
    socket_sum_[static_cast<std::size_t>(topo_.socket_of(best))] += t.demand;
    return best;
  }
  void add_at(int cpu, double demand) {
    load_[static_cast<std::size_t>(cpu)] += demand;
    socket_sum_[static_cast<std::size_t>(topo_.socket_of(cpu))] += demand;
  }
  [[nodiscard]] const std::vector<double>& load() const { return load_; }
  // The fraction of its demand a task on `cpu` gets.
  [[nodiscard]] double delivered(int cpu) const {
    const double l = load_[static_cast<std::size_t>(cpu)];
    return l > 1 ? 1 / l : 1.0;
  }
  void util(std::vector<double>& u) const {
    u.resize(load_.size());
    for (std::size_t i = 0; i < load_.size(); ++i) u[i] = std::min(1.0, load_[i]);
  }

 private:
  [[nodiscard]] double socket_load(int s) const {
    if (socket_sum_.empty()) return 0;
    return socket_sum_[static_cast<std::size_t>(s)] / (topo_.cps * topo_.smt);
  }
  Topo topo_;
  const Hidden& h_;
  std::vector<double> load_;
  std::vector<double> socket_sum_ = std::vector<double>(static_cast<std::size_t>(topo_.sockets));
};

// What a window holds: up to two pieces (a change inside the window), each
// a fraction of the window with its per-CPU busy fractions.
struct Piece {
  double fraction = 1;
  std::vector<double> util;
  std::vector<double> vcpu_pct;  // delivered vCPU loads (B, C)
  double vm_pct = 0;             // the VM process: vCPUs plus qemu's own threads
};

class Generator {
 public:
  explicit Generator(const TruthCase& c)
      : c_(c),
        topo_{c.host.sockets, c.host.cores_per_socket, c.host.smt},
        rng_(c.seed * 0x9E3779B97F4A7C15ull + 0x51ED),
        h_(draw(c)),
        physics_(c.kind, topo_, c.host.spec, h_) {}

  TruthData run(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    TruthData out;
    out.prefix = fmt::format("truth-{}-{}t-{}v{}-{}", truth_name(c_.kind), topo_.threads(),
                             c_.vm.vcpus, c_.vm.skewed ? "s" : "e", c_.seed);
    out.threads = topo_.threads();
    out.vm_vcpus = c_.vm.vcpus;
    {
      Scheduler s(topo_, h_);
      background(s, {});
      std::vector<double> u, sw;
      double f = 0;
      s.util(u);
      out.true_idle_w = physics_.power_w(u, sw, f);
    }
    for (int step : {25, 50, 100}) staircase(step, dir, out, /*pinned=*/true);
    groundtruth(dir, out);
    cloudlike(dir, out);
    // As `cinergy run` does on a host of several sockets (on one, pinned is
    // unpinned). Written last, so that the scenarios above (the paper's
    // protocol) are the same draws with or without them.
    if (topo_.sockets > 1)
      for (int step : {25, 50, 100}) staircase(step, dir, out, /*pinned=*/false);
    return out;
  }

 private:
  bool realistic() const { return c_.kind == TruthKind::realistic; }
  double uni(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }
  double normal(double sd) { return std::normal_distribution<double>(0.0, sd)(rng_); }

  Hidden draw(const TruthCase& c) {
    Hidden h;
    const auto& spec = c.host.spec;
    // RAPL sees the package, not the wall: a share of the server's power.
    const double rapl = uni(0.45, 0.75);
    h.idle_w = rapl * spec.watts[0];
    const MonotoneCurve curve(std::vector<double>(spec.load.begin(), spec.load.end()),
                              std::vector<double>(spec.watts.begin(), spec.watts.end()));
    h.range_w = rapl * (curve(1.0) - curve(0.0));
    h.tail = uni(0.2, 1.5);
    h.kappa = uni(0.1, 0.35);
    h.w_core = uni(0.2, 0.45);
    h.w_uncore = uni(0.05, 0.2);
    h.turbo = uni(1.2, 1.6);
    h.alpha = uni(2.0, 3.0);
    h.limit = uni(0.85, 1.05);
    h.awake_idle = uni(0.2, 0.45);
    h.uncore = uni(0.1, 0.3);
    h.w_curve = uni(0.2, 0.5);
    h.leak = uni(0.03, 0.08);
    h.tau_s = uni(20, 90);
    h.ramp_s = uni(0.1, 0.6);
    h.hz = uni(0, 1) < 0.5 ? 250 : 1000;
    h.sibling_weight = uni(0.5, 1.5);
    h.socket_weight = uni(0, 1) < 0.5 ? 0.0 : uni(0.5, 2.0);
    if (realistic()) {
      h.noise_rel = uni(0.005, 0.015);
      h.noise_abs = uni(0.3, 1.0);
      h.spike_prob = uni(0.005, 0.03);
    } else {
      h.noise_rel = uni(0.002, 0.006);
      h.noise_abs = uni(0.1, 0.4);
    }
    h.background_pct = uni(0.1, 0.6);
    h.vm_offset_s = realistic() ? uni(0.0, kPhaseS) : 0.0;
    const std::array<double, 4> even{20, 95, 60, 3}, skew{30, 98, 70, 5};
    for (std::size_t i = 0; i < 4; ++i)
      h.phase_pct[i] = std::min(100.0, (c.vm.skewed ? skew[i] : even[i]) * uni(0.85, 1.15));
    for (int j = 0; j < c.vm.vcpus; ++j) h.imbalance.push_back(uni(0.85, 1.15));
    h.idle_vcpu_pct = uni(0.5, 2.0);
    return h;
  }

  // The daemons: two small tasks; realistic adds bursts (drawn per window,
  // the same in a window's truth).
  struct Burst {
    int cpu;
    double demand;
  };
  std::vector<Burst> bursts() {
    std::vector<Burst> b;
    if (!realistic()) return b;
    const int k = std::poisson_distribution<int>(0.5)(rng_);
    for (int i = 0; i < k; ++i)
      b.push_back(
          {std::uniform_int_distribution<int>(0, topo_.threads() - 1)(rng_), uni(0.002, 0.03)});
    return b;
  }
  void background(Scheduler& s, const std::vector<Burst>& b) const {
    s.place({h_.background_pct / 200.0, -1});
    s.place({h_.background_pct / 200.0, -1});
    for (const auto& x : b) s.add_at(x.cpu, x.demand);
  }

  // The VM's demanded vCPU loads (%) at VM time t (its own clock).
  std::vector<double> vm_demand(double t_s) {
    const auto phase = static_cast<std::size_t>(std::fmod(t_s, kCycleS) / kPhaseS) % 4;
    std::vector<double> d(static_cast<std::size_t>(c_.vm.vcpus));
    for (std::size_t j = 0; j < d.size(); ++j) {
      double v;
      if (c_.vm.skewed && j > 0)
        v = h_.idle_vcpu_pct + std::abs(normal(0.3));
      else
        v = h_.phase_pct[phase] * (c_.vm.skewed ? 1.0 : h_.imbalance[j]) + normal(1.5);
      d[j] = std::clamp(v, 0.0, 100.0);
    }
    return d;
  }

  // Places the VM's threads (vCPUs and qemu's own: 1 % plus 2 % of the
  // vCPUs' load) on `s` and fills the piece's VM fields with what they got.
  void place_vm(Scheduler& s, const std::vector<double>& demand_pct, Piece& p) const {
    double sum = 0;
    for (double d : demand_pct) sum += d;
    std::vector<int> where;
    for (double d : demand_pct) where.push_back(s.place({d / 100.0, -1}));
    const double overhead = 1.0 + 0.02 * sum;
    const int ocpu = s.place({overhead / 100.0, -1});
    p.vcpu_pct.resize(demand_pct.size());
    p.vm_pct = overhead * s.delivered(ocpu);
    for (std::size_t j = 0; j < demand_pct.size(); ++j) {
      p.vcpu_pct[j] = demand_pct[j] * s.delivered(where[j]);
      p.vm_pct += p.vcpu_pct[j];
    }
  }

  // Power of a window's pieces (time-weighted), socket split and frequency.
  double power(const std::vector<Piece>& pieces, std::vector<double>& socket_w, double& freq) {
    socket_w.assign(static_cast<std::size_t>(topo_.sockets), 0.0);
    std::vector<double> sw;
    double p = 0;
    freq = 0;
    for (const auto& pc : pieces) {
      double f = 0;
      p += pc.fraction * physics_.power_w(pc.util, sw, f);
      freq += pc.fraction * f;
      for (std::size_t s = 0; s < sw.size(); ++s) socket_w[s] += pc.fraction * sw[s];
    }
    return p;
  }

  // Leakage lagging the dynamic power (realistic only): a first-order
  // thermal state per world, stepped once per window.
  struct Thermal {
    double state = 0;
    double step(const Hidden& h, double dyn_w) {
      state += (dyn_w - state) * (1 - std::exp(-kWindowS / h.tau_s));
      return h.leak * state;
    }
  };

  // Measured busy fraction of a CPU over a window: exact (plus a little
  // noise) or counted in scheduler ticks.
  double measure_busy(double u) {
    if (!realistic()) return u;
    const int ticks = static_cast<int>(h_.hz * kWindowS);
    return std::binomial_distribution<int>(ticks, std::clamp(u, 0.0, 1.0))(rng_) /
           static_cast<double>(ticks);
  }

  class Writer {
   public:
    Writer(Generator& g, std::string phase) : g_(g), phase_(std::move(phase)) {
      out_ = "timestamp,domain,measure\n";
      energy_.assign(static_cast<std::size_t>(g.topo_.sockets), 0.0);
      last_read_.assign(static_cast<std::size_t>(g.topo_.sockets), 0.0);
    }
    // One window of the given pieces with its noise-free power `truth_w`
    // (thermal included) split over sockets as `socket_w`.
    void window(int ts, const std::vector<Piece>& pieces, double truth_w,
                const std::vector<double>& socket_w, double freq, const double* target, bool vm) {
      auto row = [&](std::string_view domain, double v) {
        fmt::format_to(std::back_inserter(out_), "{},{},{}\n", ts, domain, round2(v));
      };
      fmt::format_to(std::back_inserter(out_), "{},phase,{}\n", ts, phase_);
      if (target != nullptr) row("target", *target);
      const auto& h = g_.h_;
      const int ns = g_.topo_.sockets;
      double base = 0;
      for (double v : socket_w) base += v;
      const double spike =
          h.spike_prob > 0 && g_.uni(0, 1) < h.spike_prob ? g_.uni(0.02, 0.08) : 0.0;
      double global = 0;
      std::vector<double> watt(static_cast<std::size_t>(ns));
      for (int s = 0; s < ns; ++s) {
        const auto si = static_cast<std::size_t>(s);
        double ps = truth_w * (base > 0 ? socket_w[si] / base : 1.0 / ns) * (1 + spike);
        const double sd = h.noise_rel * ps + h.noise_abs / std::sqrt(ns);
        if (g_.realistic()) {  // Student t with 4 degrees of freedom, unit variance
          const double z = g_.normal(1.0);
          const double chi = std::chi_squared_distribution<double>(4.0)(g_.rng_);
          ps += sd * z / std::sqrt(chi / 4.0) / std::sqrt(2.0);
          // The energy counter: 2^-14 J units, read up to 1 ms late.
          energy_[si] += std::max(ps, 0.0) * kWindowS;
          const double lag = g_.uni(0, kRaplUpdateS) * std::max(ps, 0.0);
          const double read = std::floor((energy_[si] - lag) / kRaplUnitJ) * kRaplUnitJ;
          ps = (read - last_read_[si]) / kWindowS;
          last_read_[si] = read;
        } else {
          ps += g_.normal(sd);
        }
        watt[si] = round2(std::max(ps, 0.0));
        global += watt[si];
      }
      if (ts > static_cast<int>(kWindowS)) {  // the first window has no RAPL rows
        for (int s = 0; s < ns; ++s) {
          row(fmt::format("package-{}-joule", s), watt[static_cast<std::size_t>(s)] * kWindowS);
          row(fmt::format("package-{}-watt", s), watt[static_cast<std::size_t>(s)]);
        }
        row("package-global-joule", global * kWindowS);
        row("package-global-watt", global);
      }
      // CPU %: the pieces' busy time, measured per CPU.
      const int n = g_.topo_.threads();
      std::vector<double> sock(static_cast<std::size_t>(ns), 0.0);
      double total = 0;
      for (int cpu = 0; cpu < n; ++cpu) {
        double u = 0;
        for (const auto& p : pieces) u += p.fraction * p.util[static_cast<std::size_t>(cpu)];
        const double m = g_.measure_busy(u);
        total += m;
        sock[static_cast<std::size_t>(g_.topo_.socket_of(cpu))] += m;
      }
      const double noise = g_.realistic() ? 0.0 : 0.02;
      row("cpu%_package-global", std::max(0.0, 100.0 * total / n + g_.normal(noise)));
      const double fall_khz = 2.2e6;
      for (int s = 0; s < ns; ++s) {
        row(fmt::format("cpu%_package-{}", s),
            std::max(0.0, 100.0 * sock[static_cast<std::size_t>(s)] / (n / ns) + g_.normal(noise)));
        row(fmt::format("freq_package-{}", s), fall_khz * freq + g_.normal(20000));
      }
      if (!vm) return;
      // The VM's CPU: its threads' busy time (ticks when realistic).
      const std::size_t v = pieces.front().vcpu_pct.size();
      std::vector<double> vcpu(v, 0.0);
      double vm_pct = 0;
      for (const auto& p : pieces) {
        vm_pct += p.fraction * p.vm_pct;
        for (std::size_t j = 0; j < v; ++j) vcpu[j] += p.fraction * p.vcpu_pct[j];
      }
      double vcpu_sum = 0;
      for (auto& x : vcpu) {
        x = 100.0 * g_.measure_busy(x / 100.0);
        vcpu_sum += x;
      }
      double own = 0;  // qemu's own threads
      for (const auto& p : pieces) {
        double s = 0;
        for (double x : p.vcpu_pct) s += x;
        own += p.fraction * (p.vm_pct - s);
      }
      const double vm_noise = g_.realistic() ? 0.0 : 0.3;
      row("vm",
          std::max(0.0, vcpu_sum + 100.0 * g_.measure_busy(own / 100.0) + g_.normal(vm_noise)));
      for (std::size_t j = 0; j < v; ++j)
        row(fmt::format("CPU{}", j), std::max(0.0, vcpu[j] + g_.normal(vm_noise)));
    }
    void save(const std::filesystem::path& file) const {
      std::ofstream(file, std::ios::binary | std::ios::trunc) << out_;
    }

   private:
    Generator& g_;
    std::string phase_;
    std::string out_;
    std::vector<double> energy_, last_read_;
  };

  // A stress-ng worker of the staircase: pinned to a socket's CPUs, socket 0
  // first (the paper's protocol), or unpinned: placed by the scheduler like
  // the VM's threads (`cinergy run`'s training-unpinned-S).
  Task worker(int index, int step, bool pinned = true) const {
    if (!pinned) return {step / 100.0, -1};
    const int per_socket = topo_.cps * topo_.smt * std::max(1, 100 / step);
    return {step / 100.0, std::min(index / per_socket, topo_.sockets - 1)};
  }

  // A worker started at a level: realistic ones start up to ramp_s late, so
  // the level's first window is partly the previous level.
  std::vector<Piece> level_pieces(const std::vector<double>& before, const std::vector<double>& now,
                                  bool first) {
    if (!realistic() || !first) return {Piece{1.0, now, {}, 0}};
    const double late = uni(0.05, h_.ramp_s) / kWindowS;
    return {Piece{late, before, {}, 0}, Piece{1 - late, now, {}, 0}};
  }

  void staircase(int step, const std::filesystem::path& dir, const TruthData& out, bool pinned) {
    const std::string phase =
        pinned ? fmt::format("training-{}", step) : fmt::format("training-unpinned-{}", step);
    Writer w(*this, phase);
    const int n = topo_.threads();
    const int levels = n * std::max(1, 100 / step);
    Scheduler workers(topo_, h_);
    std::vector<int> worker_cpu;
    std::vector<double> before, now, sw;
    Thermal th;
    int window = 0;
    for (int k = 0; k <= levels; ++k) {
      if (k > 0) worker_cpu.push_back(workers.place(worker(k - 1, step, pinned)));
      const double target = static_cast<double>(k) * step / n;
      for (int r = 0; r < c_.windows_per_level; ++r, ++window) {
        Scheduler s(topo_, h_);
        background(s, bursts());
        for (int cpu : worker_cpu) s.add_at(cpu, step / 100.0);
        s.util(now);
        if (before.empty()) before = now;
        auto pieces = level_pieces(before, now, r == 0);
        double freq = 0;
        double p = power(pieces, sw, freq);
        if (realistic()) p += th.step(h_, p - out.true_idle_w);
        w.window((window + 1) * static_cast<int>(kWindowS), pieces, p, sw, freq, &target, false);
        before = now;
      }
    }
    w.save(dir / fmt::format("{}-{}.csv", out.prefix, phase));
  }

  // The VM's pieces of the window starting at t_s (its phases may change
  // inside a realistic window), each placed on a scheduler made by `host`
  // (the background, and the staircase's workers in C).
  template <typename Host>
  std::vector<Piece> vm_pieces(double t_s, Host&& host) {
    const double t = t_s + h_.vm_offset_s;
    const double next = (std::floor(t / kPhaseS) + 1) * kPhaseS;
    std::vector<double> cuts{0.0};
    if (next < t + kWindowS - 1e-9) cuts.push_back((next - t) / kWindowS);
    cuts.push_back(1.0);
    std::vector<Piece> pieces;
    for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
      Piece p;
      p.fraction = cuts[i + 1] - cuts[i];
      Scheduler s = host();
      place_vm(s, vm_demand(t + cuts[i] * kWindowS + 1e-6), p);
      s.util(p.util);
      pieces.push_back(std::move(p));
    }
    return pieces;
  }

  void groundtruth(const std::filesystem::path& dir, const TruthData& out) {
    Writer w(*this, "groundtruth");
    const int windows = static_cast<int>(c_.groundtruth_cycles * kCycleS / kWindowS);
    std::vector<double> sw;
    Thermal th;
    for (int i = 0; i < windows; ++i) {
      const auto b = bursts();
      auto pieces = vm_pieces(i * kWindowS, [&] {
        Scheduler s(topo_, h_);
        background(s, b);
        return s;
      });
      double freq = 0;
      double p = power(pieces, sw, freq);
      if (realistic()) p += th.step(h_, p - out.true_idle_w);
      w.window((i + 1) * static_cast<int>(kWindowS), pieces, p, sw, freq, nullptr, true);
    }
    w.save(dir / fmt::format("{}-groundtruth.csv", out.prefix));
  }

  // C: the VM beside the step-25 staircase. The truth of each window: the
  // VM alone with the loads it got there (and the window's background).
  void cloudlike(const std::filesystem::path& dir, TruthData& out) {
    Writer w(*this, "cloudlike");
    const int n = topo_.threads();
    const int levels = n * 4;
    Scheduler workers(topo_, h_);
    std::vector<int> worker_cpu;
    std::vector<double> sw, sw_alone;
    Thermal th, th_alone;
    int window = 0;
    std::vector<Piece> last;
    for (int k = 0; k <= levels; ++k) {
      if (k > 0) worker_cpu.push_back(workers.place(worker(k - 1, 25)));
      const double target = static_cast<double>(k) * 25 / n;
      for (int r = 0; r < c_.windows_per_level; ++r, ++window) {
        const auto b = bursts();
        const bool ramp = realistic() && r == 0 && k > 0;
        const double late = ramp ? uni(0.05, h_.ramp_s) / kWindowS : 0.0;
        auto host = [&](bool with_new) {
          return [&, with_new] {
            Scheduler s(topo_, h_);
            background(s, b);
            const std::size_t m = worker_cpu.size() - (with_new ? 0 : 1);
            for (std::size_t i = 0; i < m; ++i) s.add_at(worker_cpu[i], 0.25);
            return s;
          };
        };
        auto pieces = vm_pieces(window * kWindowS, host(true));
        if (ramp) {  // the new worker's late start: the first part without it
          auto early = vm_pieces(window * kWindowS, host(false));
          for (auto& p : early) p.fraction *= late;
          for (auto& p : pieces) p.fraction *= 1 - late;
          pieces.insert(pieces.begin(), early.begin(), early.end());
        }
        // The truth: the same VM loads, the host running nothing else.
        std::vector<Piece> alone = pieces;
        for (auto& p : alone) {
          Scheduler s(topo_, h_);
          background(s, b);
          Piece q;
          place_vm(s, p.vcpu_pct, q);
          s.util(p.util);
          p.vm_pct = q.vm_pct;
        }
        double freq = 0, freq_alone = 0;
        double p = power(pieces, sw, freq);
        double truth = power(alone, sw_alone, freq_alone);
        if (realistic()) {
          p += th.step(h_, p - out.true_idle_w);
          truth += th_alone.step(h_, truth - out.true_idle_w);
        }
        const int ts = (window + 1) * static_cast<int>(kWindowS);
        w.window(ts, pieces, p, sw, freq, &target, true);
        out.cloud_ts_s.push_back(ts);
        out.cloud_true_w.push_back(truth);
      }
    }
    w.save(dir / fmt::format("{}-cloudlike.csv", out.prefix));
  }

  const TruthCase& c_;
  Topo topo_;
  std::mt19937_64 rng_;
  Hidden h_;
  Physics physics_;
};

}  // namespace

std::string_view truth_name(TruthKind kind) {
  switch (kind) {
    case TruthKind::util:
      return "util";
    case TruthKind::cores:
      return "cores";
    case TruthKind::freq:
      return "freq";
    case TruthKind::realistic:
      return "realistic";
  }
  return "?";
}

std::optional<TruthKind> parse_truth(std::string_view name) {
  for (TruthKind k : kTruthKinds)
    if (truth_name(k) == name) return k;
  return std::nullopt;
}

std::string TruthHost::vendor() const {
  std::string n = spec.cpu_name;
  for (auto& ch : n) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (n.find("amd") != std::string::npos || n.find("opteron") != std::string::npos ||
      n.find("epyc") != std::string::npos)
    return "amd";
  if (n.find("intel") != std::string::npos || n.find("xeon") != std::string::npos) return "intel";
  return "other";
}

std::vector<TruthHost> truth_candidates(const std::vector<SpecCurve>& curves, int threads,
                                        std::string_view vendor) {
  std::vector<TruthHost> out;
  for (const auto& c : curves) {
    if (c.threads != threads || c.cores <= 0 || c.chips <= 0) continue;
    if (c.cores % c.chips != 0 || c.threads % c.cores != 0) continue;
    TruthHost h;
    h.spec = c;
    h.sockets = c.chips;
    h.cores_per_socket = c.cores / c.chips;
    h.smt = c.threads / c.cores;
    if (h.smt > 2) continue;
    if (vendor != "any" && h.vendor() != vendor) continue;
    out.push_back(std::move(h));
  }
  return out;
}

TruthData generate_truth(const TruthCase& c, const std::filesystem::path& dir) {
  return Generator(c).run(dir);
}

}  // namespace cinergy::model::testing
