// Google Benchmark: per-read cost of each source available here, the loop's
// own cost per sample (fake source, no sleeping), and trace formatting +
// compression per row. Numbers on a shared machine are measurements, not
// assertions: see docs/sampler.md for how they were taken.
#include <benchmark/benchmark.h>

#include <random>

#include "cinergy/sampler/energy_source.hpp"
#include "cinergy/sampler/histogram.hpp"
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
  for (int i = 0; i < 8; ++i) cols.push_back("s" + std::to_string(i));
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
  state.counters["bytes_per_row"] = static_cast<double>(w->bytes_written()) / static_cast<double>(n);
}
BENCHMARK(BM_TraceRow8Series);

BENCHMARK_MAIN();
