// Subcommand registration. Each register_*() adds its subcommand(s) to the app
// and sets a callback that stores the exit code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace cinergy::cli {

void register_probe(CLI::App& app, int& exit_code);
void register_record(CLI::App& app, int& exit_code);
void register_model(CLI::App& app, int& exit_code);  // fit, predict, estimate, evaluate
void register_run(CLI::App& app, int& exit_code);
void register_report(CLI::App& app, int& exit_code);
void register_serve(CLI::App& app, int& exit_code);
void register_compare(CLI::App& app, int& exit_code);  // cmd_compare.cpp
void register_bench(CLI::App& app, int& exit_code);
void register_bench_bpf(CLI::App& bench, int& exit_code);       // bench_bpf.cpp
void register_bench_sampler(CLI::App& bench, int& exit_code);   // bench_sampler.cpp
void register_bench_accuracy(CLI::App& bench, int& exit_code);  // bench_accuracy.cpp
void register_bench_serve(CLI::App& bench, int& exit_code);     // bench_serve.cpp

// Prints "cinergy: <message>" on stderr (one line) and returns 1.
int report_error(const std::string& message);

}  // namespace cinergy::cli
