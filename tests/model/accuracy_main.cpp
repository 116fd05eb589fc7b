// model_accuracy [--seed S] [--keep DIR]: generates the accuracy hosts and
// prints the table of docs/model.md (error of both methods against the truth).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "accuracy.hpp"
#include "temp_dir.hpp"

int main(int argc, char** argv) {
  using namespace cinergy::model::testing;
  std::uint64_t seed = 1;
  std::string keep;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seed" && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--keep" && i + 1 < argc)
      keep = argv[++i];
    else {
      std::fprintf(stderr, "usage: model_accuracy [--seed S] [--keep DIR]\n");
      return 2;
    }
  }
  const auto curves = load_spec_curves(std::string(CINERGY_DATA_DIR) + "/specpower-curves.csv");
  cinergy::test::TempDir tmp;
  std::vector<AccuracyRow> rows;
  for (const auto& [curve, params] : accuracy_hosts(curves, seed)) {
    const auto dir = (keep.empty() ? tmp.path() : std::filesystem::path(keep)) /
                     ("host-" + std::to_string(params.threads));
    auto row = run_accuracy_host(curve, params, dir);
    if (!row) {
      std::fprintf(stderr, "model_accuracy: %s\n", row.error().what().c_str());
      return 1;
    }
    std::fprintf(stderr, "%d threads: paper %.2f W, cinergy %.2f W (gamma %.2f)\n", params.threads,
                 row->paper.rmse_truth_w, row->cinergy.rmse_truth_w, row->host.gamma);
    rows.push_back(std::move(*row));
  }
  std::printf("%s", accuracy_table(rows).c_str());
  return 0;
}
