// The one place `cinergy serve` meets the host power model (model/): a
// small interface of its own, so that changes to the model library (new
// methods, prediction intervals) touch model_adapter.cpp only.
//
// Units: shares and intensities in %, power in W.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "cinergy/common/error.hpp"

namespace cinergy::serve::detail {

// Isolated power of one subject over one interval.
struct IsolatedEstimate {
  double watts = 0;  // host power if only this subject ran, idle included
  // The model's power of the host without the subject (its own background
  // load, same intensity): watts - idle = dynamic.
  double idle_watts = 0;
  // The model's nominal 90 % interval of `watts`, when it gives one (the
  // Cinergy method does; the paper method, as the notebook, does not: both
  // empty, and serve exposes no _low/_high series rather than inventing
  // numbers).
  std::optional<double> low_watts, high_watts;
};

class PowerModel {
 public:
  // Errors name the file (missing, not JSON, not a cinergy model).
  static Result<PowerModel> load(const std::filesystem::path& file);
  PowerModel(PowerModel&&) noexcept;
  PowerModel& operator=(PowerModel&&) noexcept;
  ~PowerModel();

  // Logical CPUs of the host the model was fitted on: a subject's share is
  // its CPU over this many CPUs (the x axis of the model's curves).
  [[nodiscard]] int host_threads() const;
  [[nodiscard]] std::string method() const;  // "cinergy" or "paper"
  [[nodiscard]] bool fitted_on_simulated_power() const;
  [[nodiscard]] bool gives_intervals() const;

  // share_pct: the subject's CPU in % of the model host's capacity
  // (100 % = every thread busy); intensity_pct: the load-weighted mean load
  // of its vCPUs (NaN: unknown, the model's default intensity is used).
  // Called once per subject per interval (never in the sampling loop).
  [[nodiscard]] IsolatedEstimate isolated(double share_pct, double intensity_pct) const;

  // The model's intensity of a VM from its vCPU loads (% of one CPU each),
  // NaN when it cannot tell (no vCPU, all idle).
  [[nodiscard]] static double intensity_pct(std::span<const double> vcpu_loads_pct);

 private:
  struct Impl;
  explicit PowerModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cinergy::serve::detail
