#include "cinergy/report/series.hpp"

#include <cmath>

namespace cinergy::report {

double rate_between(std::int64_t t0_ns, std::uint64_t c0, std::int64_t t1_ns, std::uint64_t c1,
                    double scale) {
  if (t1_ns <= t0_ns || c1 < c0) return kNaN;
  return static_cast<double>(c1 - c0) / static_cast<double>(t1_ns - t0_ns) * scale;
}

std::vector<double> derive_rate(std::span<const std::int64_t> t_ns,
                                std::span<const std::uint64_t> cumulative, double scale) {
  if (t_ns.size() != cumulative.size()) return {};
  std::vector<double> out(t_ns.size(), kNaN);
  for (std::size_t i = 1; i < t_ns.size(); ++i)
    out[i] = rate_between(t_ns[i - 1], cumulative[i - 1], t_ns[i], cumulative[i], scale);
  return out;
}

std::size_t bucket_of(std::int64_t t_ns, std::int64_t t_first_ns, std::int64_t t_last_ns,
                      std::size_t buckets) {
  if (buckets <= 1 || t_ns <= t_first_ns || t_last_ns <= t_first_ns) return 0;
  // Width (t_last - t_first) / buckets, computed in long double to stay exact
  // enough for spans of days at ns resolution.
  const long double span = static_cast<long double>(t_last_ns - t_first_ns);
  const long double pos = static_cast<long double>(t_ns - t_first_ns) / span;
  auto b = static_cast<std::size_t>(pos * static_cast<long double>(buckets));
  return b >= buckets ? buckets - 1 : b;
}

void MinMax::add(std::size_t index, double value) {
  if (std::isnan(value)) return;
  if (count_ == 0 || value < min_) {
    min_ = value;
    min_index_ = index;
  }
  if (count_ == 0 || value > max_) {
    max_ = value;
    max_index_ = index;
  }
  ++count_;
}

double MinMax::first() const { return min_index_ <= max_index_ ? min_ : max_; }
double MinMax::second() const { return min_index_ <= max_index_ ? max_ : min_; }

EnvelopeBuilder::EnvelopeBuilder(std::size_t series, std::int64_t t_first_ns,
                                 std::int64_t t_last_ns, std::size_t buckets, bool raw)
    : series_(series),
      t_first_ns_(t_first_ns),
      t_last_ns_(t_last_ns),
      buckets_(buckets == 0 ? 1 : buckets),
      raw_(raw),
      acc_(series) {
  out_.y.resize(series);
}

void EnvelopeBuilder::add(std::int64_t t_ns, std::span<const double> values) {
  if (raw_) {
    out_.x_ns.push_back(t_ns);
    for (std::size_t s = 0; s < series_; ++s)
      out_.y[s].push_back(s < values.size() ? values[s] : kNaN);
    return;
  }
  const std::size_t b = bucket_of(t_ns, t_first_ns_, t_last_ns_, buckets_);
  if (open_ && b != current_) flush();
  if (!open_) {
    open_ = true;
    current_ = b;
    bucket_first_t_ = t_ns;
    rows_in_bucket_ = 0;
  }
  bucket_last_t_ = t_ns;
  for (std::size_t s = 0; s < series_; ++s)
    acc_[s].add(row_index_, s < values.size() ? values[s] : kNaN);
  ++rows_in_bucket_;
  ++row_index_;
}

void EnvelopeBuilder::flush() {
  if (!open_) return;
  const bool two = rows_in_bucket_ > 1;
  out_.x_ns.push_back(bucket_first_t_);
  if (two) out_.x_ns.push_back(bucket_last_t_);
  for (std::size_t s = 0; s < series_; ++s) {
    const MinMax& m = acc_[s];
    out_.y[s].push_back(m.empty() ? kNaN : m.first());
    if (two) out_.y[s].push_back(m.empty() ? kNaN : m.second());
    acc_[s].reset();
  }
  open_ = false;
}

Envelope EnvelopeBuilder::finish() {
  flush();
  return std::move(out_);
}

Envelope downsample_minmax(std::span<const std::int64_t> t_ns,
                           std::span<const std::vector<double>> series, std::size_t max_buckets) {
  const std::size_t n = t_ns.size();
  const bool raw = n <= max_buckets;
  EnvelopeBuilder builder(series.size(), n ? t_ns.front() : 0, n ? t_ns.back() : 0, max_buckets,
                          raw);
  std::vector<double> row(series.size());
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t s = 0; s < series.size(); ++s)
      row[s] = i < series[s].size() ? series[s][i] : kNaN;
    builder.add(t_ns[i], row);
  }
  return builder.finish();
}

}  // namespace cinergy::report
