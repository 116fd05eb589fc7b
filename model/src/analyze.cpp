#include "cinergy/model/analyze.hpp"

#include <fmt/format.h>

#include "cinergy/model/dataset.hpp"
#include "cinergy/model/estimate.hpp"
#include "cinergy/model/host_model.hpp"

namespace cinergy::model {

Result<Analysis> analyze_dataset(const DataSet& data, const ModelOptions& options) {
  auto model = fit_model(data, options);
  if (!model) return std::unexpected(model.error());
  const auto name = [&](std::string_view phase) {
    return (data.dir / fmt::format("{}-{}.csv", data.prefix, phase)).string();
  };
  if (!data.cloudlike)
    return fail(fmt::format("{}: missing (needed to estimate)", name("cloudlike")));
  if (!data.groundtruth)
    return fail(fmt::format("{}: missing (needed to evaluate)", name("groundtruth")));
  auto rows = estimate(*model, *data.cloudlike);
  if (!rows) return std::unexpected(rows.error());
  auto eval = evaluate(*model, *rows, *data.groundtruth, {.by_position = data.replayed_profile});
  if (!eval) return std::unexpected(eval.error());
  return Analysis{std::move(*model), std::move(*rows), std::move(*eval)};
}

Result<nlohmann::json> analyze(const AnalyzeOptions& options) {
  auto data = load_dataset(options.data_dir);
  if (!data) return std::unexpected(data.error());
  auto a = analyze_dataset(*data, {options.method, options.host_threads, options.vm_vcpus});
  if (!a) return std::unexpected(a.error());
  if (!options.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.out_dir, ec);
    if (ec)
      return fail_errno(ec.value(), fmt::format("{}: cannot create", options.out_dir.string()));
    const std::string suffix = options.method == Method::paper ? "-paper" : "";
    if (auto r =
            save_json(to_json(a->model), options.out_dir / fmt::format("model{}.json", suffix));
        !r)
      return std::unexpected(r.error());
    if (auto r =
            write_estimate_csv(a->cloud, options.out_dir / fmt::format("isolated{}.csv", suffix));
        !r)
      return std::unexpected(r.error());
    if (auto r =
            save_json(a->evaluation, options.out_dir / fmt::format("evaluation{}.json", suffix));
        !r)
      return std::unexpected(r.error());
  }
  return std::move(a->evaluation);
}

}  // namespace cinergy::model
