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
#include <string>
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

struct CompareResult {
  // Per host shown: {name, dir, host_threads, vm_vcpus, simulated_power,
  // paper_step50, paper, cinergy}, the last two `cinergy evaluate --json`'s
  // objects. Hosts of the same name are told apart by their directory:
  // "name (dir basename)", or the whole path when the basenames agree too.
  nlohmann::json hosts = nlohmann::json::array();
  // "<dir>: <why>" of each directory left out: the model library could not
  // analyse it (its message names the file). Listed on the page too.
  std::vector<std::string> skipped;
};

// Writes the page (to <out>.tmp, then renamed). A directory that cannot be
// analysed is skipped (CompareResult::skipped); errors: no directory given,
// none usable (each one's reason), an unwritable output.
Result<CompareResult> write_compare(const CompareOptions& options,
                                    const std::filesystem::path& out_html);

}  // namespace cinergy::report
