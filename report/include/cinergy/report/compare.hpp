// `cinergy compare`: several hosts side by side on one self-contained page,
// as the published notebook compares its six hosts: a table of both
// methods' metrics and the notebook's figures per host (the same figures
// `cinergy report` draws for one directory). Each directory is analysed in
// memory with the model library, exactly as `cinergy evaluate` would; no
// file is written into it.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::report {

struct CompareHost {
  std::filesystem::path dir;        // a run directory or a folder of original-format CSVs
  std::optional<int> host_threads;  // required unless its manifest.json gives it
};

struct CompareOptions {
  std::vector<CompareHost> hosts;  // at least one; shown in this order
  std::optional<int> vm_vcpus;     // default: each ground truth's CPUn columns
};

// Writes the page (to <out>.tmp, then renamed) and returns its summary: per
// host {name, dir, host_threads, vm_vcpus, simulated_power, paper, cinergy},
// the last two being `cinergy evaluate --json`'s objects. Errors: no host, a
// directory the model library cannot analyse (its message, which names the
// file), an unwritable output.
Result<nlohmann::json> write_compare(const CompareOptions& options,
                                     const std::filesystem::path& out_html);

}  // namespace cinergy::report
