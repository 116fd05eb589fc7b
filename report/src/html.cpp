#include "html.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <fstream>

#include "assets.hpp"
#include "paper_figures.hpp"

namespace cinergy::report::detail {

using nlohmann::json;

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

std::string html_head(const std::string& title) {
  std::string html;
  html += "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n";
  html += "<meta name=viewport content=\"width=device-width, initial-scale=1\">\n";
  html += "<title>" + esc(title) + "</title>\n";
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
  return html;
}

std::string html_scripts(const json& data, const std::vector<std::string>& level_blobs) {
  std::string html;
  html += "<script type=application/json id=cinergy-data>" + script_json(data) + "</script>\n";
  for (std::size_t i = 0; i < level_blobs.size(); ++i)
    html += fmt::format("<script type=application/json id=cinergy-levels-{}>", i) + level_blobs[i] +
            "</script>\n";
  html += "<script>\n";
  html += assets::uplot_js;
  html += "\n</script>\n<script>\n";
  html += assets::report_js;
  html += "\n</script>\n</body></html>\n";
  return html;
}

Result<void> write_page(const std::filesystem::path& out_html, const std::string& html) {
  const std::filesystem::path tmp = out_html.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return fail_errno(errno ? errno : EIO, "report: cannot write " + tmp.string());
    out.write(html.data(), static_cast<std::streamsize>(html.size()));
    out.flush();
    if (!out) return fail_errno(errno ? errno : EIO, "report: cannot write " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, out_html, ec);
  if (ec) return fail_errno(ec.value(), "report: cannot write " + out_html.string());
  return ok();
}

std::string page_html(const Page& p) {
  std::string html;
  html.reserve(1 << 20);
  html += html_head("Cinergy report: " + p.host + (p.simulated ? " (SIMULATED power)" : ""));
  if (p.simulated)
    html +=
        "<div class=\"banner sim\" id=sim-banner>SIMULATED POWER: the energy in this run comes "
        "from the simulated meter (a SPECpower curve driven by measured CPU load), not from "
        "RAPL. Do not read these watts as measurements.</div>\n";
  html += "<header><h1>Cinergy report: " + esc(p.host) + "</h1><p class=sub>Run directory <code>" +
          esc(std::filesystem::absolute(p.dir).lexically_normal().string()) +
          "</code>; power source: " + (p.simulated ? "<b class=sim>simulated</b>" : "measured") +
          "</p></header>\n";
  if (!p.missing.empty() || !p.problems.empty()) {
    html += "<section class=missing id=missing><h2>Missing from this directory</h2><ul>";
    for (const auto& m : p.missing) html += "<li>" + esc(m) + "</li>";
    for (const auto& e : p.problems) html += "<li class=warn>unreadable: " + esc(e) + "</li>";
    html += "</ul><p>The figures below show what exists.</p></section>\n";
  }
  html += "<section id=health><h2>Run health</h2>" + p.health_html + "</section>\n";
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
          p.metrics_html + "</section>\n";
  html +=
      "<section id=paper-sec><h2>6. The paper's figures</h2><p class=help>The published "
      "notebook's figures, drawn from this directory's model files, estimates and CSVs (the "
      "paper method's numbers are the notebook's own, float32 and all; the Cinergy method's "
      "beside them). <code>cinergy compare DIR...</code> draws them for several hosts side by "
      "side.</p>";
  for (const char* f : kPaperFigures) html += fmt::format("<div id=pf-{}></div>", f);
  html += "</section>\n";
  html += html_scripts(p.data, p.level_blobs);
  return html;
}

}  // namespace cinergy::report::detail
