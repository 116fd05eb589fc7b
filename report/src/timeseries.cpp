// Figure 1, the time series: each phase's trace within its share of the value
// budget (trace.cpp builds the levels), or its original CSV's 2 s windows.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "cinergy/report/series.hpp"
#include "sections.hpp"
#include "trace.hpp"

namespace cinergy::report::detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A phase's trace: trace-<phase>.csv.xz as `cinergy run` writes it, or the
// .csv.gz of older runs; the first that exists is used. (Not a plain
// trace-<phase>.csv: that name reads as an original CSV of a host "trace".)
constexpr const char* kTraceSuffixes[] = {".csv.xz", ".csv.gz"};

std::optional<fs::path> find_trace(const fs::path& dir, std::string_view phase) {
  std::error_code ec;
  for (const char* suffix : kTraceSuffixes) {
    fs::path p = dir / fmt::format("trace-{}{}", phase, suffix);
    if (fs::is_regular_file(p, ec)) return p;
  }
  return std::nullopt;
}

// Level boundaries and target loads from events-<phase>.csv, sorted by time
// (t_s in seconds since the trace's t0). A file that cannot be read, or has
// no t_ns column, gives no markers and is not listed as unreadable.
std::vector<Marker> read_markers(const fs::path& p) {
  std::vector<Marker> out;
  auto t = read_table(p);
  if (!t) return out;
  auto tc = t->column("t_ns");
  if (!tc) return out;
  auto kc = t->column("kind"), lc = t->column("level"), pc = t->column("target_pct"),
       wc = t->column("workers");
  for (std::size_t r = 0; r < t->rows.size(); ++r) {
    Marker m;
    const double tn = t->number(r, *tc);
    if (!std::isfinite(tn)) continue;
    m.t_s = tn * 1e-9;
    std::string label;
    if (kc && *kc < t->rows[r].size()) label = t->rows[r][*kc];
    if (lc && *lc < t->rows[r].size() && !t->rows[r][*lc].empty())
      label += " level " + t->rows[r][*lc];
    if (pc) {
      const double v = t->number(r, *pc);
      if (std::isfinite(v)) {
        m.target_pct = v;
        label += fmt::format(" ({}%", v);
        if (wc && *wc < t->rows[r].size() && !t->rows[r][*wc].empty())
          label += ", " + t->rows[r][*wc] + " workers";
        label += ")";
      }
    }
    m.label = label;
    out.push_back(std::move(m));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.t_s < b.t_s; });
  return out;
}

// Isolated estimates as step series over the trace of their phase.
std::vector<StepSeries> overlays_for(const Inputs& in, const std::string& phase) {
  std::vector<StepSeries> out;
  for (const auto& [method, t] : in.isolated) {
    auto tc = t.column("timestamp");
    auto vc = t.column("isolated_w");
    if (!tc || !vc) continue;
    auto phc = t.column("phase");
    if (!phc && phase != "cloudlike") continue;  // without a phase column: the cloud-like run
    StepSeries s;
    s.name = std::string("isolated estimate (") + method + ") W";
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      if (phc && (*phc >= t.rows[r].size() || t.rows[r][*phc] != phase)) continue;
      const double ts = t.number(r, *tc), v = t.number(r, *vc);
      if (std::isfinite(ts) && std::isfinite(v)) s.points.emplace_back(ts, v);
    }
    std::sort(s.points.begin(), s.points.end());
    if (s.points.size() >= 2) {
      std::vector<double> d;
      for (std::size_t i = 1; i < s.points.size(); ++i)
        d.push_back(s.points[i].first - s.points[i - 1].first);
      std::nth_element(d.begin(), d.begin() + d.size() / 2, d.end());
      if (d[d.size() / 2] > 0) s.window_s = d[d.size() / 2];
    }
    if (!s.points.empty()) out.push_back(std::move(s));
  }
  return out;
}

// Data for the time-series figure when a phase has no trace but has its
// original-format CSV: the 2 s windows themselves (raw level only). Power in
// W; the CSV's vm and CPUn (% of one CPU) and cpu%_package-global (% of the
// host) are drawn in CPUs, as the traces' CPU series are.
std::optional<std::pair<json, std::string>> csv_timeseries(const model::Table& w,
                                                           const std::string& phase,
                                                           std::optional<int> threads) {
  if (w.rows() == 0) return std::nullopt;
  // Power domains in the order the report always showed them (its former
  // reader kept each row's domains sorted by name): by the first row holding
  // a value, then by name. Not the Table's order of first appearance.
  std::vector<std::pair<std::size_t, std::string>> power_order;
  std::vector<std::string> cpu;
  for (std::size_t c = 0; c < w.names.size(); ++c) {
    const std::string& k = w.names[c];
    if (k.ends_with("-watt")) {
      std::size_t first = 0;
      while (first < w.rows() && std::isnan(w.columns[c][first])) ++first;
      power_order.emplace_back(first, k);
    }
    if (k == "vm" || (k.starts_with("CPU") && k.size() > 3)) cpu.push_back(k);
  }
  std::sort(power_order.begin(), power_order.end());
  std::vector<std::string> power;
  for (auto& [first, k] : power_order) power.push_back(std::move(k));
  std::sort(cpu.begin(), cpu.end(), [](const auto& a, const auto& b) {
    return (a == "vm") > (b == "vm") || ((a == "vm") == (b == "vm") && a < b);
  });
  json series = json::array();
  std::vector<std::string> keys;
  std::vector<double> scale;
  for (const auto& k : power) {
    series.push_back({{"label", k.substr(0, k.size() - 5) + " W"},
                      {"axis", "W"},
                      {"kind", "power"},
                      {"q", 0.01}});
    keys.push_back(k);
    scale.push_back(1);
  }
  for (const auto& k : cpu) {
    series.push_back({{"label", (k == "vm" ? std::string("VM total") : "VM " + k) + " CPUs"},
                      {"axis", "CPUs"},
                      {"kind", "cpu"},
                      {"q", 0.001}});
    keys.push_back(k);
    scale.push_back(0.01);
  }
  if (threads) {
    series.push_back(
        {{"label", "host busy CPUs"}, {"axis", "CPUs"}, {"kind", "host"}, {"q", 0.001}});
    keys.push_back("cpu%_package-global");
    scale.push_back(*threads / 100.0);
  }
  // x in us since the scenario start, as the traces' x.
  std::vector<std::int64_t> x;
  x.reserve(w.rows());
  for (const double t : w.timestamp_s) x.push_back(std::llround(t * 1e6));
  std::vector<std::vector<double>> y(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::vector<double>* col = w.column(keys[i]);  // host load may be absent
    if (col == nullptr) {
      y[i].assign(w.rows(), kNaN);
      continue;
    }
    y[i].reserve(col->size());
    for (const double v : *col) y[i].push_back(v * scale[i]);  // NaN (missing) stays NaN
  }
  std::string js = R"([{"raw":true,"buckets":0,"x":)";
  append_delta_ints(js, x);
  js += R"(,"y":[)";
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (i) js.push_back(',');
    append_delta_array(js, y[i], series[i]["q"].get<double>());
  }
  js += "]}]";
  json chart = {{"phase", phase},
                {"series", series},
                {"levels", json::array({{{"raw", true}, {"points", x.size()}, {"bucket_s", 0}}})},
                {"markers", json::array()},
                {"from_csv", true}};
  return std::pair{chart, js};
}

}  // namespace

TimeSeries build_time_series(Inputs& in) {
  TimeSeries out;
  std::map<std::string, fs::path> trace_files;
  std::vector<std::string> trace_phases;
  for (const std::string& phase : in.phases)
    if (auto f = find_trace(in.dir, phase)) {
      trace_phases.emplace_back(phase);
      trace_files[phase] = *f;
    }

  // Smallest file first, each given an equal share of what the previous ones
  // left of the budget, so short traces do not waste it.
  std::error_code ec;
  std::vector<std::pair<std::uintmax_t, std::string>> order;
  for (const auto& phase : trace_phases)
    order.emplace_back(fs::file_size(trace_files.at(phase), ec), phase);
  std::sort(order.begin(), order.end());
  std::map<std::string, std::pair<json, std::string>> built_traces;
  std::map<std::string, json> health_by_phase;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::string& phase = order[k].second;
    const fs::path trace = trace_files.at(phase);
    TraceInput ti;
    ti.phase = phase;
    ti.trace = trace;
    const fs::path meta_path = trace.string() + ".meta.json";
    if (auto m = read_json(meta_path)) {
      ti.meta = *m;
      if (const json* s = jget(*m, {"simulated"}); s && s->is_boolean() && s->get<bool>())
        out.simulated = true;
    } else {
      in.missing.push_back(meta_path.filename().string());
    }
    const fs::path ev = in.dir / fmt::format("events-{}.csv", phase);
    if (fs::exists(ev))
      ti.markers = read_markers(ev);
    else
      in.missing.push_back(ev.filename().string());
    ti.overlays = overlays_for(in, phase);
    ti.host_threads = in.threads;
    const std::size_t left = out.values < kValueBudget ? kValueBudget - out.values : 0;
    ti.budget_values = left / (order.size() - k);
    ti.overview_buckets = kOverviewBuckets;
    auto built = build_trace(ti);
    if (!built) {
      in.problems.push_back(trace.filename().string() + ": " + built.error().what());
      continue;
    }
    if (built->chart.value("simulated", false)) out.simulated = true;
    out.values += built->values;
    health_by_phase[phase] = std::move(built->health);
    built_traces[phase] = std::pair{std::move(built->chart), std::move(built->levels_js)};
  }

  // Charts in page order; a phase without a (readable) trace falls back to
  // its original CSV.
  for (const std::string& phase : in.phases) {
    std::optional<std::pair<json, std::string>> chart;
    if (auto it = built_traces.find(phase); it != built_traces.end()) {
      chart = std::move(it->second);
      out.health.push_back(std::move(health_by_phase[phase]));
    } else if (std::find(trace_phases.begin(), trace_phases.end(), phase) == trace_phases.end()) {
      in.missing.push_back(fmt::format("trace-{}{}", phase, kTraceSuffixes[0]));
    }
    if (!chart && in.csv.contains(phase))
      chart = csv_timeseries(in.csv.at(phase), phase, in.threads);
    if (chart) {
      chart->first["blob"] = out.level_blobs.size();
      out.charts.push_back(std::move(chart->first));
      out.level_blobs.push_back(std::move(chart->second));
    }
  }
  return out;
}

}  // namespace cinergy::report::detail
