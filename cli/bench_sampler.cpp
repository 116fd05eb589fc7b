// `cinergy bench sampler trace-size`: writes an hour-long synthetic but
// realistic 1 kHz trace (a 2-socket powercap host: 8 energy series) through the
// real TraceWriter and reports its size and the writer's CPU time, to check the
// "one hour at 1 kHz with 8 series <= 100 MB" target.
#include <fmt/format.h>
#include <time.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "cinergy/sampler/trace_writer.hpp"
#include "commands.hpp"

namespace cinergy::cli {
namespace {

struct TraceSizeOptions {
  std::uint64_t rows = 3'600'000;
  double rate_hz = 1000;
  int level = 6;
  std::string out = "/tmp/cinergy-bench-trace.csv.gz";
  bool keep = false;
};

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int trace_size(const TraceSizeOptions& o) {
  if (!(o.rate_hz > 0) || o.rate_hz > 100000) return report_error("--rate must be in (0, 100000]");
  if (o.level < 1 || o.level > 9) return report_error("--level must be in 1..9");
  // A 2-socket host as powercap shows it: package, core and dram per socket,
  // psys and package-global. Power follows a slow random walk per domain; the
  // hardware counter moves in 61.035 uJ units about every 1 ms (with jitter);
  // samples are taken at 1/rate with a lateness of ~tens of us.
  const std::vector<std::string> names = {"package-0", "core-0", "dram-0", "package-1",
                                          "core-1",    "dram-1", "psys"};
  std::vector<std::string> cols = {"t_ns", "simulated"};
  for (const auto& n : names) cols.push_back(n + "_energy_uj");
  cols.push_back("package-global_energy_uj");
  auto w = sampler::TraceWriter::open(o.out, cols, o.level);
  if (!w) return report_error(w.error().what());

  std::mt19937_64 rng(42);
  std::normal_distribution<double> step(0, 0.02);
  std::exponential_distribution<double> late(1.0 / 40e3);  // ns
  std::vector<double> watts = {80, 45, 12, 75, 42, 11, 200}, base = watts;
  const double unit_uj = 1e6 / 16384.0;
  std::vector<double> hw_units(watts.size(), 0);  // hardware counter, in units
  std::vector<std::uint64_t> values(names.size() + 1, 0);
  double next_update_ns = 1e6, period = 1e9 / o.rate_hz;
  const double cpu0 = thread_cpu_s();
  for (std::uint64_t k = 0; k < o.rows; ++k) {
    const double t = static_cast<double>(k) * period + late(rng);
    while (next_update_ns <= t) {  // RAPL updates: ~1 ms apart, +-2 us
      for (std::size_t d = 0; d < watts.size(); ++d) {
        watts[d] = std::clamp(watts[d] * (1 + step(rng)), base[d] * 0.3, base[d] * 2.5);
        hw_units[d] += std::floor(watts[d] * 1000.0 / unit_uj);  // 1 W x 1 ms = 1000 uJ
      }
      next_update_ns += 1e6 + std::uniform_real_distribution<double>(-2e3, 2e3)(rng);
    }
    std::uint64_t global = 0;
    for (std::size_t d = 0; d < watts.size(); ++d) {
      values[d] = static_cast<std::uint64_t>(hw_units[d] * unit_uj);
      if (names[d].rfind("package-", 0) == 0) global += values[d];
    }
    values.back() = global;
    w->add_row(static_cast<std::int64_t>(t), false, values);
    if ((k + 1) % static_cast<std::uint64_t>(o.rate_hz) ==
        0) {  // one member per second, as the sampler
      if (auto r = w->flush(); !r) return report_error(r.error().what());
    }
  }
  if (auto r = w->close(); !r) return report_error(r.error().what());
  const double cpu_s = thread_cpu_s() - cpu0;
  const double bytes = static_cast<double>(w->bytes_written());
  const double hour_rows = 3600.0 * o.rate_hz;
  nlohmann::json j = {
      {"rows", o.rows},
      {"series", names.size() + 1},
      {"level", o.level},
      {"bytes", w->bytes_written()},
      {"bytes_per_row", bytes / static_cast<double>(o.rows)},
      {"mb_per_hour_at_rate", bytes / static_cast<double>(o.rows) * hour_rows / 1e6},
      {"writer_cpu_s", cpu_s},
      {"writer_cpu_us_per_row", cpu_s * 1e6 / static_cast<double>(o.rows)},
      {"out", o.out}};
  std::printf("%s\n", j.dump().c_str());
  if (!o.keep) std::remove(o.out.c_str());
  return 0;
}

}  // namespace

void register_bench_sampler(CLI::App& bench, int& exit_code) {
  auto* smp = bench.add_subcommand("sampler", "Sampler measurements");
  smp->require_subcommand(1);
  auto o = std::make_shared<TraceSizeOptions>();
  auto* ts =
      smp->add_subcommand("trace-size", "Size and writer CPU of a synthetic 1 kHz, 8-series trace");
  ts->add_option("--rows", o->rows, "Rows to write (default 3600000 = 1 h at 1 kHz)");
  ts->add_option("--rate", o->rate_hz, "Sample rate the rows stand for (default 1000)");
  ts->add_option("--level", o->level, "gzip level 1..9 (the sampler uses 6)");
  ts->add_option("--out", o->out, "Where to write it");
  ts->add_flag("--keep", o->keep, "Keep the file (for pandas.read_csv checks)");
  ts->callback([o, &exit_code] { exit_code = trace_size(*o); });
}

}  // namespace cinergy::cli
