// `cinergy report PATH -o report.html`: the self-contained HTML report of a
// run directory (or of a directory of original-format CSVs).
#include <filesystem>
#include <string>

#include <spdlog/spdlog.h>

#include "cinergy/report/report.hpp"
#include "commands.hpp"

namespace cinergy::cli {

void register_report(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "report", "Write one self-contained HTML report (interactive charts, no network needed)");
  struct Options {
    std::string path;
    std::string out;
  };
  auto opts = std::make_shared<Options>();
  cmd->add_option("PATH", opts->path, "Run directory, or a directory of original-format CSVs")
      ->required();
  cmd->add_option("-o,--out", opts->out, "Output HTML file (default: PATH/report.html)");
  cmd->callback([opts, &exit_code] {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(opts->path, ec)) {
      exit_code = report_error("report: " + opts->path +
                               (fs::exists(opts->path, ec) ? " is not a directory"
                                                          : " does not exist"));
      return;
    }
    const fs::path out = opts->out.empty() ? fs::path(opts->path) / "report.html" : fs::path(opts->out);
    auto result = report::write_report(opts->path, out);
    if (!result) {
      exit_code = report_error(result.error().what());
      return;
    }
    for (const auto& m : result->missing) spdlog::warn("report: missing {}", m);
    std::printf("report: %s\n", out.string().c_str());
    exit_code = 0;
  });
}

}  // namespace cinergy::cli
