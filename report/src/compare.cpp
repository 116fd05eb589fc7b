// write_compare(): each directory analysed with the model library (both
// methods, in memory), then one page: the metrics table and the notebook's
// figures per host (paper_figures.cpp, the report's own), side by side.
#include "cinergy/report/compare.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <map>
#include <string>

#include "cinergy/model/dataset.hpp"
#include "cinergy/model/estimate.hpp"
#include "html.hpp"
#include "inputs.hpp"
#include "paper_figures.hpp"

namespace cinergy::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Host {
  std::string name;
  fs::path dir;
  model::DataSet data;
  model::Analysis paper, cinergy;
};

// A metric with a fixed number of decimals; "–" (with the reason as a
// tooltip) when the evaluation has none.
std::string metric(const json& eval, const char* key, int decimals) {
  const auto it = eval.find(key);
  if (it != eval.end() && it->is_number())
    return "<td class=num>" + fmt::format("{:.{}f}", it->get<double>(), decimals) + "</td>";
  std::string why;
  if (const json* r = detail::jget(eval, {"null_reasons", key}); r && r->is_string())
    why = r->get<std::string>();
  return "<td class=num title=\"" + detail::esc(why) + "\">–</td>";
}

std::string table_html(const std::vector<Host>& hosts) {
  std::string h =
      "<table class=grid id=compare-table><tr><th rowspan=2>host</th><th rowspan=2>threads</th>"
      "<th rowspan=2>VM vCPUs</th><th rowspan=2>power</th><th colspan=2>paper step 50</th>"
      "<th colspan=5>paper method (the notebook's)</th><th colspan=5>Cinergy method</th>"
      "<th colspan=2>binned RMSE (W)</th></tr><tr><th>exclude_beyond %</th><th>degree</th>";
  for (int m = 0; m < 2; ++m)
    h += "<th>n</th><th>R2</th><th>RMSE W</th><th>MAE W</th><th>MAPE %</th>";
  h += "<th>paper</th><th>cinergy</th></tr>";
  for (const auto& host : hosts) {
    const auto& pm = host.paper.model;
    const model::StepCurve* c50 = pm.curve(50);
    h += "<tr><td title=\"" + detail::esc(fs::absolute(host.dir).lexically_normal().string()) +
         "\">" + detail::esc(host.name) + "</td><td class=num>" +
         fmt::format("{}", pm.host_threads) + "</td><td class=num>" +
         fmt::format("{}", pm.vm_vcpus) + "</td><td>" +
         (host.data.simulated_power ? "<b class=sim>simulated</b>" : "measured") +
         "</td><td class=num>" + fmt::format("{:.2f}", pm.fit_hi_pct) + "</td><td class=num>" +
         (c50 != nullptr ? fmt::format("{}", c50->fit.degree) : "–") + "</td>";
    for (const json* e : {&host.paper.evaluation, &host.cinergy.evaluation}) {
      h += "<td class=num>" + fmt::format("{}", e->value("n", 0)) + "</td>";
      h += metric(*e, "r2", 2) + metric(*e, "rmse_w", 2) + metric(*e, "mae_w", 2) +
           metric(*e, "mape_pct", 1);
    }
    h += metric(host.paper.evaluation, "binned_rmse_w", 2) +
         metric(host.cinergy.evaluation, "binned_rmse_w", 2) + "</tr>";
  }
  return h + "</table>";
}

std::string page(const std::vector<Host>& hosts, const std::vector<std::string>& skipped,
                 const json& data) {
  bool simulated = false;
  for (const auto& h : hosts) simulated = simulated || h.data.simulated_power;
  const std::string title =
      fmt::format("Cinergy compare: {} host{}", hosts.size(), hosts.size() == 1 ? "" : "s");
  std::string html = detail::html_head(title + (simulated ? " (SIMULATED power)" : ""));
  if (simulated)
    html +=
        "<div class=\"banner sim\" id=sim-banner>SIMULATED POWER: at least one host's energy "
        "comes from the simulated meter, not from RAPL (see the table's power column). Do not "
        "read those watts as measurements.</div>\n";
  html += "<header><h1>" + detail::esc(title) +
          "</h1><p class=sub>Each directory fitted, estimated and evaluated with both methods "
          "(as <code>cinergy evaluate</code> does); the paper method is the notebook's, float32 "
          "and all. Hover a host for its directory, a dash for why a metric is undefined.</p>"
          "</header>\n";
  html +=
      "<section id=metrics-sec><h2>1. Metrics</h2><p class=help>n, R2, RMSE, MAE, MAPE: every "
      "cloud-like window against the ground-truth window with the nearest VM share (the "
      "notebook's matching, for both methods); binned: mean estimate against mean ground truth "
      "per tenth of the ground truth's VM share range.</p>" +
      table_html(hosts);
  if (!skipped.empty()) {
    html += "<div class=missing id=skipped><b>Left out (cannot be analysed):</b><ul>";
    for (const auto& why : skipped) html += "<li>" + detail::esc(why) + "</li>";
    html += "</ul></div>";
  }
  html += "</section>\n";
  struct Sec {
    const char* figure;
    const char* heading;
  };
  const Sec secs[] = {
      {"isolated",
       "2. Isolated estimate and ground truth against VM load, idle power not owed "
       "to the VM removed"},
      {"boxes", "3. Ground truth per 50 % of VM load, with the estimates"},
      {"exclude", "4. exclude_beyond: the step-50 fit with and without"},
      {"tdbu-low", "5. Top-down against bottom-up, low VM load (1–10 % of its capacity)"},
      {"tdbu-high", "6. Top-down against bottom-up, high VM load (85–100 % of its capacity)"},
      {"ratio", "7. Cinergy ratio against host load, with its polynomial"}};
  for (const auto& s : secs) {
    html += fmt::format("<section id=sec-{}><h2>{}</h2>", s.figure, detail::esc(s.heading));
    if (std::string(s.figure) == "ratio") html += "<div id=pf-ratio-all></div>";
    html += fmt::format("<div id=pf-{} class=chart-grid></div></section>\n", s.figure);
  }
  html += detail::html_scripts(data, {});
  return html;
}

// The directory as an absolute, normal path without a trailing slash.
fs::path normal_dir(const fs::path& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p;
}

// Hosts of one name get their directory's basename beside it, or the whole
// path when two basenames agree as well.
void tell_apart(std::vector<Host>& hosts) {
  std::map<std::string, std::vector<Host*>> by_name;
  for (auto& h : hosts) by_name[h.name].push_back(&h);
  for (auto& [name, same] : by_name) {
    if (same.size() < 2) continue;
    std::map<std::string, int> bases;
    for (const Host* h : same) ++bases[normal_dir(h->dir).filename().string()];
    for (Host* h : same) {
      const fs::path d = normal_dir(h->dir);
      const std::string b = d.filename().string();
      h->name += " (" + (bases[b] > 1 ? d.string() : b) + ")";
    }
  }
}

}  // namespace

Result<CompareResult> write_compare(const CompareOptions& o, const fs::path& out_html) {
  if (o.hosts.empty()) return fail("compare: no directory given");
  CompareResult result;
  std::vector<Host> hosts;
  for (const auto& ch : o.hosts) {
    Host h;
    h.dir = ch.dir;
    auto analysed = [&]() -> Result<void> {
      auto data = model::load_dataset(ch.dir);
      if (!data) return std::unexpected(data.error());
      h.data = std::move(*data);
      for (auto [method, out] : {std::pair{model::Method::paper, &h.paper},
                                 std::pair{model::Method::cinergy, &h.cinergy}}) {
        auto a = model::analyze_dataset(h.data, {method, ch.host_threads, o.vm_vcpus});
        if (!a)
          return fail_errno(
              a.error().errno_value,
              fmt::format("{} method: {}", model::method_name(method), a.error().message));
        *out = std::move(*a);
      }
      return {};
    }();
    if (!analysed) {
      // The model library's messages name the directory or its file.
      std::string why = analysed.error().what();
      if (why.find(ch.dir.string()) == std::string::npos) why = ch.dir.string() + ": " + why;
      result.skipped.push_back(std::move(why));
      continue;
    }
    // The manifest's host name, else the files' prefix.
    h.name = h.data.prefix;
    if (auto m = detail::read_json(ch.dir / "manifest.json"))
      if (const json* n = detail::jget(*m, {"host", "name"}); n && n->is_string())
        h.name = n->get<std::string>();
    hosts.push_back(std::move(h));
  }
  if (hosts.empty()) {
    std::string all;
    for (const auto& why : result.skipped) all += (all.empty() ? "" : "; ") + why;
    return fail(fmt::format("compare: no usable directory ({})", all));
  }
  tell_apart(hosts);

  std::vector<detail::HostFigures> figures;
  json xy = json::array();
  json& summary = result.hosts;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const Host& h = hosts[i];
    detail::HostFigures f;
    f.key = fmt::format("h{}", i);
    f.name = h.name;
    f.threads = h.paper.model.host_threads;
    f.vm_vcpus = h.paper.model.vm_vcpus;
    f.paper = &h.paper.model;
    f.cinergy = &h.cinergy.model;
    f.paper_rows = h.paper.cloud;
    f.cinergy_rows = h.cinergy.cloud;
    f.groundtruth = h.data.groundtruth ? &*h.data.groundtruth : nullptr;
    if (auto t = h.data.training.find(50); t != h.data.training.end()) f.training50 = &t->second;
    figures.push_back(std::move(f));
    const model::StepCurve* c50 = h.paper.model.curve(50);
    summary.push_back({{"name", h.name},
                       {"dir", h.dir.string()},
                       {"host_threads", h.paper.model.host_threads},
                       {"vm_vcpus", h.paper.model.vm_vcpus},
                       {"simulated_power", h.data.simulated_power},
                       {"paper_step50",
                        {{"degree", c50 != nullptr ? c50->fit.degree : 0},
                         {"rank", c50 != nullptr ? c50->fit.rank : 0},
                         {"exclude_beyond_pct", h.paper.model.fit_hi_pct}}},
                       {"paper", h.paper.evaluation},
                       {"cinergy", h.cinergy.evaluation}});
  }
  if (auto overview = detail::ratio_overview(figures, "pf-ratio-all")) xy.push_back(*overview);
  for (const auto& f : figures)
    for (auto& spec : detail::paper_figures(f, "pf-", true)) xy.push_back(std::move(spec));
  const json data = {{"host", "compare"},
                     {"traces", json::array()},
                     {"xy", std::move(xy)},
                     {"missing", json::array()}};
  const std::string html = page(hosts, result.skipped, data);
  if (auto w = detail::write_page(out_html, html); !w) return std::unexpected(w.error());
  spdlog::info("compare: wrote {} ({} hosts, {} bytes)", out_html.string(), hosts.size(),
               html.size());
  return result;
}

}  // namespace cinergy::report
