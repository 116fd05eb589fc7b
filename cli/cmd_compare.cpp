// `cinergy compare PATH... -o compare.html`: several hosts side by side, as
// the published notebook compares its six (docs/report.md, "cinergy compare").
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cinergy/report/compare.hpp"
#include "commands.hpp"

namespace cinergy::cli {
namespace {

struct Options {
  std::vector<std::string> paths;
  std::vector<int> host_threads;
  std::optional<int> vm_vcpus;
  std::string out = "compare.html";
  bool json = false;
};

std::string num(const nlohmann::json& e, const char* key, const char* spec) {
  const auto it = e.find(key);
  if (it == e.end() || !it->is_number()) return "n/a";
  return fmt::format(fmt::runtime(spec), it->get<double>());
}

int run_compare(const Options& o) {
  // --host-threads: none (each manifest gives it), one for every PATH, or
  // one per PATH in order.
  if (!o.host_threads.empty() && o.host_threads.size() != 1 &&
      o.host_threads.size() != o.paths.size())
    return report_error(fmt::format(
        "--host-threads: give it once (every PATH) or once per PATH ({} paths, {} values)",
        o.paths.size(), o.host_threads.size()));
  report::CompareOptions co;
  co.vm_vcpus = o.vm_vcpus;
  for (std::size_t i = 0; i < o.paths.size(); ++i) {
    report::CompareHost h;
    h.dir = o.paths[i];
    if (!o.host_threads.empty())
      h.host_threads = o.host_threads[o.host_threads.size() == 1 ? 0 : i];
    co.hosts.push_back(std::move(h));
  }
  auto result = report::write_compare(co, o.out);
  if (!result) return report_error(result.error().what());
  for (const auto& why : result->skipped)
    std::fprintf(stderr, "warning: skipped %s\n", why.c_str());
  if (o.json) {
    std::printf("%s\n", result->hosts.dump(2).c_str());
    return 0;
  }
  for (const auto& h : result->hosts) {
    std::printf("%s (%d threads, %d vCPUs%s):\n", h["name"].get<std::string>().c_str(),
                h["host_threads"].get<int>(), h["vm_vcpus"].get<int>(),
                h["simulated_power"].get<bool>() ? ", SIMULATED POWER" : "");
    for (const char* m : {"paper", "cinergy"}) {
      const auto& e = h[m];
      std::printf("  %-7s n %zu  R2 %s  RMSE %s W  MAE %s W  MAPE %s %%  binned RMSE %s W\n", m,
                  e["n"].get<std::size_t>(), num(e, "r2", "{:.3f}").c_str(),
                  num(e, "rmse_w", "{:.3f}").c_str(), num(e, "mae_w", "{:.3f}").c_str(),
                  num(e, "mape_pct", "{:.2f}").c_str(), num(e, "binned_rmse_w", "{:.3f}").c_str());
    }
  }
  std::printf("compare: %s\n", o.out.c_str());
  return 0;
}

}  // namespace

void register_compare(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "compare", "Several hosts side by side: both methods' metrics and the paper's figures");
  cmd->add_option("PATH", o->paths, "Run directories or folders of original-format CSVs")
      ->required();
  cmd->add_option("-o,--out", o->out, "Output HTML file (default: compare.html)");
  cmd->add_option("--host-threads", o->host_threads,
                  "Logical CPUs of the hosts: once for all, or once per PATH in order (required "
                  "for a PATH without manifest.json)")
      ->take_all()
      ->allow_extra_args(false);
  cmd->add_option("--vm-vcpus", o->vm_vcpus,
                  "vCPUs of the VM (default: CPUn columns of each ground truth)");
  cmd->add_flag("--json", o->json, "Print the per-host summary as JSON on stdout");
  cmd->callback([o, &exit_code] { exit_code = run_compare(*o); });
}

}  // namespace cinergy::cli
