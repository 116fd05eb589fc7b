#include "exposition.hpp"

#include <cmath>

namespace cinergy::serve::detail {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

std::vector<ClientMetric::Label> labels_of(const SubjectLabels& l) {
  return {{"kind", l.kind}, {"name", l.name}, {"uuid", l.uuid}, {"started", l.started}};
}

void add(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

// One gauge family over the subjects that have a value for it.
template <typename Get>
MetricFamily per_subject(const Snapshot& s, std::string name, std::string help, MetricType type,
                         Get get) {
  auto f = family(std::move(name), std::move(help), type);
  for (const auto& sub : s.subjects)
    if (const std::optional<double> v = get(sub); v && std::isfinite(*v))
      add(f, labels_of(sub.labels), *v);
  return f;
}

// A gauge of the subjects' last interval figures (`proj` gives a double or
// an optional one).
template <typename Proj>
MetricFamily per_figure(const Snapshot& s, std::string name, std::string help, Proj proj) {
  return per_subject(s, std::move(name), std::move(help), MetricType::Gauge,
                     [&](const SubjectSample& x) -> std::optional<double> {
                       if (!x.figures) return std::nullopt;
                       return proj(*x.figures);
                     });
}

}  // namespace

std::vector<MetricFamily> to_families(const Snapshot& s) {
  std::vector<MetricFamily> out;
  out.push_back(
      per_figure(s, "cinergy_isolated_power_watts",
                 "Power the host would draw if only this subject ran (host model at its share and "
                 "intensity), idle included, W",
                 [](const Figures& f) -> std::optional<double> { return f.isolated.watts; }));
  out.push_back(per_figure(s, "cinergy_isolated_dynamic_power_watts",
                           "Isolated power minus the model's idle power (at the same intensity): "
                           "what the subject alone adds to an idle host, W",
                           [](const Figures& f) -> std::optional<double> {
                             return f.isolated.watts - f.isolated.idle_watts;
                           }));
  const bool intervals = std::ranges::any_of(s.subjects, [](const SubjectSample& x) {
    return x.figures && x.figures->isolated.low_watts.has_value();
  });
  if (intervals) {
    out.push_back(
        per_figure(s, "cinergy_isolated_power_low_watts",
                   "Lower end of the model's prediction interval of the isolated "
                   "power, W",
                   [](const Figures& f) -> std::optional<double> { return f.isolated.low_watts; }));
    out.push_back(per_figure(
        s, "cinergy_isolated_power_high_watts",
        "Upper end of the model's prediction interval of the isolated "
        "power, W",
        [](const Figures& f) -> std::optional<double> { return f.isolated.high_watts; }));
  }
  out.push_back(per_subject(
      s, "cinergy_isolated_energy_joules_total",
      "Isolated power integrated over the intervals since serve began tracking this subject, J",
      MetricType::Counter,
      [](const SubjectSample& x) -> std::optional<double> { return x.isolated_j; }));
  out.push_back(per_figure(
      s, "cinergy_proportional_power_watts",
      "Host power times the subject's share of the host's busy CPU time (the proportional split "
      "other tools report), W",
      [](const Figures& f) -> std::optional<double> { return f.proportional_w; }));
  {
    auto f = family("cinergy_cpu_seconds_total",
                    "CPU time of the subject since serve began tracking it, per thread group "
                    "(total, vcpuN, emulator), s",
                    MetricType::Counter);
    for (const auto& sub : s.subjects)
      for (const auto& [thread, cpu_s] : sub.cpu_s) {
        auto l = labels_of(sub.labels);
        l.push_back({"thread", thread});
        add(f, std::move(l), cpu_s);
      }
    out.push_back(std::move(f));
  }
  {
    auto power = family("cinergy_host_power_watts",
                        "Host power per RAPL zone over the last interval, W", MetricType::Gauge);
    auto energy = family("cinergy_host_energy_joules_total",
                         "Host energy per RAPL zone since serve started, J", MetricType::Counter);
    for (const auto& z : s.zones) {
      if (z.power_w && std::isfinite(*z.power_w)) add(power, {{"zone", z.zone}}, *z.power_w);
      add(energy, {{"zone", z.zone}}, z.energy_j);
    }
    out.push_back(std::move(power));
    out.push_back(std::move(energy));
  }
  const auto single = [&](std::string name, std::string help, MetricType type, double v,
                          std::vector<ClientMetric::Label> labels = {}) {
    auto f = family(std::move(name), std::move(help), type);
    add(f, std::move(labels), v);
    out.push_back(std::move(f));
  };
  single("cinergy_power_simulated",
         "1 when the energy comes from the simulated meter (--source sim), not RAPL, else 0",
         MetricType::Gauge, s.simulated ? 1 : 0);
  single("cinergy_sampler_samples_total", "Energy samples taken", MetricType::Counter,
         static_cast<double>(s.samples));
  single("cinergy_sampler_dropped_total", "Samples dropped because the queue was full",
         MetricType::Counter, static_cast<double>(s.dropped));
  single("cinergy_build_info", "Build of cinergy serving these metrics", MetricType::Gauge, 1,
         {{"version", s.version}});

  // Beside the contract.
  out.push_back(per_subject(
      s, "cinergy_proportional_energy_joules_total",
      "Proportional power integrated over the intervals since serve began tracking this "
      "subject, J",
      MetricType::Counter,
      [](const SubjectSample& x) -> std::optional<double> { return x.proportional_j; }));
  out.push_back(per_figure(s, "cinergy_ratio",
                           "Proportional over isolated power of the subject (the Cinergy ratio: "
                           "below 1 the proportional split undercounts it)",
                           [](const Figures& f) -> std::optional<double> { return f.ratio; }));
  out.push_back(per_figure(s, "cinergy_host_share_percent",
                           "CPU of the subject over the last interval in % of the model host's "
                           "threads: the share the model is evaluated at",
                           [](const Figures& f) -> std::optional<double> { return f.share_pct; }));
  out.push_back(
      per_figure(s, "cinergy_intensity_percent",
                 "Load-weighted mean vCPU load of a VM over the last interval, %, the "
                 "intensity the model is evaluated at (absent: unknown, the model's "
                 "default is used)",
                 [](const Figures& f) -> std::optional<double> { return f.intensity_pct; }));
  single("cinergy_host_cpu_seconds_total", "Busy CPU time of all CPUs since serve started, s",
         MetricType::Counter, s.host_busy_cpu_s);
  single("cinergy_host_threads", "Online logical CPUs of this host", MetricType::Gauge,
         s.host_threads);
  single("cinergy_sampler_read_errors_total", "Energy or CPU values that could not be read",
         MetricType::Counter, static_cast<double>(s.read_errors));
  {
    auto f = family("cinergy_subjects", "Subjects measured now, by kind", MetricType::Gauge);
    for (const char* kind : {"vm", "cgroup", "pid"})
      add(f, {{"kind", kind}},
          static_cast<double>(std::ranges::count(
              s.subjects, std::string_view(kind),
              [](const SubjectSample& x) -> std::string_view { return x.labels.kind; })));
    out.push_back(std::move(f));
  }
  single("cinergy_subjects_ended_total",
         "Subjects that went away (VM stopped, cgroup removed, "
         "process exited) since serve started",
         MetricType::Counter, static_cast<double>(s.subjects_ended));
  if (s.libvirt_enabled) {
    single("cinergy_libvirt_up", "1 while the libvirt connection is up", MetricType::Gauge,
           s.libvirt_up ? 1 : 0);
    single("cinergy_libvirt_reconnects_total", "libvirt connections re-established after a loss",
           MetricType::Counter, static_cast<double>(s.libvirt_reconnects));
    single("cinergy_libvirt_events_total", "libvirt domain lifecycle events received",
           MetricType::Counter, static_cast<double>(s.libvirt_events));
  }
  single("cinergy_model_info", "The host power model in use", MetricType::Gauge, 1,
         {{"method", s.model_method},
          {"host_threads", std::to_string(s.model_host_threads)},
          {"fitted_on_simulated_power", s.model_simulated ? "1" : "0"}});
  single("cinergy_model_idle_power_watts",
         "The model's power of this host with only its own background load (default intensity), W",
         MetricType::Gauge, s.model_idle_w);
  single("cinergy_serve_info", "How this cinergy serve measures", MetricType::Gauge, 1,
         {{"source", s.source}, {"cpu_backend", s.cpu_backend}});
  single("cinergy_interval_seconds", "Interval of the per-subject figures, s", MetricType::Gauge,
         s.interval_s);
  return out;
}

void Exposition::publish(std::vector<prometheus::MetricFamily> families) {
  auto p = std::make_shared<const std::vector<prometheus::MetricFamily>>(std::move(families));
  std::lock_guard lk(mu_);
  families_ = std::move(p);
}

std::vector<prometheus::MetricFamily> Exposition::Collect() const {
  std::shared_ptr<const std::vector<prometheus::MetricFamily>> p;
  {
    std::lock_guard lk(mu_);
    p = families_;
  }
  return p ? *p : std::vector<prometheus::MetricFamily>{};
}

}  // namespace cinergy::serve::detail
