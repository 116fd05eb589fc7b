// model_truths: the accuracy benchmark over truths (docs/model.md,
// "Accuracy against truths"). Prints one line per case on stderr and the
// table on stdout.
//
//   model_truths [--kinds util,cores,freq,realistic] [--seeds 1,2]
//                [--hosts 8:intel,128:amd,power_ssj2008-...] [--vcpus 1,2,4,8]
//                [--loads even,skewed] [--keep DIR] [--csv FILE]
//                [--paper-trains-unpinned]
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "truth_bench.hpp"

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int usage() {
  std::fprintf(stderr,
               "usage: model_truths [--kinds util,cores,freq,realistic] [--seeds S,...] "
               "[--hosts THREADS:VENDOR|RESULT_ID,...] [--vcpus N,...] [--loads even,skewed] "
               "[--keep DIR] [--csv FILE] [--paper-trains-unpinned]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cinergy::model::testing;
  TruthBenchOptions o;
  std::string csv;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--paper-trains-unpinned") {  // not the paper's protocol: for comparison
      o.paper_trains_unpinned = true;
      continue;
    }
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    if (a == "--kinds") {
      o.kinds.clear();
      for (const auto& k : split(v)) {
        const auto kind = parse_truth(k);
        if (!kind) return usage();
        o.kinds.push_back(*kind);
      }
    } else if (a == "--seeds") {
      o.seeds.clear();
      for (const auto& s : split(v)) o.seeds.push_back(std::strtoull(s.c_str(), nullptr, 10));
    } else if (a == "--hosts") {
      o.hosts = split(v);
    } else if (a == "--vcpus") {
      o.vcpus.clear();
      for (const auto& s : split(v)) o.vcpus.push_back(std::atoi(s.c_str()));
    } else if (a == "--loads") {
      o.skewed.clear();
      for (const auto& s : split(v)) {
        if (s != "even" && s != "skewed") return usage();
        o.skewed.push_back(s == "skewed");
      }
    } else if (a == "--keep") {
      o.keep = v;
    } else if (a == "--csv") {
      csv = v;
    } else {
      return usage();
    }
  }
  const auto curves = load_spec_curves(std::string(CINERGY_DATA_DIR) + "/specpower-curves.csv");
  auto rs = run_truth_bench(o, curves, [](const TruthResult& r) {
    std::fprintf(stderr,
                 "%-9s %3dt %-5s %dv %-6s MAPE paper %6.3f %%  cinergy %6.3f %%  ratio %.2f  "
                 "coverage %5.1f %%%s\n",
                 std::string(truth_name(r.truth.kind)).c_str(), r.truth.host.threads(),
                 r.truth.host.vendor().c_str(), r.truth.vm.vcpus,
                 r.truth.vm.skewed ? "skewed" : "even", r.paper.mape_truth_pct,
                 r.cinergy.mape_truth_pct, r.ratio(), r.cinergy.coverage_pct,
                 r.ratio() > 1 ? "  WORSE" : "");
  });
  if (!rs) {
    std::fprintf(stderr, "model_truths: %s\n", rs.error().what().c_str());
    return 1;
  }
  if (!csv.empty()) std::ofstream(csv) << truth_cases_csv(*rs);
  std::printf("%s", truth_table(*rs).c_str());
  return 0;
}
