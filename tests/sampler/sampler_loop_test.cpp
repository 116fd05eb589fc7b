// The sampling loop with fake sources: count-based checks, no wall-clock assertions.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cinergy/common/line_reader.hpp"
#include "cinergy/sampler/sampler.hpp"
#include "fakes.hpp"
#include "temp_dir.hpp"

using namespace cinergy;
using namespace cinergy::sampler;
using cinergy::test::TempDir;

namespace {

SamplerConfig config(double rate_hz, std::size_t queue = 1u << 14) {
  SamplerConfig c;
  c.rate_hz = rate_hz;
  c.queue_samples = queue;
  return c;
}

// The trace's text (xz or gzip), read completely: not cut short.
std::string read_text(const std::filesystem::path& p) {
  std::string out;
  auto s = read_lines(p, [&](std::string_view l) {
    out.append(l);
    out += '\n';
  });
  EXPECT_TRUE(s) << s.error().what();
  if (s) {
    EXPECT_FALSE(s->truncated) << s->problem;
  }
  return out;
}

std::vector<std::vector<std::string>> csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> r;
    std::istringstream ls(line);
    std::string f;
    while (std::getline(ls, f, ',')) r.push_back(f);
    rows.push_back(r);
  }
  return rows;
}

// Waits (generously: the machine is shared) until the writer has seen n samples.
void wait_samples(const Sampler& s, std::uint64_t n) {
  for (int i = 0; i < 6000; ++i) {
    auto l = s.latest();
    if (l && l->samples >= n) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "writer never saw " << n << " samples";
}

}  // namespace

TEST(SamplerLoop, EverySampleReachesTheTraceAndSummary) {
  TempDir t;
  auto src = std::make_unique<test::FakeSource>(3);
  auto* fake = src.get();
  SamplerConfig cfg;
  cfg.rate_hz = 2000;
  cfg.trace_path = t.path() / "trace.csv.xz";
  auto s = Sampler::create(std::move(src), nullptr, cfg);
  ASSERT_TRUE(s) << s.error().what();
  EXPECT_EQ((*s)->domain_names(),
            (std::vector<std::string>{"package-0", "package-1", "package-global"}));
  EXPECT_FALSE((*s)->latest());
  ASSERT_TRUE((*s)->start());
  EXPECT_TRUE(std::filesystem::exists(t.path() / "trace.csv.xz.meta.json"));
  {
    // What a killed run leaves: no final figures (nothing stale to trust).
    std::ifstream started(t.path() / "trace.csv.xz.meta.json");
    auto at_start = nlohmann::json::parse(started);
    ASSERT_TRUE(at_start.contains("trace"));
    EXPECT_TRUE(at_start["trace"].is_null());
    EXPECT_TRUE(at_start["summary"].is_null());
  }
  wait_samples(**s, 200);
  auto sum = (*s)->stop();
  EXPECT_EQ(sum.samples, fake->reads.load());
  EXPECT_GE(sum.samples, 200u);
  EXPECT_EQ(sum.read_errors, 0u);
  EXPECT_EQ(sum.source, "fake");
  EXPECT_FALSE(sum.simulated);
  EXPECT_EQ(sum.rate_hz, 2000);

  auto rows = csv(read_text(t.path() / "trace.csv.xz"));
  ASSERT_GE(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"t_ns", "simulated", "package-0_energy_uj",
                                               "package-1_energy_uj", "package-global_energy_uj"}));
  EXPECT_EQ(rows.size() - 1, sum.samples - sum.dropped);
  // Read r gives r*(d+1)*1000; minus the first sample: cumulative since t0.
  std::uint64_t prev_t = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 5u);
    EXPECT_EQ(rows[i][1], "0");
    const auto t_ns = std::stoull(rows[i][0]);
    EXPECT_GE(t_ns, prev_t);
    prev_t = t_ns;
    if (sum.dropped == 0) {
      EXPECT_EQ(std::stoull(rows[i][2]), (i - 1) * 1000);
      EXPECT_EQ(std::stoull(rows[i][4]), (i - 1) * 3000);
    }
  }
  ASSERT_EQ(sum.domains.size(), 3u);
  EXPECT_EQ(sum.domains[2].name, "package-global");
  if (sum.dropped == 0) {
    EXPECT_DOUBLE_EQ(sum.domains[0].energy_j, static_cast<double>(sum.samples - 1) * 1e-3);
  }

  std::ifstream meta_in(t.path() / "trace.csv.xz.meta.json");
  auto meta = nlohmann::json::parse(meta_in);
  EXPECT_EQ(meta["source"], "fake");
  EXPECT_EQ(meta["simulated"], false);
  EXPECT_EQ(meta["rate_hz"], 2000.0);
  EXPECT_TRUE(meta.contains("t0_realtime_ns"));
  EXPECT_EQ(meta["summary"]["samples"], sum.samples);
  EXPECT_EQ(meta["domains"][0]["name"], "package-0");
  // The final figures are the file's: its rows, first and last t_ns.
  EXPECT_EQ(meta["trace"]["rows"], rows.size() - 1);
  EXPECT_EQ(meta["trace"]["t_first_ns"], std::stoll(rows[1][0]));
  EXPECT_EQ(meta["trace"]["t_last_ns"], std::stoll(rows.back()[0]));
  // stop() is idempotent.
  EXPECT_EQ((*s)->stop().samples, sum.samples);
}

TEST(SamplerLoop, ReadErrorsAreCountedAndTheRunGoesOn) {
  auto src = std::make_unique<test::FakeSource>(2);
  src->fail_every = 10;
  auto* fake = src.get();
  auto s = Sampler::create(std::move(src), nullptr, config(5000));
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->start());
  wait_samples(**s, 100);
  auto sum = (*s)->stop(true);
  EXPECT_EQ(sum.read_errors, (fake->reads.load() + 9) / 10);
  EXPECT_TRUE(sum.interrupted);
}

TEST(SamplerLoop, SubjectsSeriesAndPercentiles) {
  TempDir t;
  test::FakeAccounting acc;
  SamplerConfig cfg;
  cfg.rate_hz = 1000;
  cfg.trace_path = t.path() / "s.csv.gz";
  auto s = Sampler::create(std::make_unique<test::FakeSource>(2), &acc, cfg);
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->start());
  wait_samples(**s, 50);
  acc.noise_alive = false;  // its cgroup disappears
  wait_samples(**s, 2200);  // > 1 s later: the writer has polled subject_alive
  auto sum = (*s)->stop();
  ASSERT_EQ(sum.subjects.size(), 2u);
  EXPECT_EQ(sum.subjects[0].label, "vm");
  EXPECT_EQ(sum.subjects[0].source, "fake");
  EXPECT_EQ(sum.subjects[1].label, "noise");
  EXPECT_FALSE(sum.subjects[1].note.empty());
  ASSERT_FALSE(sum.notes.empty());
  EXPECT_NE(sum.notes[0].find("subject noise ended"), std::string::npos);
  // vm: 500000 ns per sample; host: 900000 ns per sample over 2 CPUs.
  auto snap = (*s)->latest();
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->series_cpu_ns[0], (snap->samples - 1) * 500000);
  EXPECT_EQ(snap->cpu_busy_ns[1], (snap->samples - 1) * 300000);
  EXPECT_NEAR(sum.subjects[0].cpu_s, static_cast<double>(snap->samples - 1) * 5e-4, 1e-9);
  EXPECT_GT(sum.subjects[0].cpu_pct_p50, 0.0);
  EXPECT_LE(sum.subjects[0].cpu_pct_p05, sum.subjects[0].cpu_pct_p50);
  EXPECT_LE(sum.subjects[0].cpu_pct_p50, sum.subjects[0].cpu_pct_p95);
  ASSERT_TRUE(sum.host_busy_pct);
  auto j = sum.to_json();
  EXPECT_TRUE(j["subjects"]["vm"].contains("cpu_pct_p95"));
  EXPECT_EQ(j["subjects"]["vm"]["source"], "fake");
  EXPECT_TRUE(j["host"].contains("busy_pct"));
  EXPECT_TRUE(j["subjects"]["noise"].contains("note"));

  auto rows = csv(read_text(t.path() / "s.csv.gz"));  // gzip when asked for
  EXPECT_EQ(rows[0],
            (std::vector<std::string>{"t_ns", "simulated", "package-0_energy_uj",
                                      "package-global_energy_uj", "cpu_ns:vm", "cpu_ns:vm/vcpu0",
                                      "cpu_ns:noise", "busy_ns:cpu0", "busy_ns:cpu1"}));
}

// The writer held for 500 ms (in its first subject poll, after ~1 s) with a
// 16-sample queue at 1 kHz: the loop never waits for it, and every sample it
// could not queue is counted as dropped: hundreds, and exactly the ones
// missing from the trace.
TEST(SamplerLoop, AStalledWriterMakesCountedDrops) {
  TempDir t;
  test::FakeAccounting acc;
  acc.block_alive_ms = 500;
  SamplerConfig cfg = config(1000, 16);
  cfg.trace_path = t.path() / "d.csv.gz";
  auto s = Sampler::create(std::make_unique<test::FakeSource>(2), &acc, cfg);
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->start());
  wait_samples(**s, 1800);
  auto sum = (*s)->stop();
  EXPECT_EQ(acc.block_alive_ms.load(), 0) << "the writer polled (and was held)";
  EXPECT_GE(sum.dropped, 50u) << "a 500 ms stall at 1 kHz with a 16-sample queue";
  auto rows = csv(read_text(cfg.trace_path));
  EXPECT_EQ(rows.size() - 1, sum.samples - sum.dropped);
  EXPECT_EQ((*s)->latest()->dropped, sum.dropped);
}

// Samples are stamped with the instant the accounting says its values hold
// for, not with the loop's wake-up time: here that instant advances exactly
// 1 ms per read, so every interval of the trace is exactly 1 ms long.
TEST(SamplerLoop, SamplesAreStampedWithTheAccountingsInstant) {
  static std::atomic<std::int64_t> fake_now{0};
  fake_now = monotonic_ns() + 10'000'000'000;  // ahead of the sampler's t0
  TempDir t;
  test::FakeAccounting acc;
  acc.clock_ns = [] { return fake_now.fetch_add(1'000'000) + 1'000'000; };
  SamplerConfig cfg = config(1000);
  cfg.trace_path = t.path() / "i.csv.gz";
  auto s = Sampler::create(std::make_unique<test::FakeSource>(2), &acc, cfg);
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->start());
  wait_samples(**s, 100);
  auto sum = (*s)->stop();
  auto rows = csv(read_text(cfg.trace_path));
  ASSERT_GT(rows.size(), 50u);
  for (std::size_t r = 2; r < rows.size(); ++r)
    ASSERT_EQ(std::stoll(rows[r][0]) - std::stoll(rows[r - 1][0]), 1'000'000) << "row " << r;
  // The fake's CPU values (0.5 and 0.9 CPU per 1 ms read) fit every interval.
  EXPECT_EQ(sum.invariants.violations(), 0u);
  EXPECT_EQ(sum.invariants.intervals, sum.samples - sum.dropped - 1);
}

TEST(SamplerLoop, FullQueueCountsDropsInsteadOfBlocking) {
  // A 16-sample queue at 20 kHz: the writer (which sleeps 5 ms when idle) cannot keep up.
  auto src = std::make_unique<test::FakeSource>(2);
  auto* fake = src.get();
  auto s = Sampler::create(std::move(src), nullptr, config(20000, 16));
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->start());
  wait_samples(**s, 200);
  auto sum = (*s)->stop();
  EXPECT_EQ(sum.samples, fake->reads.load());
  auto snap = (*s)->latest();
  EXPECT_EQ(snap->samples + sum.dropped, sum.samples);
}

TEST(SamplerLoop, BadConfigIsRejectedBeforeStart) {
  TempDir t;
  for (double rate : {0.0, -1.0, 100001.0}) {
    auto s = Sampler::create(std::make_unique<test::FakeSource>(), nullptr, config(rate));
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("--rate"), std::string::npos);
  }
  auto pin_cfg = config(1000);
  pin_cfg.pin_cpu = 100000;
  auto pin = Sampler::create(std::make_unique<test::FakeSource>(), nullptr, pin_cfg);
  ASSERT_FALSE(pin);
  EXPECT_NE(pin.error().message.find("--pin"), std::string::npos);
  auto fifo_cfg = config(1000);
  fifo_cfg.fifo_priority = 1000;
  auto fifo = Sampler::create(std::make_unique<test::FakeSource>(), nullptr, fifo_cfg);
  ASSERT_FALSE(fifo);
  SamplerConfig bad_out;
  bad_out.trace_path = t.path() / "no/such/dir/t.csv.gz";
  auto out = Sampler::create(std::make_unique<test::FakeSource>(), nullptr, bad_out);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("no/such/dir/t.csv.gz"), std::string::npos);
}

// The writer flushes once a second (one complete xz stream each), not only at
// the end: a 2.5 s run holds a stream per elapsed second plus the final one.
// Only the bounds that hold on a starved machine are asserted: at least one
// flush before stop(), and no more than one per started second plus the last.
TEST(SamplerLoop, TraceFlushedOncePerSecond) {
  TempDir t;
  SamplerConfig cfg = config(1000);
  cfg.trace_path = t.path() / "f.csv.xz";
  auto s = Sampler::create(std::make_unique<test::FakeSource>(2), nullptr, cfg);
  ASSERT_TRUE(s);
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE((*s)->start());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto sum = (*s)->stop();
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::ifstream in(cfg.trace_path, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), {}};
  const std::string magic(
      "\xFD"
      "7zXZ\0",
      6);  // xz stream header
  std::size_t streams = 0;
  for (auto at = bytes.find(magic); at != std::string::npos; at = bytes.find(magic, at + 1))
    ++streams;
  EXPECT_GE(streams, 2u) << "flushed only at the end";
  EXPECT_LE(static_cast<double>(streams), std::ceil(wall_s) + 1) << "wall " << wall_s << " s";
  EXPECT_EQ(csv(read_text(cfg.trace_path)).size() - 1, sum.samples - sum.dropped);
}
