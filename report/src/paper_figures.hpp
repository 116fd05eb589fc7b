// The notebook's figures of one host (docs/report.md, "The paper's
// figures"), drawn from what the model library computed: the report builds
// them from a directory's files, `cinergy compare` from its in-memory
// analysis of each directory, so both pages show the same figures.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cinergy/model/dataset.hpp"
#include "cinergy/model/estimate.hpp"
#include "cinergy/model/host_model.hpp"
#include "inputs.hpp"

namespace cinergy::report::detail {

struct HostFigures {
  std::string key;   // unique on the page, in the charts' ids ("" for the report's one host)
  std::string name;  // in the titles
  int threads = 0;   // host threads (0: unknown)
  int vm_vcpus = 0;  // 0: unknown
  const model::HostModel* paper = nullptr;  // nullptr: no paper model
  const model::HostModel* cinergy = nullptr;
  std::vector<model::EstimateRow> paper_rows, cinergy_rows;  // cloud-like estimates
  const model::Table* groundtruth = nullptr;
  const model::Table* training50 = nullptr;
};

// The ids' figure names, in page order; each host's chart ids are
// "paper-<figure>" followed by "-<key>" when key is not empty.
inline constexpr const char* kPaperFigures[] = {"isolated", "boxes",     "exclude",
                                                "tdbu-low", "tdbu-high", "ratio"};

// The figures of one host that it has the data for (chart specs as
// figures.cpp's, boxes and all), each into the element
// "<container_prefix><figure>". `small`: side by side in a grid (compare).
std::vector<nlohmann::json> paper_figures(const HostFigures& h, const std::string& container_prefix,
                                          bool small);

// All hosts' Cinergy ratio (paper method) with its polynomial in one chart
// (compare), into `container`; nullopt without any ratio.
std::optional<nlohmann::json> ratio_overview(const std::vector<HostFigures>& hosts,
                                             const std::string& container);

// Estimate rows as the report reads them back from isolated*.csv (columns
// by name; a column it lacks is NaN; the values are the file's 4 decimals).
std::vector<model::EstimateRow> rows_from_isolated_csv(const CsvTable& t);

}  // namespace cinergy::report::detail
