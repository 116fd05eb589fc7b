#include "trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>

#include "cinergy/common/line_reader.hpp"
#include "cinergy/report/series.hpp"
#include "inputs.hpp"

namespace cinergy::report::detail {
namespace {

enum class Kind { energy, cpu, busy };

struct Column {
  std::size_t index;
  Kind kind;
  std::string name;
};

template <typename T>
bool parse_int(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc{} && p == s.data() + s.size()) return true;
  // Tolerate integers written as "123.0".
  auto d = parse_double(s);
  if (!d || !std::isfinite(*d) || *d < 0) return false;
  out = static_cast<T>(*d);
  return true;
}

std::string cpu_label(const std::string& series) {
  if (series == "vm") return "VM total";
  if (series.starts_with("vm/")) return "VM " + series.substr(3);
  return series;
}

int series_rank(const std::string& s) {
  if (s == "vm") return 0;
  if (s.starts_with("vm/vcpu")) return 1;
  if (s.starts_with("vm/")) return 2;
  if (s == "noise") return 4;
  return 3;
}

// Value of a step series at t_s: the first point at or after t_s, if t_s lies
// within its window.
double step_value(const StepSeries& s, double t_s) {
  auto it = std::lower_bound(s.points.begin(), s.points.end(), t_s,
                             [](const auto& p, double t) { return p.first < t; });
  if (it == s.points.end() || it->first - t_s >= s.window_s) return kNaN;
  return it->second;
}

// Percentile from a histogram of 1 us bins.
double hist_percentile(const std::vector<std::uint64_t>& h, std::uint64_t total, double q) {
  if (total == 0) return kNaN;
  const auto want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < h.size(); ++i) {
    seen += h[i];
    if (seen >= want) return static_cast<double>(i);
  }
  return static_cast<double>(h.size() - 1);
}

}  // namespace

std::vector<LevelPlan> plan_levels(std::uint64_t rows, std::size_t per_point,
                                   std::size_t overview_buckets, std::size_t budget_values) {
  std::vector<LevelPlan> plan;
  if (rows == 0) return plan;
  auto cost = [&](const LevelPlan& l) { return (l.raw ? rows : 2 * l.buckets) * per_point; };
  // Candidates, coarse to fine: envelopes of b, 4b, 16b... buckets while a
  // bucket still holds more than 2 samples, then the raw rows.
  std::vector<LevelPlan> candidates;
  for (std::size_t b = std::max<std::size_t>(overview_buckets, 1); 2 * b < rows; b *= 4)
    candidates.push_back({b, false});
  candidates.push_back({static_cast<std::size_t>(rows), true});
  plan.push_back(candidates.front());  // the overview is always kept
  std::size_t used = cost(plan.front());
  if (plan.front().raw) return plan;
  const LevelPlan raw = candidates.back();
  const bool raw_fits = used + cost(raw) <= budget_values;
  if (raw_fits) used += cost(raw);
  for (std::size_t i = 1; i + 1 < candidates.size(); ++i) {
    if (used + cost(candidates[i]) > budget_values) break;
    plan.push_back(candidates[i]);
    used += cost(candidates[i]);
  }
  if (raw_fits) plan.push_back(raw);
  return plan;
}

void append_delta_ints(std::string& out, const std::vector<std::int64_t>& values) {
  out.push_back('[');
  std::int64_t prev = 0;
  char buf[32];
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out.push_back(',');
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, values[i] - prev);
    out.append(buf, p);
    prev = values[i];
  }
  out.push_back(']');
}

void append_delta_array(std::string& out, const std::vector<double>& values, double quantum) {
  out.push_back('[');
  std::int64_t prev = 0;
  char buf[32];
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out.push_back(',');
    const double v = values[i];
    if (!std::isfinite(v)) {
      out.append("null");
      continue;
    }
    const auto q = static_cast<std::int64_t>(std::llround(v / quantum));
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, q - prev);
    out.append(buf, p);
    prev = q;
  }
  out.push_back(']');
}

Result<TraceOutput> build_trace(const TraceInput& in) {
  // Pass 1: header, row count, time range.
  std::vector<std::string> header;
  std::uint64_t rows = 0;
  std::int64_t t_first = 0, t_last = 0;
  bool any_simulated = false;
  std::size_t t_col = 0, sim_col = SIZE_MAX;
  bool have_header = false;
  auto pass1 = cinergy::read_lines(in.trace, [&](std::string_view line) {
    if (!have_header) {
      for (auto f : split_csv(line)) header.emplace_back(f);
      have_header = true;
      for (std::size_t i = 0; i < header.size(); ++i) {
        if (header[i] == "t_ns") t_col = i;
        if (header[i] == "simulated") sim_col = i;
      }
      return;
    }
    auto f = split_csv(line);
    std::int64_t t = 0;
    if (f.size() != header.size() || !parse_int(f[t_col], t)) return;
    if (rows == 0) t_first = t;
    t_last = t;
    ++rows;
    if (sim_col < f.size() && f[sim_col] == "1") any_simulated = true;
  });
  if (!pass1) return std::unexpected(pass1.error());
  if (!have_header || header.empty() || header[0] != "t_ns")
    return fail(in.trace.string() + ": not a cinergy trace (first column must be t_ns)");

  std::vector<Column> energy, cpu, busy;
  for (std::size_t i = 0; i < header.size(); ++i) {
    const std::string& h = header[i];
    if (h.ends_with("_energy_uj"))
      energy.push_back({i, Kind::energy, h.substr(0, h.size() - 10)});
    else if (h.starts_with("cpu_ns:"))
      cpu.push_back({i, Kind::cpu, h.substr(7)});
    else if (h.starts_with("busy_ns:"))
      busy.push_back({i, Kind::busy, h.substr(8)});
  }
  // package-global first: it is the host's power the model uses.
  std::stable_sort(energy.begin(), energy.end(), [](const Column& a, const Column& b) {
    return (a.name == "package-global") > (b.name == "package-global");
  });
  std::stable_sort(cpu.begin(), cpu.end(), [](const Column& a, const Column& b) {
    return series_rank(a.name) < series_rank(b.name);
  });

  const std::optional<int> threads =
      in.host_threads ? in.host_threads
                      : (busy.empty() ? std::nullopt : std::optional<int>(int(busy.size())));
  bool target_series = false;
  for (const auto& m : in.markers)
    if (m.target_pct && threads) target_series = true;

  nlohmann::json series = nlohmann::json::array();
  std::vector<double> quantum;
  for (const auto& c : energy) {
    series.push_back({{"label", c.name + " W"}, {"axis", "W"}, {"kind", "power"}});
    quantum.push_back(0.01);
  }
  for (const auto& o : in.overlays) {
    series.push_back({{"label", o.name}, {"axis", "W"}, {"kind", "estimate"}});
    quantum.push_back(0.01);
  }
  for (const auto& c : cpu) {
    series.push_back({{"label", cpu_label(c.name) + " CPUs"}, {"axis", "CPUs"}, {"kind", "cpu"}});
    quantum.push_back(0.001);
  }
  if (!busy.empty()) {
    series.push_back({{"label", "host busy CPUs"}, {"axis", "CPUs"}, {"kind", "host"}});
    quantum.push_back(0.001);
  }
  if (target_series) {
    series.push_back({{"label", "target load CPUs"}, {"axis", "CPUs"}, {"kind", "target"}});
    quantum.push_back(0.001);
  }
  const std::size_t n_series = series.size();

  // Levels (see plan_levels): overview, full resolution if it fits, then the
  // 4x-finer envelopes in between that still fit.
  const std::size_t per_point = n_series + 1;
  const std::vector<LevelPlan> plan =
      plan_levels(rows, per_point, in.overview_buckets, in.budget_values);
  std::vector<EnvelopeBuilder> builders;
  for (const auto& p : plan) builders.emplace_back(n_series, t_first, t_last, p.buckets, p.raw);

  // Pass 2: rates between consecutive rows, fed to every level. Power is the
  // exception: a RAPL-like counter steps about every 1 ms with jitter, so over
  // one short sample interval it reads as 0 W or as many times the true power
  // (a 1 ms step in a 50 us interval is 20x). Energy columns therefore use the
  // rate since the newest earlier row at least kPowerWindowNs older (NaN until
  // the trace is that long); at sample rates below 100 Hz that is the previous row.
  constexpr std::int64_t kPowerWindowNs = 10'000'000;
  struct PastEnergy {
    std::int64_t t_ns;
    std::vector<std::uint64_t> energy_uj;  // in the order of `energy`
  };
  std::deque<PastEnergy> past;
  std::vector<std::uint64_t> prev(header.size(), 0), cur(header.size(), 0);
  std::int64_t prev_t = 0;
  bool have_prev = false;
  std::vector<double> row(n_series, kNaN);
  std::vector<std::uint64_t> interval_hist(100001, 0);
  std::uint64_t intervals = 0, interval_over = 0, parse_errors = 0;
  double interval_max_us = 0;
  std::size_t marker_i = 0;
  double target = kNaN;
  bool header_seen = false;
  auto pass2 = cinergy::read_lines(in.trace, [&](std::string_view line) {
    if (!header_seen) {
      header_seen = true;
      return;
    }
    auto f = split_csv(line);
    std::int64_t t = 0;
    if (f.size() != header.size() || !parse_int(f[t_col], t)) {
      ++parse_errors;
      return;
    }
    bool ok = true;
    for (const auto* group : {&energy, &cpu, &busy})
      for (const auto& c : *group) ok = ok && parse_int(f[c.index], cur[c.index]);
    if (!ok) {
      ++parse_errors;
      return;
    }
    const double t_s = static_cast<double>(t) * 1e-9;
    std::size_t k = 0;
    while (past.size() >= 2 && t - past[1].t_ns >= kPowerWindowNs) past.pop_front();
    const PastEnergy* ref =
        !past.empty() && t - past.front().t_ns >= kPowerWindowNs ? &past.front() : nullptr;
    for (std::size_t e = 0; e < energy.size(); ++e)
      row[k++] = ref ? rate_between(ref->t_ns, ref->energy_uj[e], t, cur[energy[e].index],
                                    kWattsPerUjPerNs)
                     : kNaN;
    if (!energy.empty()) {
      PastEnergy now{t, std::vector<std::uint64_t>(energy.size())};
      for (std::size_t e = 0; e < energy.size(); ++e) now.energy_uj[e] = cur[energy[e].index];
      past.push_back(std::move(now));
    }
    for (const auto& o : in.overlays) row[k++] = step_value(o, t_s);
    for (const auto& c : cpu)
      row[k++] = have_prev ? rate_between(prev_t, prev[c.index], t, cur[c.index], 1.0) : kNaN;
    if (!busy.empty()) {
      double sum = 0;
      bool valid = have_prev;
      for (const auto& c : busy) {
        const double r =
            have_prev ? rate_between(prev_t, prev[c.index], t, cur[c.index], 1.0) : kNaN;
        if (std::isnan(r)) valid = false;
        sum += r;
      }
      row[k++] = valid ? sum : kNaN;
    }
    if (target_series) {
      while (marker_i < in.markers.size() && in.markers[marker_i].t_s <= t_s) {
        if (in.markers[marker_i].target_pct)
          target = *in.markers[marker_i].target_pct / 100.0 * *threads;
        ++marker_i;
      }
      row[k++] = target;
    }
    if (have_prev) {
      const double dt_us = static_cast<double>(t - prev_t) * 1e-3;
      interval_max_us = std::max(interval_max_us, dt_us);
      if (dt_us >= 0 && dt_us < static_cast<double>(interval_hist.size()))
        ++interval_hist[static_cast<std::size_t>(dt_us)];
      else
        ++interval_over;
      ++intervals;
    }
    for (auto& b : builders) b.add(t, row);
    std::swap(prev, cur);
    prev_t = t;
    have_prev = true;
  });
  if (!pass2) return std::unexpected(pass2.error());

  TraceOutput out;
  out.values = 0;
  std::string& js = out.levels_js;
  js.push_back('[');
  nlohmann::json levels_meta = nlohmann::json::array();
  for (std::size_t li = 0; li < builders.size(); ++li) {
    Envelope env = builders[li].finish();
    std::vector<std::int64_t> x_us(env.x_ns.size());
    for (std::size_t i = 0; i < x_us.size(); ++i) x_us[i] = (env.x_ns[i] + 500) / 1000;
    if (li) js.push_back(',');
    js += fmt::format(R"({{"raw":{},"buckets":{},"x":)", plan[li].raw ? "true" : "false",
                      plan[li].buckets);
    append_delta_ints(js, x_us);
    js += R"(,"y":[)";
    for (std::size_t s = 0; s < env.y.size(); ++s) {
      if (s) js.push_back(',');
      append_delta_array(js, env.y[s], quantum[s]);
    }
    js += "]}";
    out.values += x_us.size() * per_point;
    const double span_s = static_cast<double>(t_last - t_first) * 1e-9;
    levels_meta.push_back({{"raw", plan[li].raw},
                           {"points", x_us.size()},
                           {"bucket_s", plan[li].raw ? 0.0 : span_s / plan[li].buckets}});
  }
  js.push_back(']');
  for (std::size_t s = 0; s < n_series; ++s) series[s]["q"] = quantum[s];

  nlohmann::json markers = nlohmann::json::array();
  for (const auto& m : in.markers) markers.push_back({{"t", m.t_s}, {"label", m.label}});
  out.chart = {{"phase", in.phase},
               {"series", series},
               {"levels", levels_meta},
               {"markers", markers},
               {"simulated", any_simulated}};

  const double duration_s = static_cast<double>(t_last - t_first) * 1e-9;
  nlohmann::json h = {{"phase", in.phase},
                      {"file", in.trace.filename().string()},
                      {"rows", rows},
                      {"duration_s", duration_s},
                      {"simulated_rows", any_simulated},
                      {"parse_errors", parse_errors},
                      {"truncated", pass2->truncated},
                      {"truncation", pass2->problem}};
  if (rows > 1 && duration_s > 0) h["rate_reached_hz"] = static_cast<double>(rows - 1) / duration_s;
  if (intervals > 0) {
    const std::uint64_t in_hist = intervals - interval_over;
    h["interval_us"] = {{"p50", hist_percentile(interval_hist, in_hist, 0.5)},
                        {"p99", hist_percentile(interval_hist, in_hist, 0.99)},
                        {"max", interval_max_us}};
  }
  if (in.meta) h["meta"] = *in.meta;
  out.health = std::move(h);
  return out;
}

}  // namespace cinergy::report::detail
