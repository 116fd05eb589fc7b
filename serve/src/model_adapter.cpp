// The only file of serve/ that includes the model library (model_adapter.hpp).
#include "model_adapter.hpp"

#include <cmath>
#include <vector>

#include "cinergy/model/estimate.hpp"
#include "cinergy/model/host_model.hpp"

namespace cinergy::serve::detail {

struct PowerModel::Impl {
  model::HostModel model;
};

PowerModel::PowerModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PowerModel::PowerModel(PowerModel&&) noexcept = default;
PowerModel& PowerModel::operator=(PowerModel&&) noexcept = default;
PowerModel::~PowerModel() = default;

Result<PowerModel> PowerModel::load(const std::filesystem::path& file) {
  auto m = model::load_model(file);
  if (!m) return std::unexpected(m.error());
  if (m->curves.empty()) return fail(file.string() + ": the model has no curve");
  auto impl = std::make_unique<Impl>();
  impl->model = std::move(*m);
  return PowerModel(std::move(impl));
}

int PowerModel::host_threads() const { return impl_->model.host_threads; }
std::string PowerModel::method() const {
  return std::string(model::method_name(impl_->model.method));
}
bool PowerModel::fitted_on_simulated_power() const { return impl_->model.simulated_power; }
bool PowerModel::gives_intervals() const {
  return impl_->model.method != model::Method::paper;  // the notebook has none
}

IsolatedEstimate PowerModel::isolated(double share_pct, double intensity_pct) const {
  const auto iso = impl_->model.isolated(share_pct, intensity_pct);
  IsolatedEstimate e{iso.isolated_w, iso.isolated_w - iso.dynamic_w, std::nullopt, std::nullopt};
  if (gives_intervals() && std::isfinite(iso.interval.low_w) &&
      std::isfinite(iso.interval.high_w)) {
    e.low_watts = iso.interval.low_w;
    e.high_watts = iso.interval.high_w;
  }
  return e;
}

double PowerModel::intensity_pct(std::span<const double> vcpu_loads_pct) {
  // The model takes a vector; a VM has a handful of vCPUs, and this runs once
  // per VM per interval, not in the sampling loop.
  thread_local std::vector<double> loads;
  loads.assign(vcpu_loads_pct.begin(), vcpu_loads_pct.end());
  return model::vcpu_intensity_pct(loads);
}

}  // namespace cinergy::serve::detail
