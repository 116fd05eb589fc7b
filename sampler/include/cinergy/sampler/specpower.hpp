// SPECpower_ssj2008 host power curves (data/specpower-curves.csv, see data/README.md),
// embedded in the binary at build time so the simulated meter works anywhere.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::sampler {

// A typical 2-socket server: Fujitsu PRIMERGY RX2520 M5, 2 x Xeon Gold 5220
// (36 cores, 72 threads, 2019), 61.5 W idle, 167 W at 50 %, 318 W at 100 %.
inline constexpr std::string_view kDefaultSimHost = "power_ssj2008-20190730-00996";

struct SpecCurve {
  std::string result_id, system, cpu_name;
  int cores = 0, chips = 0, threads = 0;
  std::array<double, 11> watts{};  // at 0 (active idle), 10, ..., 100 % load

  // Power in W at utilisation in [0, 1] (clamped): linear between the points.
  [[nodiscard]] double power_w(double utilisation) const;
};

// The CSV embedded at build time.
std::string_view embedded_specpower_csv();
// Parses the CSV (header with result_id, watts_idle, watts_10..watts_100).
Result<std::vector<SpecCurve>> parse_specpower_csv(std::string_view csv);
// Finds `result_id` (empty = kDefaultSimHost) in `csv_path`, or in the
// embedded CSV when csv_path is empty. Error: "unknown --sim-host ...".
Result<SpecCurve> find_spec_curve(std::string_view result_id,
                                  const std::filesystem::path& csv_path = {});

}  // namespace cinergy::sampler
