// `cinergy bench ...`: measurements of Cinergy's own overhead and output size.
// Numbers on a shared machine are measurements, not assertions: see README
// "Performance" for the figures and the commands that produced them. Each area
// registers its own sub-subcommand (bench_<area>.cpp).
#include "commands.hpp"

namespace cinergy::cli {

void register_bench(CLI::App& app, int& exit_code) {
  auto* bench = app.add_subcommand("bench", "Measure Cinergy's own overhead (not tests)");
  bench->require_subcommand(1);
  register_bench_bpf(*bench, exit_code);
  register_bench_sampler(*bench, exit_code);
  register_bench_accuracy(*bench, exit_code);
  register_bench_serve(*bench, exit_code);
}

}  // namespace cinergy::cli
