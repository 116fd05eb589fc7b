#include "fixture.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cinergy/model/analyze.hpp"
#include "cinergy/sampler/trace_writer.hpp"

namespace cinergy::test {
namespace {

namespace fs = std::filesystem;
constexpr int kThreads = 4;
constexpr int kVcpus = 2;
const char* kHost = "fixture-host";

// Host power (W) at a busy fraction u in [0, 1]: concave, like real servers.
double package_w(double u) { return 18.0 + 52.0 * (1.0 - std::exp(-2.6 * u)); }
double dram_w(double u) { return 2.5 + 1.5 * u; }

struct Level {
  double start_s, end_s, noise_cpus;  // noise load in CPUs
  double target_pct;
  int workers;
};

struct Phase {
  std::string name;
  double duration_s;
  std::vector<Level> levels;  // empty for groundtruth
  bool vm;
};

// Per-vCPU load of the VM's workload (the paper's cycle), at t seconds.
double vm_vcpu_load(double t, double period) {
  static const double kProfile[] = {0.20, 0.95, 0.60, 0.03};
  return kProfile[static_cast<int>(t / period) % 4];
}

std::vector<Level> staircase(int step, double level_s) {
  std::vector<Level> out;
  const int levels = kThreads * 100 / step;
  for (int k = 0; k <= levels; ++k)
    out.push_back(
        {k * level_s, (k + 1) * level_s, k * step / 100.0, k * step / double(kThreads), k});
  return out;
}

struct Window {
  std::int64_t ts;
  std::map<std::string, double> v;
};

struct Recorded {
  std::vector<Window> windows;  // 2 s windows, for the original CSV
};

Result<Recorded> write_phase(const fs::path& dir, const Phase& ph, const FixtureOptions& o,
                             std::mt19937_64& rng) {
  std::normal_distribution<double> jitter(0.0, 0.02);
  std::normal_distribution<double> pnoise(0.0, 1.5);
  const double dt = 1.0 / o.rate_hz;
  const auto n = static_cast<std::int64_t>(ph.duration_s * o.rate_hz) + 1;
  std::vector<std::string> columns = {"t_ns", "simulated", "package-0_energy_uj",
                                      "dram-0_energy_uj", "package-global_energy_uj"};
  if (ph.vm) {
    columns.emplace_back("cpu_ns:vm");
    for (int i = 0; i < kVcpus; ++i) columns.push_back(fmt::format("cpu_ns:vm/vcpu{}", i));
    columns.emplace_back("cpu_ns:vm/emulator");
  }
  columns.emplace_back("cpu_ns:noise");
  for (int c = 0; c < kThreads; ++c) columns.push_back(fmt::format("busy_ns:cpu{}", c));

  // Written by the sampler's own trace writer, one stream/member per ~1 MiB of rows.
  const fs::path trace = dir / fmt::format("trace-{}{}", ph.name, o.trace_suffix);
  auto writer = sampler::TraceWriter::open(trace, columns);
  if (!writer) return std::unexpected(writer.error());
  std::vector<std::uint64_t> values;
  std::uint64_t e_pkg = 0, e_dram = 0, vm_ns = 0, emu_ns = 0, noise_ns = 0;
  std::vector<std::uint64_t> vcpu_ns(kVcpus, 0), busy(kThreads, 0);
  std::int64_t prev_t = 0;
  Recorded rec;
  double win_e_pkg = 0, win_e_dram = 0, win_busy = 0, win_vm = 0;
  std::vector<double> win_vcpu(kVcpus, 0);
  double win_start = 0, win_target = 0;
  std::uniform_real_distribution<double> late(0.0, 0.08);
  for (std::int64_t i = 0; i < n; ++i) {
    // Sample times on a 1/rate grid plus small lateness.
    const auto t_ns = static_cast<std::int64_t>((i * dt + (i ? late(rng) * dt : 0)) * 1e9);
    const double t = t_ns * 1e-9;
    const double step_s = (t_ns - prev_t) * 1e-9;
    double noise = 0, target = 0;
    for (const auto& l : ph.levels)
      if (t >= l.start_s && t < l.end_s) {
        noise = l.noise_cpus;
        target = l.target_pct;
      }
    double vcpu_load = ph.vm ? vm_vcpu_load(t, o.vm_period_s) : 0;
    const double emu = ph.vm ? 0.02 : 0;
    const double vm = kVcpus * vcpu_load + emu;
    const double host_busy = std::min<double>(kThreads, noise + vm + 0.05);
    const double u = host_busy / kThreads;
    const double p_pkg = std::max(1.0, package_w(u) + pnoise(rng));
    const double p_dram = std::max(0.5, dram_w(u) + 0.1 * pnoise(rng));
    if (i > 0) {
      e_pkg += static_cast<std::uint64_t>(p_pkg * step_s * 1e6);
      e_dram += static_cast<std::uint64_t>(p_dram * step_s * 1e6);
      const auto ns = [&](double cpus) {
        return static_cast<std::uint64_t>(std::max(0.0, cpus * (1 + jitter(rng))) * step_s * 1e9);
      };
      std::uint64_t v_total = 0;
      for (int k = 0; k < kVcpus && ph.vm; ++k) {
        const auto d = ns(vcpu_load);
        vcpu_ns[k] += d;
        v_total += d;
        win_vcpu[k] += d * 1e-9;
      }
      const auto de = ns(emu);
      emu_ns += de;
      vm_ns += v_total + de;
      noise_ns += ns(noise);
      for (int c = 0; c < kThreads; ++c)
        busy[c] += static_cast<std::uint64_t>(std::min(1.0, host_busy / kThreads) * step_s * 1e9);
      win_e_pkg += p_pkg * step_s;
      win_e_dram += p_dram * step_s;
      win_busy += host_busy * step_s;
      win_vm += (v_total + de) * 1e-9;
      win_target = target;
    }
    values = {e_pkg, e_dram, e_pkg};
    if (ph.vm) {
      values.push_back(vm_ns);
      values.insert(values.end(), vcpu_ns.begin(), vcpu_ns.end());
      values.push_back(emu_ns);
    }
    values.push_back(noise_ns);
    values.insert(values.end(), busy.begin(), busy.end());
    writer->add_row(t_ns, true, values);
    if (writer->buffered_bytes() > (1u << 20))
      if (auto r = writer->flush(); !r) return std::unexpected(r.error());
    prev_t = t_ns;
    // Close a 2 s window.
    if (t - win_start >= 2.0 - 1e-9) {
      const double len = t - win_start;
      Window w;
      w.ts = std::llround(t);
      if (!rec.windows.empty() || true) {
        w.v["package-0-joule"] = win_e_pkg;
        w.v["package-0-watt"] = win_e_pkg / len;
        w.v["dram-0-joule"] = win_e_dram;
        w.v["dram-0-watt"] = win_e_dram / len;
        w.v["package-global-joule"] = win_e_pkg;
        w.v["package-global-watt"] = win_e_pkg / len;
      }
      w.v["cpu%_package-global"] = win_busy / len / kThreads * 100;
      w.v["cpu%_package-0"] = win_busy / len / kThreads * 100;
      w.v["freq_package-0"] = 2100000.0;
      if (!ph.levels.empty()) w.v["target"] = win_target;
      if (ph.vm) {
        w.v["vm"] = win_vm / len * 100;
        for (int k = 0; k < kVcpus; ++k) w.v[fmt::format("CPU{}", k)] = win_vcpu[k] / len * 100;
      }
      rec.windows.push_back(std::move(w));
      win_e_pkg = win_e_dram = win_busy = win_vm = 0;
      std::fill(win_vcpu.begin(), win_vcpu.end(), 0.0);
      win_start = t;
    }
  }
  if (auto r = writer->close(); !r) return std::unexpected(r.error());
  // Taken before a truncation: a trace cut after its sidecar was written.
  const auto figures = writer->closed_figures();
  if (o.truncate_cloudlike && ph.name == "cloudlike")   // cut inside the last stream/member,
    fs::resize_file(trace, fs::file_size(trace) - 40);  // as a killed writer would

  nlohmann::json series = nlohmann::json::array();
  if (ph.vm) {
    series.push_back("vm");
    for (int k = 0; k < kVcpus; ++k) series.push_back(fmt::format("vm/vcpu{}", k));
    series.push_back("vm/emulator");
  }
  series.push_back("noise");
  nlohmann::json meta = {{"source", "sim"},
                         {"simulated", true},
                         {"sim_host", "fixture SPECpower curve"},
                         {"rate_hz", o.rate_hz},
                         {"t0_monotonic_ns", 1000000000},
                         {"t0_realtime_ns", 1790000000000000000},
                         {"domains",
                          {{{"name", "package-0"}, {"max_energy_range_uj", 262143328850}},
                           {{"name", "dram-0"}, {"max_energy_range_uj", 65712999613}}}},
                         {"series", series},
                         {"cpu", {{"backend", "fixture"}}},
                         {"summary",
                          {{"samples", n},
                           {"dropped", 0},
                           {"read_errors", 0},
                           {"lateness_us", {{"p50", 12.0}, {"p99", 80.0}, {"max", 310.0}}},
                           {"interrupted", false}}},
                         {"trace", figures ? *figures : nlohmann::json(nullptr)}};
  std::ofstream(trace.string() + ".meta.json") << meta.dump(2);

  std::ofstream ev(dir / fmt::format("events-{}.csv", ph.name));
  ev << "t_ns,kind,level,target_pct,workers\n";
  ev << "0,phase_start,,,\n";
  for (std::size_t k = 0; k < ph.levels.size(); ++k)
    ev << fmt::format("{},level,{},{},{}\n", static_cast<std::int64_t>(ph.levels[k].start_s * 1e9),
                      k, ph.levels[k].target_pct, ph.levels[k].workers);
  ev << fmt::format("{},phase_end,,,\n", static_cast<std::int64_t>(ph.duration_s * 1e9));
  return rec;
}

void write_original_csv(const fs::path& dir, const std::string& phase, const Recorded& r) {
  std::ofstream out(dir / fmt::format("{}-{}.csv", kHost, phase));
  out << "timestamp,domain,measure\n";
  for (std::size_t i = 0; i < r.windows.size(); ++i) {
    const auto& w = r.windows[i];
    out << fmt::format("{},phase,{}\n", w.ts, phase);
    for (const auto& [k, v] : w.v) {
      if (i == 0 && (k.ends_with("-joule") || k.ends_with("-watt"))) continue;  // first window
      out << fmt::format("{},{},{:.2f}\n", w.ts, k, v);
    }
  }
}

}  // namespace

std::string write_fixture(const fs::path& dir, const FixtureOptions& o) {
  fs::create_directories(dir);
  std::mt19937_64 rng(42);
  const double vm_s = 4 * o.vm_period_s * o.vm_cycles;
  std::vector<Phase> phases;
  for (int step : o.steps) {
    auto lv = staircase(step, o.level_s);
    phases.push_back({fmt::format("training-{}", step), lv.back().end_s, lv, false});
  }
  phases.push_back({"groundtruth", vm_s, {}, true});
  {
    auto lv = staircase(25, vm_s / (kThreads * 4 + 1));
    phases.push_back({"cloudlike", vm_s, lv, true});
  }
  const fs::path scratch = dir / ".fixture-scratch";
  if (!o.traces) fs::create_directories(scratch);
  for (const auto& ph : phases) {
    FixtureOptions po = o;
    if (!o.traces) po.truncate_cloudlike = false;
    auto r = write_phase(o.traces ? dir : scratch, ph, po, rng);
    if (!r) return r.error().what();
    write_original_csv(dir, ph.name, *r);
  }
  if (!o.traces) fs::remove_all(scratch);

  // The keys the orchestrator writes (orchestrator/src/manifest.cpp), a subset.
  nlohmann::json manifest = {
      {"host",
       {{"name", kHost}, {"threads", kThreads}, {"sockets", 1}, {"cpu_model", "Fixture CPU"}}},
      {"simulated", true},
      {"rapl", {{"source", "sim"}, {"simulated", true}}},
      {"vm", {{"name", "fixture-vm"}, {"vcpus", kVcpus}, {"how", "fixture"}}},
      {"settings", {{"rate_hz", o.rate_hz}, {"window_s", 2}, {"steps", o.steps}}},
      {"start_utc", "2026-11-24T03:00:00Z"},
      {"end_utc", "2026-11-24T03:30:00Z"},
      {"status", "completed"},
      {"interrupted", false}};
  std::ofstream(dir / "manifest.json") << manifest.dump(2);
  if (!o.analysis) return {};
  // analyze() is given the original-format CSVs alone: it currently takes
  // events-<phase>.csv for another host's files (reported to the model area).
  const fs::path csvs = dir / ".fixture-csvs";
  fs::create_directories(csvs);
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().starts_with(kHost))
      fs::copy_file(e.path(), csvs / e.path().filename());
  for (auto method : {model::Method::cinergy, model::Method::paper}) {
    model::AnalyzeOptions a;
    a.data_dir = csvs;
    a.out_dir = dir;
    a.host_threads = kThreads;
    a.vm_vcpus = kVcpus;
    a.method = method;
    auto r = model::analyze(a);
    if (!r) return "fixture: model analyze failed: " + r.error().what();
  }
  fs::remove_all(csvs);
  return {};
}

}  // namespace cinergy::test
