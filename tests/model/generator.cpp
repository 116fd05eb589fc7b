#include "generator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <queue>
#include <random>
#include <sstream>

namespace cinergy::model::testing {
namespace {

// Greedy least-loaded placement of tasks (fractions of one CPU) on n CPUs.
void place(std::vector<double> tasks, int n, std::vector<double>& util) {
  util.assign(static_cast<std::size_t>(n), 0.0);
  std::ranges::sort(tasks, std::greater<>());
  using Slot = std::pair<double, int>;
  std::priority_queue<Slot, std::vector<Slot>, std::greater<>> heap;
  for (int i = 0; i < n; ++i) heap.push({0.0, i});
  for (double t : tasks) {
    auto [load, cpu] = heap.top();
    heap.pop();
    util[static_cast<std::size_t>(cpu)] = load + t;
    heap.push({load + t, cpu});
  }
  for (auto& u : util) u = std::min(u, 1.0);
}

double round2(double v) { return std::round(v * 100.0) / 100.0; }

struct Host {
  const SpecCurve* spec;
  HostParams p;
  MonotoneCurve curve;
  double gamma, rapl_scale, noise_rel, noise_abs, spike_prob, background;
  std::array<double, 4> phase_load;  // % per vCPU at the 4 workload phases
  std::array<double, 4> imbalance;   // per-vCPU factor
  double freq_khz;
  mutable std::mt19937_64 rng;

  double activity(const std::vector<double>& util) const {
    double s = 0;
    for (double u : util) s += std::pow(u, gamma);
    return s / static_cast<double>(util.size());
  }
  double power_w(const std::vector<double>& util) const {
    return rapl_scale * curve(activity(util));
  }
  double normal(double sd) const { return std::normal_distribution<double>(0.0, sd)(rng); }
  double uniform(double a, double b) const {
    return std::uniform_real_distribution<double>(a, b)(rng);
  }
};

struct VmWindow {
  std::array<double, 4> vcpu_pct;  // true per-vCPU load
  double overhead_pct;
};

VmWindow vm_at(const Host& h, double t_s) {
  const int phase = static_cast<int>(std::fmod(t_s, 120.0) / 30.0) % 4;
  VmWindow w{};
  double sum = 0;
  for (int j = 0; j < 4; ++j) {
    const double v =
        h.phase_load[static_cast<std::size_t>(phase)] * h.imbalance[static_cast<std::size_t>(j)] +
        h.normal(1.5);
    w.vcpu_pct[static_cast<std::size_t>(j)] = std::clamp(v, 0.0, 100.0);
    sum += w.vcpu_pct[static_cast<std::size_t>(j)];
  }
  w.overhead_pct = 1.0 + 0.02 * sum;
  return w;
}

void vm_tasks(const VmWindow& w, std::vector<double>& tasks) {
  for (double v : w.vcpu_pct)
    if (v > 0) tasks.push_back(v / 100.0);
  tasks.push_back(w.overhead_pct / 100.0);
}

class Writer {
 public:
  Writer(const Host& h, std::string phase) : h_(h), phase_(std::move(phase)) {
    out_ = "timestamp,domain,measure\n";
  }
  // One window: util per CPU, optional target and VM.
  void window(int ts, const std::vector<double>& util, const double* target, const VmWindow* vm,
              bool rapl) {
    auto row = [&](std::string_view domain, double v) {
      fmt::format_to(std::back_inserter(out_), "{},{},{}\n", ts, domain, round2(v));
    };
    fmt::format_to(std::back_inserter(out_), "{},phase,{}\n", ts, phase_);
    if (target != nullptr) row("target", *target);
    const int n = static_cast<int>(util.size());
    const int sockets = h_.p.sockets;
    const int per = n / sockets;
    if (rapl) {
      const double p = h_.power_w(util);
      std::vector<double> act(static_cast<std::size_t>(sockets), 0.0);
      double act_sum = 0;
      for (int i = 0; i < n; ++i) {
        const double a = std::pow(util[static_cast<std::size_t>(i)], h_.gamma);
        act[static_cast<std::size_t>(std::min(i / per, sockets - 1))] += a;
        act_sum += a;
      }
      const double spike = h_.uniform(0, 1) < h_.spike_prob ? h_.uniform(0.02, 0.08) : 0.0;
      double global = 0;
      for (int s = 0; s < sockets; ++s) {
        const double share =
            0.5 / sockets +
            0.5 * (act_sum > 0 ? act[static_cast<std::size_t>(s)] / act_sum : 1.0 / sockets);
        double ps = p * share * (1.0 + spike);
        ps += h_.normal(h_.noise_rel * ps + h_.noise_abs / std::sqrt(sockets));
        ps = round2(std::max(ps, 0.0));
        global += ps;
        row(fmt::format("package-{}-joule", s), ps * h_.p.window_s);
        row(fmt::format("package-{}-watt", s), ps);
        row(fmt::format("dram-{}-joule", s), 0.08 * ps * h_.p.window_s);
        row(fmt::format("dram-{}-watt", s), 0.08 * ps);
      }
      row("package-global-joule", global * h_.p.window_s);
      row("package-global-watt", global);
    }
    double total = 0;
    for (double u : util) total += u;
    row("cpu%_package-global", std::max(0.0, 100.0 * total / n + h_.normal(0.02)));
    for (int s = 0; s < sockets; ++s) {
      double su = 0;
      for (int i = s * per; i < (s + 1) * per; ++i) su += util[static_cast<std::size_t>(i)];
      row(fmt::format("cpu%_package-{}", s), std::max(0.0, 100.0 * su / per + h_.normal(0.02)));
      row(fmt::format("freq_package-{}", s), h_.freq_khz + h_.normal(20000));
    }
    if (vm != nullptr) {
      double sum = 0;
      for (double v : vm->vcpu_pct) sum += v;
      row("vm", std::max(0.0, sum + vm->overhead_pct + h_.normal(0.3)));
      for (int j = 0; j < 4; ++j)
        row(fmt::format("CPU{}", j),
            std::max(0.0, vm->vcpu_pct[static_cast<std::size_t>(j)] + h_.normal(0.3)));
    }
  }
  void save(const std::filesystem::path& file) const {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << out_;
  }

 private:
  const Host& h_;
  std::string phase_;
  std::string out_;
};

}  // namespace

MonotoneCurve::MonotoneCurve(std::vector<double> x, std::vector<double> y)
    : x_(std::move(x)), y_(std::move(y)) {
  const std::size_t n = x_.size();
  std::vector<double> d(n - 1);
  for (std::size_t i = 0; i + 1 < n; ++i) d[i] = (y_[i + 1] - y_[i]) / (x_[i + 1] - x_[i]);
  m_.assign(n, 0.0);
  m_[0] = d[0];
  m_[n - 1] = d[n - 2];
  for (std::size_t i = 1; i + 1 < n; ++i)
    m_[i] = d[i - 1] * d[i] <= 0 ? 0.0 : 0.5 * (d[i - 1] + d[i]);
  for (std::size_t i = 0; i + 1 < n; ++i) {
    if (d[i] == 0) {
      m_[i] = m_[i + 1] = 0;
      continue;
    }
    const double a = m_[i] / d[i], b = m_[i + 1] / d[i];
    const double s = a * a + b * b;
    if (s > 9) {
      const double t = 3 / std::sqrt(s);
      m_[i] = t * a * d[i];
      m_[i + 1] = t * b * d[i];
    }
  }
}

double MonotoneCurve::operator()(double x) const {
  if (x <= x_.front()) return y_.front();
  if (x >= x_.back()) return y_.back() + m_.back() * (x - x_.back());
  const auto it = std::upper_bound(x_.begin(), x_.end(), x);
  const std::size_t i = static_cast<std::size_t>(it - x_.begin()) - 1;
  const double h = x_[i + 1] - x_[i], t = (x - x_[i]) / h;
  const double t2 = t * t, t3 = t2 * t;
  return (2 * t3 - 3 * t2 + 1) * y_[i] + (t3 - 2 * t2 + t) * h * m_[i] +
         (-2 * t3 + 3 * t2) * y_[i + 1] + (t3 - t2) * h * m_[i + 1];
}

std::vector<SpecCurve> load_spec_curves(const std::filesystem::path& csv) {
  std::ifstream in(csv);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", csv.c_str());
    std::abort();
  }
  std::vector<SpecCurve> out;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    // The system name may contain quoted commas: split respecting quotes.
    std::vector<std::string> f;
    std::string cur;
    bool quoted = false;
    for (char c : line) {
      if (c == '"')
        quoted = !quoted;
      else if (c == ',' && !quoted) {
        f.push_back(cur);
        cur.clear();
      } else
        cur += c;
    }
    f.push_back(cur);
    if (f.size() < 28) continue;
    SpecCurve s;
    s.result_id = f[0];
    s.system = f[1];
    s.cpu_name = f[2];
    s.cores = std::atoi(f[3].c_str());
    s.chips = std::atoi(f[4].c_str());
    s.threads = std::atoi(f[5].c_str());
    s.watts[0] = std::atof(f[7].c_str());
    s.load[0] = 0;
    bool okay = s.watts[0] > 0;
    for (int k = 1; k <= 10; ++k) {
      s.watts[static_cast<std::size_t>(k)] = std::atof(f[7 + static_cast<std::size_t>(k)].c_str());
      s.load[static_cast<std::size_t>(k)] =
          std::atof(f[17 + static_cast<std::size_t>(k)].c_str()) / 100.0;
      if (!(s.load[static_cast<std::size_t>(k)] > s.load[static_cast<std::size_t>(k) - 1]))
        okay = false;
    }
    if (okay) out.push_back(std::move(s));
  }
  return out;
}

GeneratedHost generate_host(const SpecCurve& spec, const HostParams& params,
                            const std::filesystem::path& dir) {
  std::mt19937_64 rng(params.seed * 0x9E3779B97F4A7C15ull + 17);
  auto uni = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  Host h{&spec,
         params,
         MonotoneCurve(std::vector<double>(spec.load.begin(), spec.load.end()),
                       std::vector<double>(spec.watts.begin(), spec.watts.end())),
         uni(0.6, 0.9),
         uni(0.45, 0.75),
         uni(0.002, 0.006),
         uni(0.1, 0.4),
         uni(0.0, 0.02),
         uni(0.1, 0.6),
         {},
         {},
         uni(1.8e6, 3.2e6),
         std::mt19937_64(params.seed + 99)};
  const std::array<double, 4> base{20, 95, 60, 3};
  for (std::size_t i = 0; i < 4; ++i) {
    h.phase_load[i] = base[i] * uni(0.85, 1.15);
    h.imbalance[i] = uni(0.6, 1.3);
  }

  GeneratedHost g;
  g.prefix = fmt::format("synth-{}t-{}", params.threads, params.seed);
  g.threads = params.threads;
  g.system = spec.system;
  g.gamma = h.gamma;
  g.rapl_scale = h.rapl_scale;
  const int n = params.threads;
  std::vector<double> util;
  const double bg = h.background / 100.0;
  std::filesystem::create_directories(dir);

  {
    std::vector<double> idle_tasks{bg};
    place(idle_tasks, n, util);
    g.true_idle_w = h.power_w(util);
  }

  // A: staircases.
  for (int step : {25, 50, 100}) {
    Writer w(h, fmt::format("training-{}", step));
    const int levels = n * 100 / step;
    int window = 0;
    for (int k = 0; k <= levels; ++k) {
      std::vector<double> tasks(static_cast<std::size_t>(k), step / 100.0);
      tasks.push_back(bg);
      place(tasks, n, util);
      const double target = static_cast<double>(k) * step / n;
      for (int r = 0; r < params.windows_per_level; ++r, ++window)
        w.window((window + 1) * static_cast<int>(params.window_s), util, &target, nullptr,
                 window > 0);
    }
    w.save(dir / fmt::format("{}-training-{}.csv", g.prefix, step));
  }
  // B: the VM alone.
  {
    Writer w(h, "groundtruth");
    const int windows = static_cast<int>(params.groundtruth_cycles * 120 / params.window_s);
    for (int i = 0; i < windows; ++i) {
      const VmWindow vm = vm_at(h, i * params.window_s);
      std::vector<double> tasks{bg};
      vm_tasks(vm, tasks);
      place(tasks, n, util);
      w.window((i + 1) * static_cast<int>(params.window_s), util, nullptr, &vm, i > 0);
    }
    w.save(dir / fmt::format("{}-groundtruth.csv", g.prefix));
  }
  // C: the VM beside the step-25 staircase.
  {
    Writer w(h, "cloudlike");
    const int levels = n * 4;
    int window = 0;
    std::vector<double> alone;
    for (int k = 0; k <= levels; ++k) {
      const double target = static_cast<double>(k) * 25 / n;
      for (int r = 0; r < params.windows_per_level; ++r, ++window) {
        const VmWindow vm = vm_at(h, window * params.window_s);
        std::vector<double> tasks{bg};
        vm_tasks(vm, tasks);
        place(tasks, n, alone);
        tasks.insert(tasks.end(), static_cast<std::size_t>(k), 0.25);
        place(tasks, n, util);
        const int ts = (window + 1) * static_cast<int>(params.window_s);
        w.window(ts, util, &target, &vm, window > 0);
        g.cloud_ts_s.push_back(ts);
        g.cloud_true_isolated_w.push_back(h.power_w(alone));
      }
    }
    w.save(dir / fmt::format("{}-cloudlike.csv", g.prefix));
  }
  return g;
}

std::vector<std::pair<SpecCurve, HostParams>> accuracy_hosts(const std::vector<SpecCurve>& curves,
                                                             std::uint64_t seed) {
  const std::array<int, 12> sizes{8, 12, 16, 24, 32, 48, 64, 80, 96, 112, 128, 160};
  std::mt19937_64 rng(seed);
  std::vector<std::pair<SpecCurve, HostParams>> out;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const int n = sizes[i];
    std::vector<const SpecCurve*> same;
    int best_gap = 1 << 30;
    for (const auto& c : curves) best_gap = std::min(best_gap, std::abs(c.threads - n));
    for (const auto& c : curves)
      if (std::abs(c.threads - n) == best_gap) same.push_back(&c);
    const auto* pick = same[std::uniform_int_distribution<std::size_t>(0, same.size() - 1)(rng)];
    HostParams p;
    p.threads = n;
    p.sockets = n >= 24 ? 2 : 1;
    p.seed = seed * 1000 + i + 1;
    out.emplace_back(*pick, p);
  }
  return out;
}

}  // namespace cinergy::model::testing
