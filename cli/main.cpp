// cinergy: what would this VM draw alone on this host?
#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "commands.hpp"

namespace cinergy::cli {
int report_error(const std::string& message) {
  std::fprintf(stderr, "cinergy: %s\n", message.c_str());
  return 1;
}
}  // namespace cinergy::cli

int main(int argc, char** argv) {
  // Logs go to stderr so that --json output on stdout stays machine-readable.
  auto logger = spdlog::stderr_color_mt("cinergy");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  spdlog::set_level(spdlog::level::info);
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=debug

  CLI::App app{"cinergy: measure the power a VM would draw alone on its host"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Debug logging (also SPDLOG_LEVEL=debug)");
  app.parse_complete_callback([&] {
    if (verbose) spdlog::set_level(spdlog::level::debug);
  });

  int exit_code = 0;
  cinergy::cli::register_probe(app, exit_code);
  cinergy::cli::register_record(app, exit_code);
  cinergy::cli::register_model(app, exit_code);
  cinergy::cli::register_run(app, exit_code);
  cinergy::cli::register_report(app, exit_code);
  cinergy::cli::register_serve(app, exit_code);
  cinergy::cli::register_compare(app, exit_code);
  cinergy::cli::register_bench(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; flag errors exit non-zero with one line.
    if (e.get_exit_code() == 0) return app.exit(e);
    return cinergy::cli::report_error(e.what());
  } catch (const std::exception& e) {
    return cinergy::cli::report_error(e.what());
  }
  return exit_code;
}
