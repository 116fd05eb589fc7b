// The sampling loop (one thread, absolute deadlines) and the writer thread,
// connected by a lock-free SPSC queue of uint64_t words, `stride` words per
// sample: [t_ns, energy_uj x domains, cpu_ns x series, busy_ns x cpus].
#include "cinergy/sampler/sampler.hpp"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <boost/lockfree/spsc_queue.hpp>
#include <cmath>
#include <future>
#include <mutex>
#include <thread>

#include "cinergy/common/topology.hpp"
#include "cinergy/sampler/energy_source.hpp"
#include "cinergy/sampler/histogram.hpp"
#include "cinergy/sampler/trace_writer.hpp"

namespace cinergy::sampler {
namespace {

std::int64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double r3(double v) { return std::round(v * 1000.0) / 1000.0; }

}  // namespace

nlohmann::json Summary::to_json() const {
  nlohmann::json j;
  j["source"] = source;
  j["simulated"] = simulated;
  if (simulated) j["sim_host"] = sim_host;
  j["samples"] = samples;
  j["dropped"] = dropped;
  j["read_errors"] = read_errors;
  j["missed_deadlines"] = missed_deadlines;
  j["suspect_gaps"] = suspect_gaps;
  j["rate_hz"] = rate_hz;
  j["duration_s"] = r3(duration_s);
  j["lateness_us"] = {
      {"p50", r3(lateness.p50_us)}, {"p99", r3(lateness.p99_us)}, {"max", r3(lateness.max_us)}};
  j["cpu_pct"] = r3(cpu_pct);
  j["interrupted"] = interrupted;
  j["domains"] = nlohmann::json::object();
  for (const auto& d : domains)
    j["domains"][d.name] = {{"energy_j", r3(d.energy_j)}, {"avg_w", r3(d.avg_w)}};
  if (!subjects.empty()) {
    j["subjects"] = nlohmann::json::object();
    for (const auto& s : subjects) {
      auto& o = j["subjects"][s.label];
      o = {{"cpu_s", r3(s.cpu_s)},
           {"avg_cpu_pct", r3(s.avg_cpu_pct)},
           {"cpu_pct_p05", r3(s.cpu_pct_p05)},
           {"cpu_pct_p50", r3(s.cpu_pct_p50)},
           {"cpu_pct_p95", r3(s.cpu_pct_p95)},
           {"source", s.source}};
      if (!s.note.empty()) o["note"] = s.note;
    }
  }
  if (host_busy_pct) j["host"] = {{"busy_pct", r3(*host_busy_pct)}};
  j["invariants"] = invariants.to_json();
  if (!notes.empty()) j["notes"] = notes;
  if (!accounting.empty()) j["accounting"] = accounting;
  return j;
}

struct Sampler::Impl {
  std::unique_ptr<EnergySource> source;
  bpf::CpuAccounting* acc = nullptr;
  SamplerConfig cfg;
  std::size_t nd = 0, ns = 0, nc = 0, stride = 0;
  std::vector<std::string> names;
  std::unique_ptr<boost::lockfree::spsc_queue<std::uint64_t>> queue;
  std::optional<TraceWriter> trace;
  nlohmann::json meta;
  nlohmann::json accounting_at_start;  // CpuAccounting::diagnostics() when sampling started

  std::thread loop_thread, writer_thread;
  std::atomic<bool> stop_loop{false}, loop_done{false};
  std::int64_t t0_mono = 0, t0_real = 0, start_wall = 0;
  bool started = false, stopped = false;
  Summary summary;

  // Loop-thread state, read only after join.
  LogHistogram lateness_ns;
  std::uint64_t samples = 0, missed = 0;
  // Read by latest() while running: relaxed atomics, only written on a drop / error.
  std::atomic<std::uint64_t> dropped{0}, read_errors{0};
  std::uint64_t rows_seen = 0;
  std::int64_t loop_cpu_ns = 0;

  // Writer-thread state, read only after join.
  std::int64_t writer_cpu_ns = 0;
  std::vector<LogHistogram> subject_pct;     // per total series, CPU % x 100 per interval
  std::vector<std::size_t> total_series;     // series index of each subject's total
  std::vector<std::int64_t> subject_end_ns;  // t_ns when the subject ended, -1 alive
  std::vector<std::uint64_t> subject_end_cpu;
  std::uint64_t host_busy_sum = 0;
  std::optional<InvariantChecker> invariants;
  int online_cpus = 0;
  std::int64_t first_t = -1, last_t = 0;
  std::vector<std::string> notes;

  mutable std::mutex latest_mu;
  std::optional<Snapshot> latest;

  void loop(std::promise<Result<void>> ready);
  void writer();
};

Result<std::unique_ptr<Sampler>> Sampler::create(std::unique_ptr<EnergySource> source,
                                                 bpf::CpuAccounting* accounting,
                                                 SamplerConfig config) {
  if (!source) return fail("no energy source");
  if (!(config.rate_hz > 0) || config.rate_hz > 100000 || !std::isfinite(config.rate_hz))
    return fail("--rate must be in (0, 100000] Hz, got " + std::to_string(config.rate_hz));
  if (config.pin_cpu) {
    const long n = ::sysconf(_SC_NPROCESSORS_CONF);
    if (*config.pin_cpu < 0 || *config.pin_cpu >= n)
      return fail("--pin " + std::to_string(*config.pin_cpu) + ": no such CPU (0.." +
                  std::to_string(n - 1) + ")");
  }
  if (config.fifo_priority) {
    const int lo = sched_get_priority_min(SCHED_FIFO), hi = sched_get_priority_max(SCHED_FIFO);
    if (*config.fifo_priority < lo || *config.fifo_priority > hi)
      return fail("--fifo " + std::to_string(*config.fifo_priority) + ": must be in " +
                  std::to_string(lo) + ".." + std::to_string(hi));
  }
  if (config.queue_samples < 16) return fail("queue_samples must be at least 16");

  std::unique_ptr<Sampler> s(new Sampler());
  s->impl_ = std::make_unique<Impl>();
  auto& m = *s->impl_;
  m.source = std::move(source);
  m.acc = accounting;
  m.cfg = std::move(config);
  m.nd = m.source->domains().size();
  m.ns = accounting ? accounting->series().size() : 0;
  m.nc = accounting ? accounting->cpu_count() : 0;
  m.stride = 1 + m.nd + m.ns + m.nc;
  m.queue =
      std::make_unique<boost::lockfree::spsc_queue<std::uint64_t>>(m.cfg.queue_samples * m.stride);

  std::vector<std::string> columns = {"t_ns", "simulated"};
  for (const auto& d : m.source->domains()) {
    m.names.push_back(d.name);
    columns.push_back(d.name + "_energy_uj");
  }
  nlohmann::json series = nlohmann::json::array();
  if (accounting) {
    for (std::size_t i = 0; i < m.ns; ++i) {
      const auto& si = accounting->series()[i];
      columns.push_back("cpu_ns:" + si.name);
      series.push_back(si.name);
      if (si.is_total) {
        m.total_series.push_back(i);
        m.subject_pct.emplace_back();
        m.subject_end_ns.push_back(-1);
        m.subject_end_cpu.push_back(0);
      }
    }
    for (std::size_t c = 0; c < m.nc; ++c) columns.push_back("busy_ns:cpu" + std::to_string(c));
  }
  // The exactness invariants of every interval (invariants.hpp).
  InvariantLimits lim;
  auto topo = read_topology(m.cfg.sysfs_cpu_root);
  m.online_cpus = topo && topo->threads() > 0 ? topo->threads() : static_cast<int>(m.nc);
  lim.online_cpus = m.online_cpus;
  if (accounting) {
    lim.epsilon_ns = accounting->resolution_ns();
    for (const auto& si : accounting->series()) lim.series_max_cpus.push_back(si.max_cpus);
  }
  lim.max_power_w = m.source->max_power_w();
  for (std::size_t d = 0; d < m.nd; ++d)
    if (m.names[d] == "package-global") lim.power_domain = d;
  m.invariants.emplace(std::move(lim));
  if (!m.cfg.trace_path.empty()) {
    auto w = TraceWriter::open(m.cfg.trace_path, columns);
    if (!w) return std::unexpected(w.error());
    m.trace.emplace(std::move(*w));
  }
  nlohmann::json doms = nlohmann::json::array();
  for (const auto& d : m.source->domains())
    doms.push_back(
        {{"name", d.name}, {"package", d.package}, {"max_energy_range_uj", d.max_energy_range_uj}});
  m.meta = {{"format", "cinergy-trace-1"},
            {"source", m.source->kind()},
            {"simulated", m.source->simulated()},
            {"sim_host", m.source->sim_host()},
            {"rate_hz", m.cfg.rate_hz},
            {"domains", doms},
            {"series", series},
            {"cpu_backend", accounting ? std::string(accounting->backend()) : std::string("none")},
            {"columns", columns},
            {"units",
             {{"t_ns", "ns since t0 (CLOCK_MONOTONIC)"},
              {"*_energy_uj", "cumulative uJ since t0"},
              {"cpu_ns:*", "cumulative CPU ns since t0"},
              {"busy_ns:*", "cumulative busy ns since t0"}}},
            {"summary", nullptr},
            // Set by stop() when the trace was closed cleanly: a killed run's
            // sidecar keeps null (no final figures).
            {"trace", nullptr}};
  return s;
}

Sampler::~Sampler() {
  if (impl_ && impl_->started && !impl_->stopped) stop(false);
}

std::vector<std::string> Sampler::domain_names() const { return impl_->names; }
bool Sampler::simulated() const { return impl_->source->simulated(); }
std::int64_t Sampler::t0_monotonic_ns() const { return impl_->t0_mono; }
std::optional<Snapshot> Sampler::latest() const {
  std::lock_guard lk(impl_->latest_mu);
  return impl_->latest;
}

Result<void> Sampler::start() {
  auto& m = *impl_;
  if (m.started) return fail("sampler already started");
  // t0 = the first deadline, 2 ms ahead so thread start-up is not counted as lateness.
  m.t0_real = clock_ns(CLOCK_REALTIME);
  m.t0_mono = clock_ns(CLOCK_MONOTONIC) + 2'000'000;
  m.t0_real += 2'000'000;
  m.start_wall = m.t0_mono;
  if (m.acc) m.accounting_at_start = m.acc->diagnostics();
  m.meta["t0_monotonic_ns"] = m.t0_mono;
  m.meta["t0_realtime_ns"] = m.t0_real;
  if (m.trace) {
    if (auto r = write_json_file(sidecar_path(m.cfg.trace_path), m.meta); !r) return r;
  }
  std::promise<Result<void>> ready;
  auto fut = ready.get_future();
  m.loop_thread = std::thread([&m, p = std::move(ready)]() mutable { m.loop(std::move(p)); });
  auto r = fut.get();
  if (!r) {
    m.loop_thread.join();
    return r;
  }
  m.writer_thread = std::thread([&m] { m.writer(); });
  m.started = true;
  return ok();
}

void Sampler::Impl::loop(std::promise<Result<void>> ready) {
  if (cfg.pin_cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(*cfg.pin_cpu, &set);
    if (int e = pthread_setaffinity_np(pthread_self(), sizeof set, &set); e != 0) {
      ready.set_value(fail_errno(
          e, "--pin " + std::to_string(*cfg.pin_cpu) + ": cannot pin the sampling thread"));
      return;
    }
  }
  if (cfg.fifo_priority) {
    sched_param sp{};
    sp.sched_priority = *cfg.fifo_priority;
    if (int e = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp); e != 0) {
      ready.set_value(fail_errno(e, "--fifo " + std::to_string(*cfg.fifo_priority) +
                                        ": cannot set SCHED_FIFO (needs root / CAP_SYS_NICE)"));
      return;
    }
  }
  std::vector<std::uint64_t> buf(stride, 0);
  const std::span<std::uint64_t> energy(buf.data() + 1, nd), series(buf.data() + 1 + nd, ns),
      busy(buf.data() + 1 + nd + ns, nc);
  const double period_ns = 1e9 / cfg.rate_hz;
  const auto deadline_of = [&](std::uint64_t k) {
    return t0_mono + static_cast<std::int64_t>(static_cast<double>(k) * period_ns);
  };
  ready.set_value(ok());

  // ---- hot loop: no allocation, logging, locks or exceptions below ----
  std::uint64_t k = 0;
  while (!stop_loop.load(std::memory_order_relaxed)) {
    const std::int64_t deadline = deadline_of(k);
    timespec ts{static_cast<time_t>(deadline / 1'000'000'000),
                static_cast<long>(deadline % 1'000'000'000)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    const std::int64_t now = clock_ns(CLOCK_MONOTONIC);
    lateness_ns.record(now > deadline ? static_cast<std::uint64_t>(now - deadline) : 0);
    // The sample is stamped with the instant its CPU values hold for (taken
    // by the accounting after its reads), so a preemption between waking up
    // and reading cannot put more CPU time into an interval than it lasted.
    // The energy is read right after; the simulated meter accrues it up to
    // that same instant, from the same read.
    std::size_t errs = 0;
    std::int64_t at = now;
    if (acc) {
      errs += acc->read(series, busy, at);
      source->on_accounting_read(busy, at);
    }
    errs += source->read(energy);
    if (!acc) at = clock_ns(CLOCK_MONOTONIC);
    buf[0] = static_cast<std::uint64_t>(std::max(at, t0_mono) - t0_mono);
    if (errs) read_errors.fetch_add(errs, std::memory_order_relaxed);
    if (queue->write_available() >= stride) {
      queue->push(buf.data(), stride);
    } else {
      dropped.fetch_add(1, std::memory_order_relaxed);
    }
    ++samples;
    // Late by more than a period: the deadlines already passed are skipped
    // (counted in missed), the latest one is taken at once.
    const std::int64_t after = clock_ns(CLOCK_MONOTONIC);
    const auto k_now = static_cast<std::uint64_t>(static_cast<double>(after - t0_mono) / period_ns);
    if (k_now > k + 1) {
      missed += k_now - (k + 1);
      k = k_now;
    } else {
      ++k;
    }
  }
  loop_cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  loop_done.store(true, std::memory_order_release);
}

void Sampler::Impl::writer() {
  std::vector<std::uint64_t> row(stride), base(stride), prev(stride), rel(stride);
  bool have_base = false;
  const bool sim = source->simulated();
  constexpr std::int64_t kFlushPeriodNs = 1'000'000'000;
  std::int64_t next_flush = clock_ns(CLOCK_MONOTONIC) + kFlushPeriodNs;
  bool trace_failed = false;
  const auto process = [&] {
    queue->pop(row.data(), stride);
    if (!have_base) {
      base = row;
      base[0] = 0;
      prev = row;
      have_base = true;
      first_t = static_cast<std::int64_t>(row[0]);
    }
    rel[0] = row[0];
    for (std::size_t i = 1; i < stride; ++i) rel[i] = row[i] >= base[i] ? row[i] - base[i] : 0;
    const auto t = static_cast<std::int64_t>(row[0]);
    const std::span<const std::uint64_t> all(row);
    invariants->add(t, all.subspan(1, nd), all.subspan(1 + nd, ns), all.subspan(1 + nd + ns, nc));
    const std::int64_t dt = t - static_cast<std::int64_t>(prev[0]);
    if (dt > 0) {
      for (std::size_t s = 0; s < total_series.size(); ++s) {
        if (subject_end_ns[s] >= 0) continue;
        const std::size_t col = 1 + nd + total_series[s];
        const std::uint64_t d = row[col] >= prev[col] ? row[col] - prev[col] : 0;
        subject_pct[s].record(static_cast<std::uint64_t>(
            std::llround(static_cast<double>(d) * 10000.0 / static_cast<double>(dt))));
      }
      for (std::size_t c = 0; c < nc; ++c) {
        const std::size_t col = 1 + nd + ns + c;
        host_busy_sum += row[col] >= prev[col] ? row[col] - prev[col] : 0;
      }
    }
    prev = row;
    last_t = t;
    if (trace && !trace_failed)
      trace->add_row(t, sim, std::span<const std::uint64_t>(rel.data() + 1, stride - 1));
    std::lock_guard lk(latest_mu);
    if (!latest) latest.emplace();
    latest->t_ns = t;
    latest->samples = ++rows_seen;
    latest->dropped = dropped.load(std::memory_order_relaxed);
    latest->read_errors = read_errors.load(std::memory_order_relaxed);
    latest->energy_uj.assign(rel.begin() + 1, rel.begin() + 1 + static_cast<long>(nd));
    latest->series_cpu_ns.assign(rel.begin() + 1 + static_cast<long>(nd),
                                 rel.begin() + 1 + static_cast<long>(nd + ns));
    latest->cpu_busy_ns.assign(rel.begin() + 1 + static_cast<long>(nd + ns), rel.end());
  };
  for (;;) {
    const bool done = loop_done.load(std::memory_order_acquire);
    std::size_t got = 0;
    while (queue->read_available() >= stride) {
      process();
      ++got;
    }
    const std::int64_t now = clock_ns(CLOCK_MONOTONIC);
    if (now >= next_flush || done) {
      // On a fixed 1 s grid (no drift), so a killed run loses at most the last
      // second; a writer starved past a whole period restarts the grid.
      next_flush += kFlushPeriodNs;
      if (next_flush <= now) next_flush = now + kFlushPeriodNs;
      if (trace && !trace_failed) {
        if (auto r = trace->flush(); !r) {
          trace_failed = true;
          notes.push_back("trace writing stopped: " + r.error().what());
        }
      }
      if (acc) {
        for (std::size_t s = 0; s < total_series.size(); ++s) {
          const std::size_t subj = acc->series()[total_series[s]].subject_index;
          if (subject_end_ns[s] < 0 && !acc->subject_alive(subj)) {
            subject_end_ns[s] = last_t;
            subject_end_cpu[s] = prev[1 + nd + total_series[s]] - base[1 + nd + total_series[s]];
            notes.push_back("subject " + acc->series()[total_series[s]].name +
                            " ended at t=" + std::to_string(static_cast<double>(last_t) / 1e9) +
                            " s (its cgroup/process disappeared); its figures stop there");
          }
        }
      }
    }
    if (done) break;
    // Idle: the queue holds queue_samples (16 s at 1 kHz), so 20 ms naps are
    // safe and cheap; a nap ends at the next flush deadline, not after it.
    if (got == 0) {
      const std::int64_t to_flush_us = (next_flush - clock_ns(CLOCK_MONOTONIC)) / 1000;
      ::usleep(static_cast<useconds_t>(std::clamp<std::int64_t>(to_flush_us, 1, 20000)));
    }
  }
  if (trace && !trace_failed) {
    if (auto r = trace->close(); !r) notes.push_back("trace writing failed: " + r.error().what());
  }
  writer_cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

Summary Sampler::stop(bool interrupted) {
  auto& m = *impl_;
  if (!m.started || m.stopped) return m.summary;
  m.stopped = true;
  m.stop_loop.store(true, std::memory_order_relaxed);
  m.loop_thread.join();
  m.writer_thread.join();
  const std::int64_t wall_ns = clock_ns(CLOCK_MONOTONIC) - m.start_wall;

  Summary& s = m.summary;
  s.source = std::string(m.source->kind());
  s.simulated = m.source->simulated();
  s.sim_host = m.source->sim_host();
  s.samples = m.samples;
  s.dropped = m.dropped.load();
  s.read_errors = m.read_errors.load();
  s.missed_deadlines = m.missed;
  s.suspect_gaps = m.source->suspect_gaps();
  s.rate_hz = m.cfg.rate_hz;
  s.duration_s = static_cast<double>(std::max<std::int64_t>(wall_ns, 0)) / 1e9;
  s.lateness = {m.lateness_ns.quantile(0.5) / 1e3, m.lateness_ns.quantile(0.99) / 1e3,
                static_cast<double>(m.lateness_ns.max()) / 1e3};
  s.cpu_pct = wall_ns > 0 ? 100.0 * static_cast<double>(m.loop_cpu_ns + m.writer_cpu_ns) /
                                static_cast<double>(wall_ns)
                          : 0;
  s.interrupted = interrupted;
  s.notes = m.notes;
  s.invariants = m.invariants->counts();
  if (m.acc) {  // both threads have stopped; this trace's share of the counters
    s.accounting = m.acc->diagnostics();
    for (auto& [key, value] : s.accounting.items())
      if (value.is_number_unsigned() && m.accounting_at_start.contains(key))
        value = value.get<std::uint64_t>() - m.accounting_at_start[key].get<std::uint64_t>();
  }
  const double span_s = m.first_t >= 0 ? static_cast<double>(m.last_t - m.first_t) / 1e9 : 0;
  auto snap = m.latest;
  for (std::size_t d = 0; d < m.nd; ++d) {
    DomainSummary ds{m.names[d], 0, 0};
    if (snap) ds.energy_j = static_cast<double>(snap->energy_uj[d]) / 1e6;
    ds.avg_w = span_s > 0 ? ds.energy_j / span_s : 0;
    s.domains.push_back(ds);
  }
  if (m.acc && snap) {
    for (std::size_t k = 0; k < m.total_series.size(); ++k) {
      const auto& si = m.acc->series()[m.total_series[k]];
      SubjectSummary ss;
      ss.label = si.name;
      ss.source = std::string(m.acc->backend());
      const bool ended = m.subject_end_ns[k] >= 0;
      const std::uint64_t cpu =
          ended ? m.subject_end_cpu[k] : snap->series_cpu_ns[m.total_series[k]];
      const double life_s =
          (ended ? static_cast<double>(m.subject_end_ns[k] - m.first_t) / 1e9 : span_s);
      ss.cpu_s = static_cast<double>(cpu) / 1e9;
      ss.avg_cpu_pct = life_s > 0 ? 100.0 * ss.cpu_s / life_s : 0;
      ss.cpu_pct_p05 = m.subject_pct[k].quantile(0.05) / 100.0;
      ss.cpu_pct_p50 = m.subject_pct[k].quantile(0.50) / 100.0;
      ss.cpu_pct_p95 = m.subject_pct[k].quantile(0.95) / 100.0;
      if (ended)
        ss.note =
            "ended at t=" + std::to_string(static_cast<double>(m.subject_end_ns[k]) / 1e9) + " s";
      s.subjects.push_back(ss);
    }
    if (m.nc > 0 && span_s > 0)
      s.host_busy_pct = 100.0 * static_cast<double>(m.host_busy_sum) / 1e9 /
                        (span_s * static_cast<double>(std::max(1, m.online_cpus)));
  }
  if (m.trace) {
    m.meta["summary"] = s.to_json();
    // nullopt when writing failed (the writer thread then never closed it).
    if (auto figures = m.trace->closed_figures()) m.meta["trace"] = std::move(*figures);
    (void)write_json_file(sidecar_path(m.cfg.trace_path), m.meta);
  }
  return s;
}

}  // namespace cinergy::sampler
