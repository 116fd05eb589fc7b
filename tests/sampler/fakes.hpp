// Fakes for the sampler's unit tests: an energy source and a CPU accounting
// whose values are pure functions of how often they were read.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "cinergy/common/topology.hpp"
#include "cinergy/sampler/energy_source.hpp"

namespace cinergy::test {

// Domain d grows by (d + 1) * 1000 uJ per read; reads are counted.
class FakeSource final : public sampler::EnergySource {
 public:
  explicit FakeSource(std::size_t n = 2) {
    for (std::size_t i = 0; i + 1 < n; ++i)
      info_.push_back({"package-" + std::to_string(i), int(i), 0});
    info_.push_back({"package-global", -1, 0});
  }
  std::string_view kind() const override { return "fake"; }
  const std::vector<sampler::DomainInfo>& domains() const override { return info_; }
  std::size_t read(std::span<std::uint64_t> e) noexcept override {
    const auto r = reads.fetch_add(1);
    for (std::size_t d = 0; d < e.size(); ++d) e[d] = r * (d + 1) * 1000;
    return fail_every && r % fail_every == 0 ? 1 : 0;
  }
  std::atomic<std::uint64_t> reads{0};
  std::uint64_t fail_every = 0;

 private:
  std::vector<sampler::DomainInfo> info_;
};

// Subjects "vm" (total + vcpu0) and "noise"; 2 CPUs. Per read: vm +500000 ns,
// vm/vcpu0 +400000, noise +250000, cpu0 +600000, cpu1 +300000.
class FakeAccounting final : public bpf::CpuAccounting {
 public:
  FakeAccounting() { series_ = {{"vm", 0, true}, {"vm/vcpu0", 0, false}, {"noise", 1, true}}; }
  std::string_view backend() const override { return "fake"; }
  std::string_view fallback_reason() const override { return ""; }
  Result<std::size_t> add_subject(const bpf::SubjectSpec&) override { return fail("fixed fake"); }
  Result<void> remove_subject(std::size_t) override { return fail("fixed fake"); }
  const std::vector<bpf::SeriesInfo>& series() const override { return series_; }
  std::size_t cpu_count() const override { return 2; }
  std::int64_t resolution_ns() const override { return 0; }
  std::size_t read(std::span<std::uint64_t> s, std::span<std::uint64_t> b,
                   std::int64_t& at_ns) noexcept override {
    const auto r = ++reads;
    at_ns = clock_ns ? clock_ns() : monotonic_ns();
    s[0] = r * 500000;
    s[1] = r * 400000;
    if (noise_alive) s[2] = r * 250000;
    b[0] = r * 600000;
    b[1] = r * 300000;
    return 0;
  }
  bool subject_alive(std::size_t i) const override {
    // The writer polls this once per flush: a test can hold the writer here.
    if (const int ms = block_alive_ms.exchange(0); ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return i == 0 || noise_alive.load();
  }
  mutable std::atomic<int> block_alive_ms{0};
  std::atomic<bool> noise_alive{true};
  std::atomic<std::uint64_t> reads{0};
  std::int64_t (*clock_ns)() = nullptr;  // the instant read() reports; null: CLOCK_MONOTONIC

 private:
  std::vector<bpf::SeriesInfo> series_;
};

}  // namespace cinergy::test
