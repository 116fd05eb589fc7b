// write_report(): gathers what a run directory holds (inputs.cpp), builds each
// section's part (sections.hpp: the charts' data in C++, downsampled and
// bounded in size; the tables as HTML), and writes one self-contained HTML
// file (html.cpp: uPlot and the glue script embedded, data as compact JSON).
#include "cinergy/report/report.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "html.hpp"
#include "inputs.hpp"
#include "paper_figures.hpp"
#include "sections.hpp"

namespace cinergy::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The manifest's "simulated" (the sidecars and trace rows are build_time_series').
bool manifest_says_simulated(const detail::Inputs& in) {
  if (!in.manifest) return false;
  const json* s = detail::jget(*in.manifest, {"simulated"});
  return s && s->is_boolean() && s->get<bool>();
}

// The manifest's host.name, else the prefix of <prefix>-groundtruth.csv.
std::string host_name(const detail::Inputs& in) {
  if (in.manifest)
    if (const json* n = detail::jget(*in.manifest, {"host", "name"}); n && n->is_string())
      return n->get<std::string>();
  constexpr std::string_view kSuffix = "-groundtruth.csv";
  if (auto p = detail::find_original_csv(in.dir, "groundtruth")) {
    const std::string name = p->filename().string();
    return name.substr(0, name.size() - kSuffix.size());
  }
  return "unknown host";
}

// The paper's figures of this directory, from its files: each method's model
// and estimates, the ground truth and the step-50 training CSV.
std::vector<json> paper_figures_of(const detail::Inputs& in) {
  detail::HostFigures h;
  h.name = host_name(in);
  if (auto it = in.model.find("paper"); it != in.model.end()) h.paper = &it->second.model;
  if (auto it = in.model.find("cinergy"); it != in.model.end()) h.cinergy = &it->second.model;
  for (const auto* m : {h.paper, h.cinergy})
    if (m != nullptr) {
      if (h.threads == 0) h.threads = m->host_threads;
      if (h.vm_vcpus == 0) h.vm_vcpus = m->vm_vcpus;
    }
  if (in.threads) h.threads = *in.threads;
  if (auto it = in.isolated.find("paper"); it != in.isolated.end())
    h.paper_rows = detail::rows_from_isolated_csv(it->second);
  if (auto it = in.isolated.find("cinergy"); it != in.isolated.end())
    h.cinergy_rows = detail::rows_from_isolated_csv(it->second);
  if (auto it = in.csv.find("groundtruth"); it != in.csv.end()) h.groundtruth = &it->second;
  if (auto it = in.csv.find("training-50"); it != in.csv.end()) h.training50 = &it->second;
  return detail::paper_figures(h, "pf-", false);
}

}  // namespace

Result<ReportResult> write_report(const fs::path& data_dir, const fs::path& out_html) {
  const auto started = std::chrono::steady_clock::now();
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec))
    return fail_errno(ec ? ec.value() : ENOTDIR,
                      "report: " + data_dir.string() + " is not a run directory");
  detail::Inputs in = detail::gather(data_dir);

  detail::TimeSeries series = detail::build_time_series(in);
  const bool simulated = manifest_says_simulated(in) || series.simulated;

  json xy = detail::model_figures(in);
  if (auto c = detail::isolated_figure(in)) xy.push_back(std::move(*c));
  if (auto c = detail::ratio_figure(in)) xy.push_back(std::move(*c));
  if (xy.empty()) in.missing.push_back("data for the model/isolated/ratio figures");
  for (auto& spec : paper_figures_of(in)) xy.push_back(std::move(spec));

  // Everything that may add to in.missing has run: the page lists it.
  detail::Page page;
  page.host = host_name(in);
  page.simulated = simulated;
  page.dir = data_dir;
  page.health_html = detail::health_html(in, series.health, simulated);
  page.metrics_html = detail::metrics_html(in);
  page.data = {
      {"host", page.host},      {"simulated", simulated}, {"traces", std::move(series.charts)},
      {"xy", std::move(xy)},    {"missing", in.missing},  {"value_budget", detail::kValueBudget},
      {"values", series.values}};
  page.missing = in.missing;
  page.problems = in.problems;
  page.level_blobs = std::move(series.level_blobs);
  const std::string html = detail::page_html(page);

  if (auto w = detail::write_page(out_html, html); !w) return std::unexpected(w.error());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("report: wrote {} ({} bytes, {} numbers embedded, {:.0f} ms)", out_html.string(),
               html.size(), series.values, ms);
  ReportResult result;
  result.missing = std::move(in.missing);
  return result;
}

}  // namespace cinergy::report
