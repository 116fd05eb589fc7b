// `cinergy bench sampler trace-size`: writes an hour-long synthetic but
// realistic 1 kHz trace (a 2-socket powercap host: 8 energy series) through the
// real TraceWriter, one flush per second of rows as the sampler's writer
// thread does, and reports its size and the writer's CPU time, to check the
// "one hour at 1 kHz with 8 series <= 100 MB" target. The file is then read
// back with cinergy::read_lines and compared value by value with the rows
// written (the trace must be lossless).
#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "cinergy/common/line_reader.hpp"
#include "cinergy/sampler/trace_writer.hpp"
#include "commands.hpp"

namespace cinergy::cli {
namespace {

struct TraceSizeOptions {
  std::uint64_t rows = 3'600'000;
  double rate_hz = 1000;
  int level = 6;
  std::string out = "/tmp/cinergy-bench-trace.csv.xz";
  bool keep = false;
};

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// A 2-socket host as powercap shows it: package, core and dram per socket,
// psys and package-global. Power follows a slow random walk per domain; the
// hardware counter moves in 61.035 uJ units about every 1 ms (with jitter);
// samples are taken at 1/rate with a lateness of ~tens of us. Deterministic
// (seeded), so the read-back check can generate the same rows again.
class SyntheticHost {
 public:
  static const std::vector<std::string>& domains() {
    static const std::vector<std::string> names = {"package-0", "core-0", "dram-0", "package-1",
                                                   "core-1",    "dram-1", "psys"};
    return names;
  }
  explicit SyntheticHost(double rate_hz) : period_ns_(1e9 / rate_hz) {}

  // Row k (called with k = 0, 1, 2, ...): its t_ns, and the cumulative uJ of
  // every domain then package-global in `values` (domains().size() + 1).
  std::int64_t row(std::uint64_t k, std::vector<std::uint64_t>& values) {
    const double t = static_cast<double>(k) * period_ns_ + late_(rng_);
    while (next_update_ns_ <= t) {  // RAPL updates: ~1 ms apart, +-2 us
      for (std::size_t d = 0; d < watts_.size(); ++d) {
        watts_[d] = std::clamp(watts_[d] * (1 + step_(rng_)), base_[d] * 0.3, base_[d] * 2.5);
        hw_units_[d] += std::floor(watts_[d] * 1000.0 / kUnitUj);  // 1 W x 1 ms = 1000 uJ
      }
      next_update_ns_ += 1e6 + jitter_(rng_);
    }
    std::uint64_t global = 0;
    for (std::size_t d = 0; d < watts_.size(); ++d) {
      values[d] = static_cast<std::uint64_t>(hw_units_[d] * kUnitUj);
      if (domains()[d].starts_with("package-")) global += values[d];
    }
    values.back() = global;
    return static_cast<std::int64_t>(t);
  }

 private:
  static constexpr double kUnitUj = 1e6 / 16384.0;
  double period_ns_;
  std::mt19937_64 rng_{42};
  std::normal_distribution<double> step_{0, 0.02};
  std::exponential_distribution<double> late_{1.0 / 40e3};  // ns
  std::uniform_real_distribution<double> jitter_{-2e3, 2e3};
  std::vector<double> watts_ = {80, 45, 12, 75, 42, 11, 200}, base_ = watts_;
  std::vector<double> hw_units_ = std::vector<double>(watts_.size(), 0);  // counter, in units
  double next_update_ns_ = 1e6;
};

// Reads the trace back and compares every value with the generator's; returns
// the number of data rows that matched, or an error saying where they differ.
Result<std::uint64_t> verify(const TraceSizeOptions& o, std::size_t columns) {
  SyntheticHost host(o.rate_hz);
  std::vector<std::uint64_t> want(SyntheticHost::domains().size() + 1);
  std::uint64_t k = 0;
  bool header = true;
  std::string mismatch;
  auto stats = read_lines(o.out, [&](std::string_view line) {
    if (header || !mismatch.empty()) {
      header = false;
      return;
    }
    const std::int64_t t = host.row(k, want);
    std::vector<std::uint64_t> got;
    std::size_t start = 0;
    while (start <= line.size()) {
      std::size_t end = line.find(',', start);
      if (end == std::string_view::npos) end = line.size();
      std::uint64_t v = 0;
      std::from_chars(line.data() + start, line.data() + end, v);
      got.push_back(v);
      start = end + 1;
    }
    bool same = got.size() == columns && got[0] == static_cast<std::uint64_t>(t) && got[1] == 0;
    for (std::size_t i = 0; same && i < want.size(); ++i) same = got[i + 2] == want[i];
    if (!same) mismatch = fmt::format("row {} differs: {}", k, line);
    ++k;
  });
  if (!stats) return std::unexpected(stats.error());
  if (stats->truncated) return fail(o.out + ": " + stats->problem);
  if (!mismatch.empty()) return fail(o.out + ": " + mismatch);
  if (k != o.rows) return fail(fmt::format("{}: {} rows read back, {} written", o.out, k, o.rows));
  return k;
}

int trace_size(const TraceSizeOptions& o) {
  if (!(o.rate_hz > 0) || o.rate_hz > 100000) return report_error("--rate must be in (0, 100000]");
  if (o.level < 1 || o.level > 9) return report_error("--level must be in 1..9");
  if (o.rows == 0) return report_error("--rows must be at least 1");
  const auto& names = SyntheticHost::domains();
  std::vector<std::string> cols = {"t_ns", "simulated"};
  for (const auto& n : names) cols.push_back(n + "_energy_uj");
  cols.push_back("package-global_energy_uj");
  auto w = sampler::TraceWriter::open(o.out, cols, o.level);
  if (!w) return report_error(w.error().what());

  // One second of rows is generated first, then handed to the writer and
  // flushed: the writer's CPU (formatting, compression, write) is timed alone.
  const auto per_flush = static_cast<std::uint64_t>(std::max(1.0, std::round(o.rate_hz)));
  SyntheticHost host(o.rate_hz);
  const std::size_t width = names.size() + 1;
  std::vector<std::uint64_t> block(per_flush * width), values(width);
  std::vector<std::int64_t> times(per_flush);
  double writer_cpu_s = 0, flush_cpu_max_s = 0;
  std::uint64_t flushes = 0;
  for (std::uint64_t k = 0; k < o.rows;) {
    const std::uint64_t n = std::min(per_flush, o.rows - k);
    for (std::uint64_t i = 0; i < n; ++i) {
      times[i] = host.row(k + i, values);
      std::copy(values.begin(), values.end(), block.begin() + static_cast<long>(i * width));
    }
    const double c0 = thread_cpu_s();
    for (std::uint64_t i = 0; i < n; ++i)
      w->add_row(times[i], false, std::span<const std::uint64_t>(block.data() + i * width, width));
    if (auto r = w->flush(); !r) return report_error(r.error().what());
    const double spent = thread_cpu_s() - c0;
    writer_cpu_s += spent;
    flush_cpu_max_s = std::max(flush_cpu_max_s, spent);
    ++flushes;
    k += n;
  }
  if (auto r = w->close(); !r) return report_error(r.error().what());
  const double bytes = static_cast<double>(w->bytes_written());
  const double rows = static_cast<double>(o.rows);
  const double hour_rows = 3600.0 * o.rate_hz;

  const double v0 = thread_cpu_s();
  auto verified = verify(o, cols.size());
  const double verify_cpu_s = thread_cpu_s() - v0;
  if (!o.keep) std::remove(o.out.c_str());
  if (!verified) return report_error("read-back check failed: " + verified.error().what());

  nlohmann::json j = {{"rows", o.rows},
                      {"series", names.size() + 1},
                      {"compression", compression_name(w->compression())},
                      {"flushes", flushes},
                      {"rows_per_flush", per_flush},
                      {"bytes", w->bytes_written()},
                      {"bytes_per_row", bytes / rows},
                      {"mb_per_hour_at_rate", bytes / rows * hour_rows / 1e6},
                      {"writer_cpu_s", writer_cpu_s},
                      {"writer_cpu_us_per_row", writer_cpu_s * 1e6 / rows},
                      {"writer_cpu_pct_at_rate", writer_cpu_s / rows * o.rate_hz * 100},
                      {"writer_cpu_s_per_hour_at_rate", writer_cpu_s / rows * hour_rows},
                      {"flush_cpu_max_ms", flush_cpu_max_s * 1e3},
                      {"verified_rows", *verified},
                      {"read_back_cpu_s", verify_cpu_s},
                      {"out", o.out}};
  if (w->compression() == Compression::gzip) j["level"] = o.level;
  std::printf("%s\n", j.dump().c_str());
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
  ts->add_option("--level", o->level,
                 "gzip level 1..9 (the sampler uses 6; xz has fixed settings)");
  ts->add_option("--out", o->out,
                 "Where to write it: .csv.xz (default), .csv.gz or .csv picks the format");
  ts->add_flag("--keep", o->keep, "Keep the file (for pandas.read_csv checks)");
  ts->callback([o, &exit_code] { exit_code = trace_size(*o); });
}

}  // namespace cinergy::cli
