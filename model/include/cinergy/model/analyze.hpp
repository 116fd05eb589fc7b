// One-call analysis of a data directory, used by `cinergy run` after the
// scenarios (and by `cinergy evaluate`). The detailed API (datasets, fitting,
// prediction) lives in the other headers of this folder.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cinergy/common/error.hpp"

namespace cinergy::model {

enum class Method { cinergy, paper };

struct AnalyzeOptions {
  // A directory of original-format CSVs (<prefix>-training-25.csv, ...,
  // -groundtruth.csv, -cloudlike.csv) or a cinergy run directory.
  std::filesystem::path data_dir;
  std::optional<int> host_threads;  // required unless a manifest.json gives it
  std::optional<int> vm_vcpus;      // default: number of CPUn columns in the ground truth
  Method method = Method::cinergy;
  // Where model<suffix>.json, isolated<suffix>.csv and evaluation<suffix>.json
  // are written; suffix is "" for cinergy and "-paper" for the paper method.
  std::filesystem::path out_dir;
};

// Fits, estimates and evaluates; writes the three files; returns the
// evaluation object (the same JSON as `cinergy evaluate --json`).
Result<nlohmann::json> analyze(const AnalyzeOptions& options);

}  // namespace cinergy::model
