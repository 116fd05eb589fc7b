// write_report(): gathers what a run directory holds, builds the charts' data
// in C++ (downsampled, bounded in size), and writes one self-contained HTML
// file: uPlot and the glue script are embedded, data is compact JSON.
#include "cinergy/report/report.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>

#include "assets.hpp"
#include "cinergy/model/dataset.hpp"
#include "cinergy/report/series.hpp"
#include "inputs.hpp"
#include "model_view.hpp"
#include "trace.hpp"

namespace cinergy::report {
namespace {

namespace fs = std::filesystem;
using detail::Points;
using nlohmann::json;

constexpr const char* kPhases[] = {"training-25", "training-50", "training-100", "groundtruth",
                                   "cloudlike"};
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

// The bound on embedded numbers (all traces, all levels): see docs/report.md.
constexpr std::size_t kValueBudget = 3'000'000;
constexpr std::size_t kOverviewBuckets = 4000;

std::string esc(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '&':
        o += "&amp;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o.push_back(c);
    }
  }
  return o;
}

// JSON safe inside <script>: no "</" sequence.
std::string script_json(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string o;
  o.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<' && i + 1 < s.size() && s[i + 1] == '/') {
      o += "<\\/";
      ++i;
    } else {
      o.push_back(s[i]);
    }
  }
  return o;
}

std::string cell(const json& v) {
  if (v.is_null()) return "–";
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return "NaN";
    // Plain digits for the magnitudes a reader meets here (no 1.07e+04).
    const double a = std::fabs(d);
    if (a == 0) return "0";
    if (a >= 1000 && a < 1e12) return fmt::format("{:.0f}", d);
    if (a >= 100) return fmt::format("{:.1f}", d);
    if (a >= 0.001) return fmt::format("{:.4g}", d);
    return fmt::format("{:.3e}", d);
  }
  if (v.is_string()) return esc(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_primitive()) return esc(v.dump());
  return esc(v.dump());
}

const json* jget(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(k);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

// Aligned (x, y1..yn) table for a uPlot scatter/line chart: every point gets
// its own row, other series null there; lines span the gaps.
struct XyChart {
  std::string id, title, x_label, y_label, note;
  struct S {
    std::string label;
    bool line;
    Points pts;
  };
  std::vector<S> series;
  [[nodiscard]] bool empty() const {
    for (const auto& s : series)
      if (!s.pts.empty()) return false;
    return true;
  }
  [[nodiscard]] json to_json() const {
    struct Row {
      double x;
      std::size_t s;
      double y;
    };
    std::vector<Row> rows;
    for (std::size_t i = 0; i < series.size(); ++i)
      for (const auto& [x, y] : series[i].pts)
        if (std::isfinite(x) && std::isfinite(y)) rows.push_back({x, i, y});
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row& a, const Row& b) { return a.x < b.x; });
    json xs = json::array();
    std::vector<json> ys(series.size(), json::array());
    for (const auto& r : rows) {
      xs.push_back(r.x);
      for (std::size_t i = 0; i < series.size(); ++i)
        ys[i].push_back(i == r.s ? json(std::round(r.y * 1000) / 1000) : json(nullptr));
    }
    json ser = json::array();
    for (std::size_t i = 0; i < series.size(); ++i)
      ser.push_back({{"label", series[i].label}, {"line", series[i].line}, {"y", ys[i]}});
    return {{"id", id},     {"title", title}, {"x_label", x_label}, {"y_label", y_label},
            {"note", note}, {"x", xs},        {"series", ser}};
  }
};

struct Inputs {
  fs::path dir;
  std::vector<std::string> missing;
  std::vector<std::string> problems;
  std::optional<json> manifest;
  std::map<std::string, model::Table> csv;         // original format, by phase
  std::map<std::string, detail::ModelView> model;  // by method: "cinergy", "paper"
  std::map<std::string, json> evaluation;          // by method
  std::map<std::string, detail::CsvTable> isolated;
  std::optional<int> threads;
};

std::string method_suffix(const std::string& method) { return method == "paper" ? "-paper" : ""; }

void note_error(Inputs& in, const std::string& what, const Error& e) {
  in.problems.push_back(what + ": " + e.what());
}

Inputs gather(const fs::path& dir) {
  Inputs in;
  in.dir = dir;
  if (auto m = detail::read_json(dir / "manifest.json")) {
    in.manifest = *m;
    if (const json* t = jget(*m, {"host", "threads"}); t && t->is_number_integer())
      in.threads = t->get<int>();
  } else if (fs::exists(dir / "manifest.json")) {
    note_error(in, "manifest.json", m.error());
  } else {
    in.missing.push_back("manifest.json");
  }
  for (const char* phase : kPhases) {
    auto p = detail::find_original_csv(dir, phase);
    if (!p) {
      in.missing.push_back(std::string("<host>-") + phase + ".csv");
      continue;
    }
    // The model library's reader, the one the analysis used: a file it
    // refuses is unreadable here too, with its one-line error.
    auto t = model::load_long_csv(*p);
    if (t)
      in.csv[phase] = std::move(*t);
    else
      note_error(in, p->filename().string(), t.error());
  }
  for (std::string method : {"cinergy", "paper"}) {
    const std::string sfx = method_suffix(method);
    // The model file is read by the model library: one it refuses (another
    // schema, a malformed curve) is unreadable with the library's error.
    const fs::path model_file = dir / ("model" + sfx + ".json");
    if (!fs::exists(model_file)) {
      in.missing.push_back(model_file.filename().string());
    } else if (auto j = detail::read_json(model_file); !j) {
      note_error(in, model_file.filename().string(), j.error());
    } else if (auto v = detail::read_model_view(std::move(*j), model_file.string()); !v) {
      note_error(in, model_file.filename().string(), v.error());
    } else {
      in.model[method] = std::move(*v);
    }
    const fs::path eval_file = dir / ("evaluation" + sfx + ".json");
    if (!fs::exists(eval_file)) {
      in.missing.push_back(eval_file.filename().string());
    } else if (auto j = detail::read_json(eval_file)) {
      in.evaluation[method] = std::move(*j);
    } else {
      note_error(in, eval_file.filename().string(), j.error());
    }
    const fs::path iso = dir / ("isolated" + sfx + ".csv");
    if (!fs::exists(iso)) {
      in.missing.push_back(iso.filename().string());
    } else if (auto t = detail::read_table(iso)) {
      in.isolated[method] = std::move(*t);
    } else {
      note_error(in, iso.filename().string(), t.error());
    }
  }
  return in;
}

std::vector<detail::Marker> read_markers(const fs::path& p) {
  std::vector<detail::Marker> out;
  auto t = detail::read_table(p);
  if (!t) return out;
  auto tc = t->column("t_ns");
  if (!tc) return out;
  auto kc = t->column("kind"), lc = t->column("level"), pc = t->column("target_pct"),
       wc = t->column("workers");
  for (std::size_t r = 0; r < t->rows.size(); ++r) {
    detail::Marker m;
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
std::vector<detail::StepSeries> overlays_for(const Inputs& in, const std::string& phase) {
  std::vector<detail::StepSeries> out;
  for (const auto& [method, t] : in.isolated) {
    auto tc = t.column("timestamp");
    auto vc = t.column("isolated_w");
    if (!tc || !vc) continue;
    auto phc = t.column("phase");
    if (!phc && phase != "cloudlike") continue;  // without a phase column: the cloud-like run
    detail::StepSeries s;
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

// (x, y) of the rows where both columns hold a finite value, in timestamp
// order; none when either column is absent.
Points column_pairs(const model::Table& t, std::string_view x_name, std::string_view y_name) {
  Points p;
  const std::vector<double>* x = t.column(x_name);
  const std::vector<double>* y = t.column(y_name);
  if (x == nullptr || y == nullptr) return p;
  for (std::size_t r = 0; r < t.rows(); ++r)
    if (std::isfinite((*x)[r]) && std::isfinite((*y)[r])) p.emplace_back((*x)[r], (*y)[r]);
  return p;
}

// The training windows of a step: host load (%) against package power (W).
Points training_points(const model::Table& t) {
  return column_pairs(t, "cpu%_package-global", "package-global-watt");
}

// A column's values by whole second (the windows' timestamps, rounded: the
// isolated estimates name the same windows); a later row wins a tie.
std::map<std::int64_t, double> by_second(const model::Table& t, std::string_view name) {
  std::map<std::int64_t, double> out;
  if (const std::vector<double>* c = t.column(name))
    for (std::size_t r = 0; r < t.rows(); ++r)
      if (!std::isnan((*c)[r])) out[std::llround(t.timestamp_s[r])] = (*c)[r];
  return out;
}

// Data for the time-series figure when a phase has no trace but has its
// original-format CSV: the 2 s windows themselves (raw level only).
std::optional<std::pair<json, std::string>> csv_timeseries(const model::Table& w,
                                                           std::optional<int> threads) {
  if (w.rows() == 0) return std::nullopt;
  // Power domains in the order the series were always shown: by the first
  // row holding a value, then by name.
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
  detail::append_delta_ints(js, x);
  js += R"(,"y":[)";
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (i) js.push_back(',');
    detail::append_delta_array(js, y[i], series[i]["q"].get<double>());
  }
  js += "]}]";
  json chart = {{"phase", w.phase},
                {"series", series},
                {"levels", json::array({{{"raw", true}, {"points", x.size()}, {"bucket_s", 0}}})},
                {"markers", json::array()},
                {"from_csv", true}};
  return std::pair{chart, js};
}

std::string health_html(const Inputs& in, const std::vector<json>& health, bool simulated) {
  std::string h;
  h += "<table class=kv>";
  auto row = [&](const std::string& k, const std::string& v) {
    h += "<tr><th>" + esc(k) + "</th><td>" + v + "</td></tr>";
  };
  row("energy source", simulated ? "<b class=sim>SIMULATED</b> (not measured)" : "measured");
  if (in.manifest) {
    const json& m = *in.manifest;
    // Each fact where the orchestrator writes it (orchestrator/src/manifest.cpp,
    // run.cpp); end_utc is null until the run has finished.
    auto fact = [&](const char* label, const json* v) {
      if (v) row(label, cell(*v));
    };
    fact("source", jget(m, {"rapl", "source"}));
    fact("start", jget(m, {"start_utc"}));
    fact("end", jget(m, {"end_utc"}));
    fact("interrupted", jget(m, {"interrupted"}));
    fact("interrupted_at", jget(m, {"interrupted_at"}));
    fact("profile", jget(m, {"settings", "profile"}));
    if (const json* host = jget(m, {"host"}); host && host->is_object())
      for (auto it = host->begin(); it != host->end(); ++it)
        if (it.value().is_primitive()) row("host " + it.key(), cell(it.value()));
    // The test VM's accelerator as used, and why (KVM only when a guest booted).
    if (const json* accel = jget(m, {"vm", "accel"}); accel && accel->is_string()) {
      std::string v = esc(accel->get<std::string>());
      if (const json* why = jget(m, {"vm", "accel_reason"}); why && why->is_string())
        v += " (" + esc(why->get<std::string>()) + ")";
      row("VM accelerator", v);
    }
  }
  h += "</table>";
  if (health.empty()) return h + "<p class=missing>No traces: no sampling health to show.</p>";
  h += "<table class=grid><tr><th>trace</th><th>source</th><th>rows</th><th>duration s</th>"
       "<th>rate set Hz</th><th>rate reached Hz</th><th>interval p50/p99/max µs</th>"
       "<th>dropped</th><th>read errors</th><th>lateness p50/p99/max µs</th>"
       "<th>interrupted</th><th>file state</th></tr>";
  for (const auto& t : health) {
    const json meta = t.contains("meta") ? t["meta"] : json::object();
    auto mv = [&](std::initializer_list<const char*> p) {
      const json* v = jget(meta, p);
      return v ? cell(*v) : std::string("–");
    };
    std::string source = mv({"source"});
    const json* sim = jget(meta, {"simulated"});
    if ((sim && sim->is_boolean() && sim->get<bool>()) || t.value("simulated_rows", false))
      source += " <b class=sim>simulated</b>";
    std::string interval = "–";
    if (t.contains("interval_us"))
      interval = cell(t["interval_us"]["p50"]) + " / " + cell(t["interval_us"]["p99"]) + " / " +
                 cell(t["interval_us"]["max"]);
    std::string state = t.value("truncated", false)
                            ? "<b class=warn>truncated: " + esc(t.value("truncation", "")) + "</b>"
                            : "complete";
    if (t.value("parse_errors", 0) > 0)
      state += fmt::format(", {} bad rows", t["parse_errors"].get<std::uint64_t>());
    h += "<tr><td>" + cell(t["file"]) + "</td><td>" + source + "</td><td>" + cell(t["rows"]) +
         "</td><td>" + cell(t["duration_s"]) + "</td><td>" + mv({"rate_hz"}) + "</td><td>" +
         (t.contains("rate_reached_hz") ? cell(t["rate_reached_hz"]) : "–") + "</td><td>" +
         interval + "</td><td>" + mv({"summary", "dropped"}) + "</td><td>" +
         mv({"summary", "read_errors"}) + "</td><td>" + mv({"summary", "lateness_us", "p50"}) +
         " / " + mv({"summary", "lateness_us", "p99"}) + " / " +
         mv({"summary", "lateness_us", "max"}) + "</td><td>" + mv({"summary", "interrupted"}) +
         "</td><td>" + state + "</td></tr>";
  }
  return h + "</table>";
}

std::string metrics_html(const Inputs& in) {
  std::string h;
  if (in.evaluation.empty()) {
    h += "<p class=missing>No evaluation.json / evaluation-paper.json: no metrics to show.</p>";
  } else {
    std::vector<std::string> keys;
    for (auto k : {"method", "n", "r2", "rmse_w", "mae_w", "mape_pct"}) keys.emplace_back(k);
    for (const auto& [m, j] : in.evaluation)
      if (j.is_object())
        for (auto it = j.begin(); it != j.end(); ++it)
          if (it.value().is_primitive() &&
              std::find(keys.begin(), keys.end(), it.key()) == keys.end())
            keys.push_back(it.key());
    h += "<table class=grid id=metrics><tr><th>metric</th>";
    for (const auto& [m, j] : in.evaluation) h += "<th>" + esc(m) + "</th>";
    h += "</tr>";
    for (const auto& k : keys) {
      h += "<tr><th>" + esc(k) + "</th>";
      for (const auto& [m, j] : in.evaluation)
        h += "<td>" + (j.is_object() && j.contains(k) ? cell(j[k]) : std::string("–")) + "</td>";
      h += "</tr>";
    }
    h += "</table>";
    for (const auto& [m, j] : in.evaluation) {
      const json* b = jget(j, {"binned"});
      if (!b || !b->is_array() || b->empty() || !(*b)[0].is_object()) continue;
      h += "<details><summary>binned errors, " + esc(m) + "</summary><table class=grid><tr>";
      std::vector<std::string> cols;
      for (auto it = (*b)[0].begin(); it != (*b)[0].end(); ++it) cols.push_back(it.key());
      for (const auto& c : cols) h += "<th>" + esc(c) + "</th>";
      h += "</tr>";
      for (const auto& r : *b) {
        h += "<tr>";
        for (const auto& c : cols) h += "<td>" + (r.contains(c) ? cell(r[c]) : "–") + "</td>";
        h += "</tr>";
      }
      h += "</table></details>";
    }
  }
  if (in.model.empty()) {
    h += "<p class=missing>No model.json / model-paper.json: no formulas to show.</p>";
    return h;
  }
  for (const auto& [method, view] : in.model) {
    h += "<h3>Model formulas, " + esc(method) + "</h3>";
    const json& mj = view.file;
    if (mj.is_object()) {
      std::string top;
      for (auto it = mj.begin(); it != mj.end(); ++it)
        if (it.value().is_primitive() && !it.value().is_null())
          top += "<span class=kvi>" + esc(it.key()) + " = " + cell(it.value()) + "</span> ";
      if (!top.empty()) h += "<p>" + top + "</p>";
    }
    if (const json* notes = jget(mj, {"notes"}); notes && notes->is_array() && !notes->empty()) {
      h += "<ul class=notes>";
      for (const auto& n : *notes) h += "<li>" + cell(n) + "</li>";
      h += "</ul>";
    }
    h += "<table class=grid><tr><th>step</th><th>formula</th><th>fields (degree, CV error, fit)"
         "</th></tr>";
    for (const auto& s : view.steps) {
      std::string fields;
      for (auto it = s.fields.begin(); it != s.fields.end(); ++it)
        fields += "<span class=kvi>" + esc(it.key()) + " = " + cell(it.value()) + "</span> ";
      h += "<tr><td>" + esc(s.label) + "</td><td class=formula>" + esc(s.formula) +
           "<div class=src>" + esc(s.curve_source) + "</div></td><td>" + fields + "</td></tr>";
    }
    h += "</table>";
  }
  return h;
}

}  // namespace

Result<ReportResult> write_report(const fs::path& data_dir, const fs::path& out_html) {
  const auto started = std::chrono::steady_clock::now();
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec))
    return fail_errno(ec ? ec.value() : ENOTDIR,
                      "report: " + data_dir.string() + " is not a run directory");
  Inputs in = gather(data_dir);

  // Traces: the budget is shared equally among the traces present.
  std::map<std::string, fs::path> trace_files;
  std::vector<std::string> trace_phases;
  for (const char* phase : kPhases)
    if (auto f = find_trace(data_dir, phase)) {
      trace_phases.emplace_back(phase);
      trace_files[phase] = *f;
    }
  bool simulated = false;
  if (in.manifest)
    if (const json* s = jget(*in.manifest, {"simulated"}); s && s->is_boolean())
      simulated = s->get<bool>();

  // Traces are built smallest file first, each given an equal share of what
  // the previous ones left of the budget, so short traces do not waste it.
  std::vector<std::pair<std::uintmax_t, std::string>> order;
  for (const auto& phase : trace_phases)
    order.emplace_back(fs::file_size(trace_files.at(phase), ec), phase);
  std::sort(order.begin(), order.end());
  std::map<std::string, std::pair<json, std::string>> built_traces;
  std::map<std::string, json> health_by_phase;
  std::size_t values = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::string& phase = order[k].second;
    const fs::path trace = trace_files.at(phase);
    detail::TraceInput ti;
    ti.phase = phase;
    ti.trace = trace;
    const fs::path meta_path = trace.string() + ".meta.json";
    if (auto m = detail::read_json(meta_path)) {
      ti.meta = *m;
      if (const json* s = jget(*m, {"simulated"}); s && s->is_boolean() && s->get<bool>())
        simulated = true;
    } else {
      in.missing.push_back(meta_path.filename().string());
    }
    const fs::path ev = data_dir / fmt::format("events-{}.csv", phase);
    if (fs::exists(ev))
      ti.markers = read_markers(ev);
    else
      in.missing.push_back(ev.filename().string());
    ti.overlays = overlays_for(in, phase);
    ti.host_threads = in.threads;
    const std::size_t left = values < kValueBudget ? kValueBudget - values : 0;
    ti.budget_values = left / (order.size() - k);
    ti.overview_buckets = kOverviewBuckets;
    auto out = detail::build_trace(ti);
    if (!out) {
      note_error(in, trace.filename().string(), out.error());
      continue;
    }
    if (out->chart.value("simulated", false)) simulated = true;
    values += out->values;
    health_by_phase[phase] = std::move(out->health);
    built_traces[phase] = std::pair{std::move(out->chart), std::move(out->levels_js)};
  }

  json traces = json::array();
  std::vector<std::string> level_blobs;
  std::vector<json> health;
  for (const char* phase : kPhases) {
    std::optional<std::pair<json, std::string>> built;
    if (auto it = built_traces.find(phase); it != built_traces.end()) {
      built = std::move(it->second);
      health.push_back(std::move(health_by_phase[phase]));
    } else if (std::find(trace_phases.begin(), trace_phases.end(), phase) == trace_phases.end()) {
      in.missing.push_back(fmt::format("trace-{}{}", phase, kTraceSuffixes[0]));
    }
    if (!built && in.csv.contains(phase)) {
      built = csv_timeseries(in.csv.at(phase), in.threads);
      if (built) built->first["phase"] = phase;
    }
    if (built) {
      built->first["blob"] = level_blobs.size();
      traces.push_back(std::move(built->first));
      level_blobs.push_back(std::move(built->second));
    }
  }

  // Figure 2: per-step models over the training points.
  std::vector<std::pair<int, Points>> training;
  for (int step : {25, 50, 100})
    if (auto it = in.csv.find(fmt::format("training-{}", step)); it != in.csv.end())
      training.emplace_back(step, training_points(it->second));
  json xy = json::array();
  for (const auto& [step, pts] : training) {
    XyChart c;
    c.id = fmt::format("model-{}", step);
    c.title = fmt::format("Step {}: host power model over the training windows", step);
    c.x_label = "host load (%)";
    c.y_label = "package-global (W)";
    c.series.push_back({"training windows", false, pts});
    for (const auto& [method, view] : in.model)
      for (const auto& s : view.steps)
        if (s.step_pct == step && !s.curve.empty())
          c.series.push_back({"model (" + method + ")", true, s.curve});
    if (c.series.size() == 1) c.note = "no fitted curve for this step in the model files";
    xy.push_back(c.to_json());
  }

  // Figure 3: isolated estimate and ground truth against the VM's load.
  const double per_host = in.threads ? 1.0 / *in.threads : 1.0;
  const std::string vm_axis =
      in.threads ? "VM load (% of host: vm / threads)" : "VM load (% of one CPU; threads unknown)";
  {
    XyChart c;
    c.id = "isolated";
    c.title = "Isolated power: estimates and ground truth against VM load";
    c.x_label = vm_axis;
    c.y_label = "W";
    if (auto it = in.csv.find("groundtruth"); it != in.csv.end()) {
      Points gt = column_pairs(it->second, "vm", "package-global-watt");
      for (auto& [vm, w] : gt) vm *= per_host;
      c.series.push_back({"ground truth (VM alone)", false, gt});
    }
    for (const auto& [method, t] : in.isolated) {
      auto vc = t.column("vm"), ic = t.column("isolated_w"), sc = t.column("share_pct");
      if ((!vc && !sc) || !ic) continue;
      Points p;
      // share_pct (the model's own VM share of the host, %) when written.
      for (std::size_t r = 0; r < t.rows.size(); ++r)
        p.emplace_back(sc && in.threads ? t.number(r, *sc) : t.number(r, *vc) * per_host,
                       t.number(r, *ic));
      c.series.push_back({"isolated estimate (" + method + ")", false, p});
    }
    if (!c.empty()) xy.push_back(c.to_json());
  }
  // Figure 4: the Cinergy ratio against host load.
  {
    XyChart c;
    c.id = "ratio";
    c.title = "Cinergy ratio (bottom-up / isolated) against host load";
    c.x_label = "host load (%)";
    c.y_label = "ratio";
    // Host load of the cloud-like windows, for estimates without their own.
    const std::map<std::int64_t, double> cloud_load =
        in.csv.contains("cloudlike") ? by_second(in.csv.at("cloudlike"), "cpu%_package-global")
                                     : std::map<std::int64_t, double>{};
    for (const auto& [method, t] : in.isolated) {
      auto rc = t.column("ratio"), tc = t.column("timestamp");
      if (!rc) continue;
      std::optional<std::size_t> hc;
      for (auto name : {"host_util_pct", "host_cpu_pct", "host_load_pct", "cpu%_package-global"})
        if (!hc) hc = t.column(name);
      Points p;
      for (std::size_t r = 0; r < t.rows.size(); ++r) {
        double x = hc ? t.number(r, *hc) : kNaN;
        if (!std::isfinite(x) && tc) {
          const double ts = t.number(r, *tc);
          if (std::isfinite(ts))
            if (auto l = cloud_load.find(std::llround(ts)); l != cloud_load.end()) x = l->second;
        }
        p.emplace_back(x, t.number(r, *rc));
      }
      c.series.push_back({"ratio (" + method + ")", false, p});
    }
    if (!c.empty()) xy.push_back(c.to_json());
  }
  if (xy.empty()) in.missing.push_back("data for the model/isolated/ratio figures");

  std::string host = "unknown host";
  if (in.manifest)
    if (const json* n = jget(*in.manifest, {"host", "name"}); n && n->is_string())
      host = n->get<std::string>();
  if (host == "unknown host")
    if (auto p = detail::find_original_csv(data_dir, "groundtruth"))
      host = p->filename().string().substr(0, p->filename().string().size() - 16);

  json data = {{"host", host},    {"simulated", simulated}, {"traces", traces},
               {"xy", xy},        {"missing", in.missing},  {"value_budget", kValueBudget},
               {"values", values}};

  std::string html;
  html.reserve(1 << 20);
  html += "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n";
  html += "<meta name=viewport content=\"width=device-width, initial-scale=1\">\n";
  html += "<title>Cinergy report: " + esc(host) + (simulated ? " (SIMULATED power)" : "") +
          "</title>\n";
  html +=
      "<!--\nCharts drawn with uPlot 1.6.32 (https://github.com/leeoniya/uPlot), embedded "
      "below under its licence:\n\n";
  html += assets::uplot_license;
  html += "\n-->\n<style>\n";
  html += assets::uplot_css;
  html += "\n</style>\n<style>\n";
  html += assets::report_css;
  html += "\n</style>\n";
  // Errors are collected from the very start (before uPlot loads) so the
  // browser test can read them back from the page.
  html +=
      "<script>window.cinergyErrors=[];addEventListener('error',function(e){"
      "cinergyErrors.push(String(e.message||e))});</script>\n</head><body>\n";
  if (simulated)
    html +=
        "<div class=\"banner sim\" id=sim-banner>SIMULATED POWER: the energy in this run comes "
        "from the simulated meter (a SPECpower curve driven by measured CPU load), not from "
        "RAPL. Do not read these watts as measurements.</div>\n";
  html += "<header><h1>Cinergy report: " + esc(host) + "</h1><p class=sub>Run directory <code>" +
          esc(fs::absolute(data_dir).lexically_normal().string()) +
          "</code>; power source: " + (simulated ? "<b class=sim>simulated</b>" : "measured") +
          "</p></header>\n";
  if (!in.missing.empty() || !in.problems.empty()) {
    html += "<section class=missing id=missing><h2>Missing from this directory</h2><ul>";
    for (const auto& m : in.missing) html += "<li>" + esc(m) + "</li>";
    for (const auto& p : in.problems) html += "<li class=warn>unreadable: " + esc(p) + "</li>";
    html += "</ul><p>The figures below show what exists.</p></section>\n";
  }
  html += "<section id=health><h2>Run health</h2>" + health_html(in, health, simulated) +
          "</section>\n";
  html +=
      "<section id=timeseries><h2>1. Time series per scenario</h2><p class=help>Drag to zoom "
      "(finer data is loaded as you zoom in), double-click or <i>reset</i> to zoom out, click a "
      "legend entry to hide/show a series. Vertical lines: level boundaries.</p>"
      "<div id=ts-charts></div></section>\n";
  html +=
      "<section id=models><h2>2. Host power model per step</h2><div id=model-charts></div>"
      "</section>\n";
  html +=
      "<section id=isolated-sec><h2>3. Isolated estimate and ground truth</h2><div "
      "id=isolated-charts></div></section>\n";
  html +=
      "<section id=ratio-sec><h2>4. Cinergy ratio against host load</h2><div "
      "id=ratio-charts></div></section>\n";
  html += "<section id=metrics-sec><h2>5. Evaluation metrics and model formulas</h2>" +
          metrics_html(in) + "</section>\n";
  html += "<script type=application/json id=cinergy-data>" + script_json(data) + "</script>\n";
  for (std::size_t i = 0; i < level_blobs.size(); ++i)
    html += fmt::format("<script type=application/json id=cinergy-levels-{}>", i) + level_blobs[i] +
            "</script>\n";
  html += "<script>\n";
  html += assets::uplot_js;
  html += "\n</script>\n<script>\n";
  html += assets::report_js;
  html += "\n</script>\n</body></html>\n";

  const fs::path tmp = out_html.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return fail_errno(errno ? errno : EIO, "report: cannot write " + tmp.string());
    out.write(html.data(), static_cast<std::streamsize>(html.size()));
    out.flush();
    if (!out) return fail_errno(errno ? errno : EIO, "report: cannot write " + tmp.string());
  }
  fs::rename(tmp, out_html, ec);
  if (ec) return fail_errno(ec.value(), "report: cannot write " + out_html.string());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("report: wrote {} ({} bytes, {} numbers embedded, {:.0f} ms)", out_html.string(),
               html.size(), values, ms);
  ReportResult result;
  result.missing = in.missing;
  return result;
}

}  // namespace cinergy::report
