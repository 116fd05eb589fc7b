// fit, predict, estimate, evaluate: the isolation model (docs/model.md).
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cinergy/model/analyze.hpp"
#include "cinergy/model/dataset.hpp"
#include "cinergy/model/estimate.hpp"
#include "cinergy/model/host_model.hpp"
#include "commands.hpp"

namespace cinergy::cli {
namespace {

namespace m = cinergy::model;

struct CommonFlags {
  std::string path;
  std::optional<int> host_threads;
  std::optional<int> vm_vcpus;
  std::string method = "cinergy";
  bool json = false;
};

void add_common(CLI::App* cmd, CommonFlags& f) {
  cmd->add_option("PATH", f.path, "Folder of <prefix>-training-*.csv etc. or a cinergy run folder")
      ->required();
  cmd->add_option("--host-threads", f.host_threads,
                  "Logical CPUs of the host (required unless manifest.json gives it)");
  cmd->add_option("--vm-vcpus", f.vm_vcpus,
                  "vCPUs of the VM (default: CPUn columns of the ground truth)");
  cmd->add_option("--method", f.method, "cinergy (default) or paper");
  cmd->add_flag("--json", f.json, "Print JSON on stdout");
}

int run_fit(const CommonFlags& f, const std::string& out) {
  auto method = m::parse_method(f.method);
  if (!method) return report_error(method.error().what());
  auto data = m::load_dataset(f.path);
  if (!data) return report_error(data.error().what());
  auto model = m::fit_model(*data, {*method, f.host_threads, f.vm_vcpus});
  if (!model) return report_error(model.error().what());
  const auto j = m::to_json(*model);
  if (!out.empty())
    if (auto r = m::save_json(j, out); !r) return report_error(r.error().what());
  if (f.json)
    std::printf("%s\n", j.dump(2).c_str());
  else
    std::printf("%s", m::describe(*model).c_str());
  return 0;
}

int run_predict(const std::string& model_file, const std::vector<double>& utils,
                std::optional<double> step, bool interval) {
  auto model = m::load_model(model_file);
  if (!model) return report_error(model.error().what());
  if (step && !(*step > 0 && *step <= 100))
    return report_error(fmt::format("--step must be in (0, 100] (got {})", *step));
  for (double u : utils)
    if (!std::isfinite(u) || u < 0 || u > 100)
      return report_error(fmt::format("--host-util must be in [0, 100] % (got {})", u));
  if (model->simulated_power)
    std::fprintf(stderr,
                 "cinergy: warning: SIMULATED POWER: the model was fitted on simulated energy\n");
  if (interval && model->method == m::Method::paper)
    return report_error("--interval: the paper method gives no interval (the notebook has none)");
  for (double u : utils) {
    const double s = step.value_or(50.0);
    if (!interval) {
      std::printf("%.4f\n", model->power_w(u, s));
      continue;
    }
    const auto iv = model->isolated_interval(u, s);
    std::printf("%.4f %.4f %.4f\n", model->power_w(u, s), iv.low_w, iv.high_w);
  }
  return 0;
}

int run_estimate(const std::string& path, const std::string& model_file, const std::string& out,
                 const std::string& scenario) {
  auto model = m::load_model(model_file);
  if (!model) return report_error(model.error().what());
  auto data = m::load_dataset(path);
  if (!data) return report_error(data.error().what());
  const auto& table = scenario == "groundtruth" ? data->groundtruth : data->cloudlike;
  if (!table)
    return report_error(fmt::format("{}/{}-{}.csv: missing", path, data->prefix, scenario));
  auto rows = m::estimate(*model, *table);
  if (!rows) return report_error(rows.error().what());
  if (auto r = m::write_estimate_csv(*rows, out); !r) return report_error(r.error().what());
  if (model->simulated_power) std::printf("WARNING: SIMULATED POWER (from the model)\n");
  std::printf("%zu windows written to %s (method %s)\n", rows->size(), out.c_str(),
              std::string(m::method_name(model->method)).c_str());
  return 0;
}

std::string fmt_num(const nlohmann::json& v, const char* spec) {
  if (!v.is_number()) return "n/a";
  return fmt::format(fmt::runtime(spec), v.get<double>());
}

int run_evaluate(const CommonFlags& f, const std::string& out_dir) {
  auto method = m::parse_method(f.method);
  if (!method) return report_error(method.error().what());
  m::AnalyzeOptions o;
  o.data_dir = f.path;
  o.host_threads = f.host_threads;
  o.vm_vcpus = f.vm_vcpus;
  o.method = *method;
  o.out_dir = out_dir;
  auto j = m::analyze(o);
  if (!j) return report_error(j.error().what());
  if (f.json) {
    std::printf("%s\n", j->dump(2).c_str());
    return 0;
  }
  const auto& e = *j;
  if (e.value("simulated_power", false))
    std::printf(
        "WARNING: SIMULATED POWER: these figures come from modelled, not measured, energy\n");
  // The paper method says it is the notebook's arithmetic (docs/model.md).
  std::string label = e["method"].get<std::string>();
  if (const auto a = e.find("arithmetic"); a != e.end() && a->is_string())
    label += " (the notebook's arithmetic, " + a->get<std::string>() + ")";
  std::printf("method %s: n %zu matched (of %zu cloud-like, %zu ground-truth windows)\n",
              label.c_str(), e["n"].get<std::size_t>(), e["n_cloudlike"].get<std::size_t>(),
              e["n_groundtruth"].get<std::size_t>());
  std::printf("R2 %s  RMSE %s W  MAE %s W  MAPE %s %%\n", fmt_num(e["r2"], "{:.3f}").c_str(),
              fmt_num(e["rmse_w"], "{:.3f}").c_str(), fmt_num(e["mae_w"], "{:.3f}").c_str(),
              fmt_num(e["mape_pct"], "{:.2f}").c_str());
  if (const auto p = e.find("by_position"); p != e.end() && p->is_object())
    std::printf(
        "by profile position: n %zu matched (%zu rejected by share)  RMSE %s W  MAE %s W  "
        "MAPE %s %%\n",
        (*p)["n"].get<std::size_t>(), (*p)["rejected_share"].get<std::size_t>(),
        fmt_num((*p)["rmse_w"], "{:.3f}").c_str(), fmt_num((*p)["mae_w"], "{:.3f}").c_str(),
        fmt_num((*p)["mape_pct"], "{:.2f}").c_str());
  std::printf("binned: RMSE %s W  MAPE %s %% over %zu bins\n",
              fmt_num(e["binned_rmse_w"], "{:.3f}").c_str(),
              fmt_num(e["binned_mape_pct"], "{:.2f}").c_str(), e["binned"].size());
  for (const auto& [k, why] : e["null_reasons"].items())
    std::printf("%s: n/a (%s)\n", k.c_str(), why.get<std::string>().c_str());
  if (const auto note = m::extrapolation_note(e); !note.empty())
    std::printf("WARNING: %s\n", note.c_str());
  return 0;
}

}  // namespace

void register_model(CLI::App& app, int& exit_code) {
  {
    auto flags = std::make_shared<CommonFlags>();
    auto out = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("fit", "Fit the host power model from training staircases");
    add_common(cmd, *flags);
    cmd->add_option("-o,--output", *out, "Write the model JSON here")->required();
    cmd->callback([&exit_code, flags, out] { exit_code = run_fit(*flags, *out); });
  }
  {
    auto model = std::make_shared<std::string>();
    auto utils = std::make_shared<std::vector<double>>();
    auto step = std::make_shared<std::optional<double>>();
    auto interval = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("predict", "Predicted host power (W) at given host loads");
    cmd->add_option("--model", *model, "model.json from `cinergy fit`")->required();
    cmd->add_option("--host-util", *utils, "Host load in % (repeatable)")->required();
    cmd->add_option("--step", *step,
                    "Per-CPU load of the busy CPUs in % (25, 50, 100 or between; default 50)");
    cmd->add_flag(
        "--interval", *interval,
        "Print 'W LOW HIGH': the estimate and its nominal 90 % interval (Cinergy method)");
    cmd->callback([&exit_code, model, utils, step, interval] {
      exit_code = run_predict(*model, *utils, *step, *interval);
    });
  }
  {
    auto path = std::make_shared<std::string>();
    auto model = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    auto scenario = std::make_shared<std::string>("cloudlike");
    auto* cmd = app.add_subcommand("estimate", "Isolated VM power per window of a scenario");
    cmd->add_option("PATH", *path, "Data folder")->required();
    cmd->add_option("--model", *model, "model.json from `cinergy fit`")->required();
    cmd->add_option("-o,--output", *out, "CSV to write")->required();
    cmd->add_option("--scenario", *scenario, "cloudlike (default) or groundtruth")
        ->check(CLI::IsMember({"cloudlike", "groundtruth"}));
    cmd->callback([&exit_code, path, model, out, scenario] {
      exit_code = run_estimate(*path, *model, *out, *scenario);
    });
  }
  {
    auto flags = std::make_shared<CommonFlags>();
    auto out = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand(
        "evaluate", "Fit, estimate the cloud-like scenario and compare with the ground truth");
    add_common(cmd, *flags);
    cmd->add_option("-o,--output-dir", *out,
                    "Also write model<s>.json, isolated<s>.csv, evaluation<s>.json here");
    cmd->callback([&exit_code, flags, out] { exit_code = run_evaluate(*flags, *out); });
  }
}

}  // namespace cinergy::cli
