// The self-contained HTML report of a run directory (or of a directory of
// original-format CSVs): one file, no network needed to open it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::report {

struct ReportResult {
  std::vector<std::string> missing;  // what the directory lacked (said in the report too)
};

Result<ReportResult> write_report(const std::filesystem::path& data_dir,
                                  const std::filesystem::path& out_html);

}  // namespace cinergy::report
