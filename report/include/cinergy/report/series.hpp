// Pure arithmetic behind the report's time series: rates from cumulative
// counters and the min/max envelope used to downsample high-rate traces.
// Kept apart from the HTML writer so it can be table-tested.
//
// Invariants:
//  * times are ns since the trace's t0 (int64), non-decreasing;
//  * a rate is NaN where it cannot be derived (first sample, time not
//    advancing, counter going down): NaN is drawn as a gap, never as 0;
//  * downsampling keeps, for every series and every bucket, the bucket's
//    minimum and maximum sample (NaN ignored), in the order they occurred.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace cinergy::report {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Scale factors for derive_rate(): uJ per ns -> W, ns per ns -> % of one CPU.
inline constexpr double kWattsPerUjPerNs = 1e3;
inline constexpr double kPercentPerNsPerNs = 100.0;

// Rate over the interval ending at sample i: (c[i] - c[i-1]) / (t[i] - t[i-1]) * scale.
// Out[0] is NaN. Sizes must match (else returns an empty vector).
std::vector<double> derive_rate(std::span<const std::int64_t> t_ns,
                                std::span<const std::uint64_t> cumulative, double scale);

// One interval's rate, NaN when dt <= 0 or the counter went down.
double rate_between(std::int64_t t0_ns, std::uint64_t c0, std::int64_t t1_ns, std::uint64_t c1,
                    double scale);

// Time-based bucketing: [t_first, t_last] split into `buckets` equal-width
// buckets; returns the bucket of t (clamped to [0, buckets-1]).
std::size_t bucket_of(std::int64_t t_ns, std::int64_t t_first_ns, std::int64_t t_last_ns,
                      std::size_t buckets);

// Running min/max of one series within one bucket, remembering where each
// extreme occurred so the two can be emitted in time order.
class MinMax {
 public:
  void add(std::size_t index, double value);
  [[nodiscard]] bool empty() const { return count_ == 0; }
  [[nodiscard]] std::size_t count() const { return count_; }  // non-NaN values seen
  // The extremes in order of occurrence. With one distinct position (a single
  // value, or min and max at the same sample) first == second.
  [[nodiscard]] double first() const;
  [[nodiscard]] double second() const;
  [[nodiscard]] double min() const { return min_; }
  [[nodiscard]] double max() const { return max_; }
  void reset() { *this = MinMax{}; }

 private:
  double min_ = kNaN, max_ = kNaN;
  std::size_t min_index_ = 0, max_index_ = 0, count_ = 0;
};

// A downsampled block: x positions (ns) and, per series, one value per x.
// Buckets holding one sample give one point (at that sample's time); buckets
// holding more give two points, at the bucket's first and last sample times,
// carrying the earlier and the later of the bucket's extremes. Empty buckets
// give nothing.
struct Envelope {
  std::vector<std::int64_t> x_ns;
  std::vector<std::vector<double>> y;  // [series][point]
};

// In-memory min/max downsampling of aligned series (all of t_ns.size()) to at
// most `max_buckets` time buckets (<= 2 * max_buckets points). When there are
// no more samples than buckets, the samples are returned unchanged.
Envelope downsample_minmax(std::span<const std::int64_t> t_ns,
                           std::span<const std::vector<double>> series, std::size_t max_buckets);

// The streaming form of downsample_minmax, for traces too long to hold in
// memory: rows are fed in time order; finish() flushes the last bucket.
class EnvelopeBuilder {
 public:
  // raw = true keeps every row (a full-resolution level).
  EnvelopeBuilder(std::size_t series, std::int64_t t_first_ns, std::int64_t t_last_ns,
                  std::size_t buckets, bool raw);
  void add(std::int64_t t_ns, std::span<const double> values);
  Envelope finish();
  [[nodiscard]] std::size_t buckets() const { return buckets_; }
  [[nodiscard]] bool raw() const { return raw_; }

 private:
  void flush();
  std::size_t series_;
  std::int64_t t_first_ns_, t_last_ns_;
  std::size_t buckets_;
  bool raw_;
  bool open_ = false;
  std::size_t current_ = 0, rows_in_bucket_ = 0, row_index_ = 0;
  std::int64_t bucket_first_t_ = 0, bucket_last_t_ = 0;
  std::vector<MinMax> acc_;
  Envelope out_;
};

}  // namespace cinergy::report
