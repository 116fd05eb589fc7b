// A bounded log-linear histogram of non-negative integers (lateness in ns,
// CPU % in hundredths): fixed memory, no allocation after construction, O(1)
// record, percentiles to within 1/32 (~3 %) of the value. One per thread that
// records (the sampling thread: lateness; the writer thread: subject CPU %),
// read once that thread has stopped.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace cinergy::sampler {

class LogHistogram {
 public:
  static constexpr unsigned kSubBits = 5;  // 32 linear sub-buckets per power of two
  static constexpr unsigned kSub = 1u << kSubBits;
  static constexpr unsigned kBuckets = kSub * (64 - kSubBits + 1);

  static constexpr unsigned index_of(std::uint64_t v) {
    if (v < kSub) return static_cast<unsigned>(v);
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
    const unsigned shift = msb - kSubBits;
    return (shift + 1) * kSub + static_cast<unsigned>((v >> shift) - kSub);
  }
  // Lowest value that falls into bucket i.
  static constexpr std::uint64_t lower_of(unsigned i) {
    if (i < kSub) return i;
    const unsigned shift = i / kSub - 1;
    return (std::uint64_t{kSub} + (i % kSub)) << shift;
  }

  void record(std::uint64_t v) {
    ++counts_[index_of(v)];
    ++total_;
    if (v > max_) max_ = v;
  }
  [[nodiscard]] std::uint64_t count() const { return total_; }
  [[nodiscard]] std::uint64_t max() const { return max_; }
  // Value at quantile q in [0, 1]: the midpoint of the bucket holding it
  // (exact below 32), never above max(). 0 when empty.
  [[nodiscard]] double quantile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1));
    std::uint64_t seen = 0;
    for (unsigned i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) {
        const double lo = static_cast<double>(lower_of(i));
        const double hi = i + 1 < kBuckets ? static_cast<double>(lower_of(i + 1)) : lo;
        const double mid = i < kSub ? lo : (lo + hi - 1) / 2;
        return mid > static_cast<double>(max_) ? static_cast<double>(max_) : mid;
      }
    }
    return static_cast<double>(max_);
  }

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0, max_ = 0;
};

}  // namespace cinergy::sampler
