// The two sections drawn as HTML tables in C++: run health (manifest facts,
// per-trace sampling figures) and the metrics and model formulas.
#include "sections.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

#include "html.hpp"

namespace cinergy::report::detail {

using nlohmann::json;

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
       "<th>invariant violations / intervals</th><th>interrupted</th><th>file state</th></tr>";
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
    // Every interval of the trace checked against the CPU and power bounds
    // (the sampler's invariants); absent in traces of older versions.
    std::string invariants = "–";
    if (const json* v = jget(meta, {"summary", "invariants", "violations"}); v && v->is_number()) {
      const auto n = v->get<std::uint64_t>();
      invariants = (n == 0 ? std::string("0") : fmt::format("<b class=warn>{}</b>", n)) + " / " +
                   mv({"summary", "invariants", "intervals"});
    }
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
         mv({"summary", "lateness_us", "max"}) + "</td><td>" + invariants + "</td><td>" +
         mv({"summary", "interrupted"}) + "</td><td>" + state + "</td></tr>";
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
          if (it.value().is_primitive() && it.key() != "by_position" &&
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
    // Matched by position in the test VM's replayed profile (evaluate's
    // "by_position"), when an evaluation has it.
    bool by_position = false;
    for (const auto& [m, j] : in.evaluation)
      by_position = by_position ||
                    (j.is_object() && j.contains("by_position") && j["by_position"].is_object());
    if (by_position)
      for (const char* k : {"n", "rejected_share", "rmse_w", "mae_w", "mape_pct", "coverage_pct"}) {
        h += "<tr><th>by profile position: " + esc(k) + "</th>";
        for (const auto& [m, j] : in.evaluation) {
          const json* v = jget(j, {"by_position", k});
          h += "<td>" + (v != nullptr ? cell(*v) : std::string("–")) + "</td>";
        }
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

}  // namespace cinergy::report::detail
