// Performance of the model on one hour of 1 kHz data (3.6 million samples):
// fit + estimate + evaluate from tables in memory (the form a cinergy run's
// trace-derived windows arrive in), and the long-CSV parser's throughput.
//
//   build/tests/model/model_bench --benchmark_filter=FitEvaluate
#include <cmath>
#include <random>

#include <benchmark/benchmark.h>

#include "cinergy/model/dataset.hpp"
#include "cinergy/model/estimate.hpp"
#include "cinergy/model/host_model.hpp"

namespace {

using namespace cinergy::model;

constexpr int kThreads = 32;
constexpr std::size_t kTrainingPerStep = 600'000;  // x3 steps
constexpr std::size_t kGroundTruth = 600'000;
constexpr std::size_t kCloudLike = 1'200'000;      // total 3.6 M samples

double host_power(double activity) { return 60 + 140 * std::pow(activity, 0.8); }

Table make_table(const std::string& name, std::vector<std::string> names, std::size_t rows) {
  Table t;
  t.source = name;
  t.names = std::move(names);
  t.timestamp_s.resize(rows);
  for (std::size_t i = 0; i < rows; ++i) t.timestamp_s[i] = static_cast<double>(i) * 1e-3;
  t.columns.assign(t.names.size(), std::vector<double>(rows));
  return t;
}

const DataSet& hour_at_1khz() {
  static const DataSet data = [] {
    std::mt19937_64 rng(42);
    std::normal_distribution<double> noise(0.0, 1.0);
    DataSet d;
    d.dir = "/bench";
    d.prefix = "bench";
    for (int step : {25, 50, 100}) {
      auto t = make_table("bench-training-" + std::to_string(step) + ".csv",
                          {"target", "cpu%_package-global", "package-global-watt"}, kTrainingPerStep);
      const std::size_t levels = kThreads * 100 / static_cast<std::size_t>(step) + 1;
      for (std::size_t i = 0; i < kTrainingPerStep; ++i) {
        const double k = static_cast<double>(i * levels / kTrainingPerStep);
        const double x = k * step / kThreads;
        const double act = k / kThreads * std::pow(step / 100.0, 0.7);
        t.columns[0][i] = x;
        t.columns[1][i] = x + 0.05 * noise(rng);
        t.columns[2][i] = host_power(act) + 2.0 * noise(rng);
      }
      d.training.emplace(step, std::move(t));
    }
    auto vm_table = [&](const std::string& name, std::size_t rows, bool noisy) {
      auto t = make_table(name,
                          {"vm", "CPU0", "CPU1", "CPU2", "CPU3", "cpu%_package-global",
                           "package-global-watt"},
                          rows);
      const double phase_load[] = {20, 95, 60, 3};
      for (std::size_t i = 0; i < rows; ++i) {
        const double l = phase_load[(i / 30'000) % 4];
        double sum = 0, act = 0;
        for (int c = 1; c <= 4; ++c) {
          const double u = std::max(0.0, l + 2 * noise(rng));
          t.columns[static_cast<std::size_t>(c)][i] = u;
          sum += u;
          act += std::pow(u / 100, 0.7) / kThreads;
        }
        const double extra = noisy ? 25.0 * static_cast<double>((i / 1000) % kThreads) / kThreads : 0;
        t.columns[0][i] = sum + 1.0;
        t.columns[5][i] = sum / kThreads + extra;
        t.columns[6][i] = host_power(act + extra / 100 * 0.4) + 2.0 * noise(rng);
      }
      return t;
    };
    d.groundtruth = vm_table("bench-groundtruth.csv", kGroundTruth, false);
    d.cloudlike = vm_table("bench-cloudlike.csv", kCloudLike, true);
    return d;
  }();
  return data;
}

void BM_FitEvaluateHourAt1kHz(benchmark::State& state) {
  const auto& data = hour_at_1khz();
  const Method method = state.range(0) == 0 ? Method::cinergy : Method::paper;
  for (auto _ : state) {
    auto model = fit_model(data, {method, kThreads, std::nullopt});
    if (!model) {
      state.SkipWithError(model.error().message.c_str());
      return;
    }
    auto rows = estimate(*model, *data.cloudlike);
    auto eval = evaluate(*model, *rows, *data.groundtruth);
    benchmark::DoNotOptimize(eval);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(3 * kTrainingPerStep + kGroundTruth + kCloudLike));
  state.SetLabel(method == Method::cinergy ? "cinergy" : "paper");
}
BENCHMARK(BM_FitEvaluateHourAt1kHz)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_ParseLongCsv(benchmark::State& state) {
  // 100 k windows of a cloud-like file: 11 rows per window (~1.1 M lines).
  static const std::string text = [] {
    std::string s = "timestamp,domain,measure\n";
    char buf[96];
    for (int w = 0; w < 100'000; ++w) {
      const double ts = w * 0.001;
      for (const char* d : {"phase", "target", "package-0-watt", "package-global-watt",
                            "cpu%_package-global", "freq_package-0", "vm", "CPU0", "CPU1", "CPU2",
                            "CPU3"}) {
        const int n = d[0] == 'p' && d[1] == 'h'
                          ? std::snprintf(buf, sizeof buf, "%.3f,%s,cloudlike\n", ts, d)
                          : std::snprintf(buf, sizeof buf, "%.3f,%s,%.2f\n", ts, d, 12.34 + w % 97);
        s.append(buf, static_cast<std::size_t>(n));
      }
    }
    return s;
  }();
  for (auto _ : state) {
    auto t = parse_long_csv(text, "bench.csv");
    benchmark::DoNotOptimize(t);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(text.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 1'100'000);  // lines
}
BENCHMARK(BM_ParseLongCsv)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
