// Server (serve.hpp): wiring and the interval loop. Threads: the caller's
// (this loop), the sampler's two, the libvirt watcher's, civetweb's HTTP
// workers (they only copy the last published metric families).
#include <fmt/format.h>
#include <prometheus/exposer.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "cinergy/common/cgroup.hpp"
#include "cinergy/common/topology.hpp"
#include "cinergy/sampler/energy_source.hpp"
#include "cinergy/serve/serve.hpp"
#include "cinergy/vm/domain_watch.hpp"
#include "exposition.hpp"
#include "listen.hpp"
#include "model_adapter.hpp"
#include "notify.hpp"
#include "tracker.hpp"

#ifndef CINERGY_VERSION
#define CINERGY_VERSION "unknown"
#endif

namespace cinergy::serve {
namespace fs = std::filesystem;
using detail::Exposition;
using detail::PowerModel;

struct Server::Impl {
  ServeOptions opt;
  PowerModel model;
  detail::ListenAddress listen;
  int host_threads = 0;
  fs::path cgroup2_root;
  std::unique_ptr<bpf::CpuAccounting> acc;
  std::unique_ptr<sampler::Sampler> sampler;
  std::unique_ptr<detail::Tracker> tracker;
  std::string source_kind, sim_host;
  bool simulated = false;

  std::unique_ptr<vm::DomainWatcher> watcher;
  std::shared_ptr<Exposition> expo = std::make_shared<Exposition>();
  std::unique_ptr<prometheus::Exposer> exposer;
  std::atomic<int> port{0};

  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;  // guarded by mu

  explicit Impl(PowerModel m) : model(std::move(m)) {}

  detail::Snapshot snapshot(const std::optional<sampler::Snapshot>& energy) const {
    detail::Snapshot s;
    tracker->fill(s);
    s.host_threads = host_threads;
    s.simulated = simulated;
    s.version = CINERGY_VERSION;
    s.source = source_kind;
    s.cpu_backend = std::string(acc->backend());
    s.model_method = model.method();
    s.model_host_threads = model.host_threads();
    s.model_idle_w = model.isolated(0, std::nan("")).idle_watts;
    s.model_simulated = model.fitted_on_simulated_power();
    s.interval_s = opt.interval_s;
    s.subjects_ended = tracker->ended();
    if (energy) {
      s.samples = energy->samples;
      s.dropped = energy->dropped;
      s.read_errors = energy->read_errors;
    }
    if (watcher) {
      const auto w = watcher->state();
      s.libvirt_enabled = true;
      s.libvirt_up = w.connected;
      s.libvirt_reconnects = w.reconnects;
      s.libvirt_events = w.events;
    }
    return s;
  }

  Result<void> start_endpoint() {
    // civetweb: no document root (nothing but the registered /metrics is
    // served), a few workers, and a bound on how long a slow client may
    // hold one.
    try {
      exposer = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
          "listening_ports", listen.text(), "num_threads", "4", "request_timeout_ms", "5000"});
    } catch (const std::exception& e) {
      return fail(fmt::format("--listen {}: cannot listen there ({})", listen.text(), e.what()));
    }
    exposer->RegisterCollectable(expo);
    const auto ports = exposer->GetListeningPorts();
    port = ports.empty() ? listen.port : ports.front();
    return ok();
  }

  // civetweb's listening thread polls with a 2 s timeout and only then sees
  // that it must stop, so the Exposer's destructor would take up to 2 s:
  // connections to it wake it at once (made until it is gone).
  void stop_endpoint() {
    if (!exposer) return;
    std::atomic<bool> gone{false};
    std::thread kick([&] {
      while (!gone.load()) {
        detail::knock(listen, static_cast<std::uint16_t>(port.load()));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    exposer.reset();
    gone = true;
    kick.join();
  }

  // One interval: what runs now, one read, the figures, published.
  void interval(std::uint64_t& watcher_gen, vm::DomainWatchState& domains) {
    if (watcher && watcher->generation() != watcher_gen) {
      domains = watcher->state();
      watcher_gen = domains.generation;
    }
    tracker->sync(watcher ? &domains.domains : nullptr);
    const auto energy = sampler->latest();
    tracker->step(energy ? &*energy : nullptr);
    expo->publish(detail::to_families(snapshot(energy)));
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::create(ServeOptions o) {
  if (o.model_file.empty()) return fail("--model is required (model.json from cinergy fit / run)");
  if (!(o.rate_hz > 0) || o.rate_hz > 100000 || !std::isfinite(o.rate_hz))
    return fail(fmt::format("--rate must be in (0, 100000] Hz, got {}", o.rate_hz));
  if (!(o.interval_s >= 0.1) || o.interval_s > 3600 || !std::isfinite(o.interval_s))
    return fail(fmt::format("--interval must be in [0.1, 3600] s, got {}", o.interval_s));
  if (o.interval_s * o.rate_hz < 2)
    return fail(
        fmt::format("--interval {} s at --rate {} Hz: fewer than 2 energy samples per "
                    "interval",
                    o.interval_s, o.rate_hz));
  if (o.relist_period.count() <= 0) return fail("--relist must be positive");
  auto listen = detail::parse_listen(o.listen);
  if (!listen) return std::unexpected(listen.error());
  if (auto r = detail::check_can_listen(*listen); !r) return std::unexpected(r.error());

  // The model must describe this host: its x axis is the share of the
  // threads of the host it was fitted on.
  auto model = PowerModel::load(o.model_file);
  if (!model) return std::unexpected(model.error());
  auto topo = read_topology(o.source.sysfs_cpu_root);
  if (!topo) return std::unexpected(topo.error());
  const int threads = topo->threads();
  if (model->host_threads() != threads) {
    if (!o.force)
      return fail(fmt::format(
          "{} was fitted on a host with {} threads, this host has {}: its power curves do not "
          "describe this host (fit a model here with `cinergy run`, or pass --force to use it "
          "anyway)",
          o.model_file.string(), model->host_threads(), threads));
    spdlog::warn(
        "--force: {} was fitted on a host with {} threads, this host has {}; shares are "
        "taken over the model's {} threads",
        o.model_file.string(), model->host_threads(), threads, model->host_threads());
  }
  if (model->fitted_on_simulated_power())
    spdlog::warn("{}: the model was fitted on SIMULATED power", o.model_file.string());

  auto impl = std::make_unique<Impl>(std::move(*model));
  auto& m = *impl;
  m.listen = *listen;
  m.host_threads = threads;
  m.cgroup2_root = o.cgroup2_root;
  if (m.cgroup2_root.empty()) {
    auto root = cgroup2_mount();
    if (!root) return std::unexpected(root.error());
    m.cgroup2_root = *root;
  }
  auto cgroups = detail::parse_cgroup_targets(o.cgroups, m.cgroup2_root);
  if (!cgroups) return std::unexpected(cgroups.error());
  auto pids = detail::parse_pid_targets(o.pids, o.proc_root);
  if (!pids) return std::unexpected(pids.error());
  for (const auto& c : *cgroups)
    if (!fs::is_directory(c.dir))
      spdlog::warn("--cgroup {}: {} does not exist (yet): measured once it appears", c.arg,
                   c.dir.string());

  // The sampler gets no accounting: subjects come and go here, and it reads
  // its accounting on its own thread (sampler.hpp). The simulated meter then
  // follows /proc/stat.
  auto source = sampler::open_energy_source(o.source, nullptr);
  if (!source) return std::unexpected(source.error());
  m.source_kind = std::string((*source)->kind());
  m.simulated = (*source)->simulated();
  m.sim_host = (*source)->sim_host();
  std::vector<std::string> zones;
  for (const auto& d : (*source)->domains()) zones.push_back(d.name);
  bpf::Options bo;
  bo.backend = o.cpu_backend;
  bo.cgroup2_root = m.cgroup2_root;
  bo.proc_root = o.proc_root;
  auto acc = bpf::open_cpu_accounting(bo);
  if (!acc) return std::unexpected(acc.error());
  m.acc = std::move(*acc);
  if (!m.acc->fallback_reason().empty())
    spdlog::warn("CPU accounting uses {}: {}", m.acc->backend(), m.acc->fallback_reason());

  sampler::SamplerConfig cfg;
  cfg.rate_hz = o.rate_hz;
  cfg.pin_cpu = o.pin_cpu;
  cfg.fifo_priority = o.fifo_priority;
  cfg.sysfs_cpu_root = o.source.sysfs_cpu_root;
  cfg.queue_samples = sampler::queue_samples_for(o.rate_hz);
  auto smp = sampler::Sampler::create(std::move(*source), nullptr, cfg);
  if (!smp) return std::unexpected(smp.error());
  m.sampler = std::move(*smp);

  m.tracker = std::make_unique<detail::Tracker>(*m.acc, m.model, std::move(*cgroups),
                                                std::move(*pids), o.proc_root, std::move(zones));
  m.opt = std::move(o);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Result<void> Server::run() {
  auto& m = *impl_;
  if (m.simulated)
    spdlog::warn(
        "SIMULATED power: --source sim (SPECpower host {}): no RAPL is read, every power figure "
        "is modelled and cinergy_power_simulated is 1",
        m.sim_host);
  if (auto r = m.sampler->start(); !r) return r;
  if (m.opt.connect_uri != "none") {
    vm::DomainWatchOptions wo;
    wo.uri = m.opt.connect_uri;
    wo.relist_period = m.opt.relist_period;
    wo.proc_root = m.opt.proc_root;
    wo.libvirt_run_dir = m.opt.libvirt_run_dir;
    wo.cgroup2_root = m.cgroup2_root;
    auto w = vm::DomainWatcher::start(wo);
    if (!w) {
      m.sampler->stop(true);
      return std::unexpected(w.error());
    }
    m.watcher = std::move(*w);
  }
  std::uint64_t watcher_gen = ~0ull;
  vm::DomainWatchState domains;
  m.interval(watcher_gen, domains);  // the subjects are there before the first scrape
  if (auto r = m.start_endpoint(); !r) {
    m.watcher.reset();
    m.sampler->stop(true);
    return r;
  }
  spdlog::info(
      "serving http://{}:{}/metrics: model {} ({}, {} threads), energy {}{}, CPU accounting {}, "
      "libvirt {}, {} subject(s), every {} s",
      m.listen.host, m.port.load(), m.opt.model_file.string(), m.model.method(),
      m.model.host_threads(), m.source_kind, m.simulated ? " (SIMULATED)" : "", m.acc->backend(),
      m.watcher ? m.opt.connect_uri : "off", m.tracker->size(), m.opt.interval_s);
  if (!m.listen.loopback())
    spdlog::warn("listening on {}: /metrics is readable from the network (no authentication)",
                 m.listen.text());
  detail::notify_systemd("READY=1");

  using Clock = std::chrono::steady_clock;
  const auto period =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(m.opt.interval_s));
  const auto t0 = Clock::now();
  for (std::uint64_t k = 1;; ++k) {
    auto next = t0 + period * static_cast<long>(k);
    {
      std::unique_lock lk(m.mu);
      if (m.cv.wait_until(lk, next, [&] { return m.stop; })) break;
    }
    // A loop starved past whole periods skips them (one step covers them).
    const auto now = Clock::now();
    if (now - next > period) k += static_cast<std::uint64_t>((now - next) / period);
    m.interval(watcher_gen, domains);
  }

  detail::notify_systemd("STOPPING=1");
  m.stop_endpoint();
  m.watcher.reset();
  const auto summary = m.sampler->stop(true);
  spdlog::info("stopped: {} energy samples, {} dropped, {} read errors, {} subject(s) ended",
               summary.samples, summary.dropped, summary.read_errors, m.tracker->ended());
  return ok();
}

void Server::request_stop() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
}

int Server::port() const { return impl_->port.load(); }

}  // namespace cinergy::serve
