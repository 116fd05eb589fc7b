// Google Benchmark: per-read cost of each source available here, the loop's
// own cost per sample (fake source, no sleeping), and trace formatting +
// compression per row. Numbers on a shared machine are measurements, not
// assertions: see docs/sampler.md for how they were taken.
#include <benchmark/benchmark.h>

#include <random>

#include "cinergy/sampler/energy_source.hpp"
#include "cinergy/sampler/histogram.hpp"
#include "cinergy/sampler/sampler.hpp"
#include "cinergy/sampler/trace_writer.hpp"
#include "temp_dir.hpp"

using namespace cinergy::sampler;

static void BM_SimRead(benchmark::State& state) {
  auto curve = find_spec_curve("");
  auto util = open_proc_stat_utilisation();
  SimOptions o;
  o.curve = *curve;
  auto s = open_sim(o, std::move(*util));
  std::vector<std::uint64_t> e(2);
  for (auto _ : state) {
    (*s)->read(e);
    benchmark::DoNotOptimize(e.data());
  }
}
BENCHMARK(BM_SimRead);

// powercap on a fake tree in tmpfs/disk: a LOWER BOUND (a real energy_uj read
// does an rdmsr, possibly an IPI to the package's CPU).
static void BM_PowercapFakeTreeRead(benchmark::State& state) {
  cinergy::test::TempDir t;
  for (int p = 0; p < 2; ++p) {
    for (const auto& [id, name] : {std::pair{std::to_string(p), "package-" + std::to_string(p)},
                                   std::pair{std::to_string(p) + ":0", std::string("dram")}}) {
      t.write("intel-rapl:" + id + "/name", name + "\n");
      t.write("intel-rapl:" + id + "/energy_uj", "123456789\n");
      t.write("intel-rapl:" + id + "/max_energy_range_uj", "262143328850\n");
    }
  }
  auto s = open_powercap(t.path());
  std::vector<std::uint64_t> e((*s)->domains().size());
  for (auto _ : state) {
    (*s)->read(e);
    benchmark::DoNotOptimize(e.data());
  }
  state.counters["domains"] = static_cast<double>((*s)->domains().size() - 1);
}
BENCHMARK(BM_PowercapFakeTreeRead);

static void BM_ClockGettimeMonotonic(benchmark::State& state) {
  for (auto _ : state) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    benchmark::DoNotOptimize(ts);
  }
}
BENCHMARK(BM_ClockGettimeMonotonic);

static void BM_LatenessHistogramRecord(benchmark::State& state) {
  LogHistogram h;
  std::uint64_t v = 12345;
  for (auto _ : state) {
    h.record(v);
    v = (v * 6364136223846793005ull + 1442695040888963407ull) >> 44;
  }
  benchmark::DoNotOptimize(h.count());
}
BENCHMARK(BM_LatenessHistogramRecord);

// Writer cost per row: formatting + gzip (level 6), 8 realistic series.
static void BM_TraceRow8Series(benchmark::State& state) {
  cinergy::test::TempDir t;
  std::vector<std::string> cols = {"t_ns", "simulated"};
  for (int i = 0; i < 8; ++i) cols.push_back(std::string("s").append(std::to_string(i)));
  auto w = TraceWriter::open(t.path() / "b.csv.gz", cols);
  std::mt19937_64 rng(1);
  std::vector<std::uint64_t> v(8, 0);
  std::int64_t t_ns = 0;
  std::size_t n = 0;
  for (auto _ : state) {
    t_ns += 1'000'000 + static_cast<std::int64_t>(rng() % 60'000);
    for (std::size_t i = 0; i < 8; ++i) v[i] += 30'000 + rng() % 40'000;
    w->add_row(t_ns, false, v);
    if (++n % 1000 == 0) (void)w->flush();
  }
  (void)w->flush();
  state.counters["bytes_per_row"] =
      static_cast<double>(w->bytes_written()) / static_cast<double>(n);
}
BENCHMARK(BM_TraceRow8Series);

// The whole loop + writer per sample: a fake source (no I/O) sampled for 1 s at
// `rate` with a gzip trace; reports the sampler threads' CPU per sample and the
// lateness. Includes the clock_nanosleep wake-up, which dominates.
namespace {
class CountingSource final : public EnergySource {
 public:
  std::string_view kind() const override { return "counting"; }
  const std::vector<DomainInfo>& domains() const override { return info_; }
  std::size_t read(std::span<std::uint64_t> e) noexcept override {
    ++n_;
    e[0] = n_ * 61035;
    e[1] = e[0];
    return 0;
  }

 private:
  std::uint64_t n_ = 0;
  std::vector<DomainInfo> info_ = {{"package-0", 0, 0}, {"package-global", -1, 0}};
};
}  // namespace

static void BM_SamplerLoop(benchmark::State& state) {
  cinergy::test::TempDir t;
  for (auto _ : state) {
    SamplerConfig cfg;
    cfg.rate_hz = static_cast<double>(state.range(0));
    cfg.trace_path = t.path() / "loop.csv.gz";
    auto s = Sampler::create(std::make_unique<CountingSource>(), nullptr, cfg);
    (void)(*s)->start();
    timespec one_s{1, 0};
    nanosleep(&one_s, nullptr);
    auto sum = (*s)->stop();
    state.counters["cpu_us_per_sample"] =
        sum.cpu_pct / 100.0 * sum.duration_s * 1e6 / static_cast<double>(sum.samples);
    state.counters["cpu_pct"] = sum.cpu_pct;
    state.counters["lateness_p50_us"] = sum.lateness.p50_us;
    state.counters["lateness_p99_us"] = sum.lateness.p99_us;
    state.counters["missed"] = static_cast<double>(sum.missed_deadlines);
    state.counters["dropped"] = static_cast<double>(sum.dropped);
  }
}
BENCHMARK(BM_SamplerLoop)->Arg(1000)->Arg(10000)->Iterations(1)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
