// The host power model: package power (W) as a function of host load (%),
// one curve per training step (25, 50, 100: how loaded each busy CPU is),
// and the isolated-power estimate built on it.
//
// Methods (see docs/model.md):
// * paper: the notebook's (paper.hpp): every step present fitted, degree
//   1..14 by training RMSE, on host load <= exclude_beyond = vm_vcpus * 100
//   / host_threads * 3, in pandas' float32 with scikit-learn's arithmetic;
//   the estimate uses the step-50 curve as is (no monotone rule, no
//   extrapolation guard).
// * cinergy: every step curve present, degree by grouped 5-fold CV (whole
//   load levels held out), non-decreasing curves, fit on host load <=
//   2 * vm_vcpus * 100 / host_threads (the VM's region with margin); the
//   curve used for a moment is interpolated between steps at the VM's
//   load-weighted per-vCPU intensity; linear extrapolation past the fit range.
//   With two steps or more of 3 levels or more, the steps are fitted
//   together (polyfit.hpp, fit_joint): CV chooses the degree and whether the
//   step matters (one curve, a curve linear in the step, a curve per step);
//   the step curves are then that model at each step.
// Every Cinergy estimate carries a nominal 90 % interval (isolated_interval).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/model/analyze.hpp"
#include "cinergy/model/dataset.hpp"
#include "cinergy/model/polyfit.hpp"

namespace cinergy::model {

Result<Method> parse_method(std::string_view name);  // "cinergy" | "paper"
std::string_view method_name(Method method);

// How scenario A's workers that trained the Cinergy method were placed:
// unpinned (training-unpinned-<S>, the scheduler placing them as it places
// the VM's threads), one socket (training-<S> on a host whose data show one
// socket: pinned to it is unpinned), pinned (training-<S> across sockets,
// socket 0 first: states the VM alone never is in; also files written
// before this existed). Names in model.json: "unpinned", "one socket",
// "pinned".
enum class Placement { pinned, one_socket, unpinned };
std::string_view placement_name(Placement placement);
std::optional<Placement> parse_placement(std::string_view name);

struct ModelOptions {
  Method method = Method::cinergy;
  std::optional<int> host_threads;  // else from the manifest
  std::optional<int> vm_vcpus;      // else CPUn columns of the ground truth (or cloud-like)
};

struct StepCurve {
  int step_pct = 0;    // the stress-ng -l of the training workers
  std::string source;  // file name
  PolyFit fit;
  // When the level means won the cross-validation (HostModel::levels): the
  // curve is linear between these knots, each load level's mean load (%,
  // ascending) and mean power (W, made non-decreasing), and `fit` is only
  // the polynomial it was compared with. Empty: the polynomial.
  std::vector<double> knot_x_pct, knot_w;
  // Power (W) at host load x (%). With `guard`, x beyond the fitted range
  // continues linearly with the edge slope (>= 0) instead of the polynomial
  // (the knots always continue so).
  [[nodiscard]] double power_w(double host_util_pct, bool guard) const;
};

// The Cinergy method's alternative to polynomials: every step's curve linear
// between its load levels' means. Chosen when its held-out error, with the
// joint fit's folds (whole levels held out, each predicted from the others'
// means), is below the joint fit's; the interval then takes its terms from
// here.
struct LevelCurves {
  double cv_mse_w2 = 0;  // held-out MSE (the joint fit's is JointFit::cv_mse_w2)
  double sigma2_w2 = 0;  // pooled variance of the windows around their level's mean
  double level_n = 0;    // mean windows per level (a knot's variance: sigma2 / level_n)
};

// A nominal 90 % interval of an isolated estimate (W).
struct Interval {
  double low_w = 0, high_w = 0;
};

// The isolated estimate of one moment (W): the host running only the VM.
struct IsolatedPower {
  double isolated_w = 0;  // host power with the VM alone
  double dynamic_w = 0;   // isolated_w minus the same host without the VM
  Interval interval;      // nominal 90 % (NaN bounds for the paper method)
};

struct HostModel {
  Method method = Method::cinergy;
  int host_threads = 0;
  int vm_vcpus = 0;  // 0: unknown (fit on the whole range)
  // Points with host load above are not fitted: the paper's exclude_beyond
  // (uncapped, as the notebook compares it), Cinergy's region (<= 100).
  double fit_hi_pct = 100;
  std::string prefix;
  std::vector<StepCurve> curves;   // ascending step
  std::vector<std::string> notes;  // monotone rule, skipped steps, ...
  bool simulated_power = false;    // fitted on simulated power (labelled in every output)
  // The Cinergy method's joint fit, when the steps were fitted together (its
  // coefficient covariance and CV terms give the interval).
  std::optional<JointFit> joint;
  // Host load (%) of the host's own work (daemons, the sampler) when no
  // workload runs: the median load of scenario A's idle level (target 0).
  // The curves' x is the whole host's load, this included, and the VM alone
  // still has it beside it, so the VM alone is the host at its share plus
  // this. 0 for the paper method (the notebook evaluates at the share) and
  // when A has no idle level.
  double background_pct = 0;
  // How the staircases that trained it were placed (Placement). It sets the
  // interval's transfer scale (transfer_scale()); the paper method ignores it.
  Placement training_placement = Placement::pinned;
  [[nodiscard]] double transfer_scale() const;
  // Set when the curves are the level means (StepCurve::knot_*).
  std::optional<LevelCurves> levels;

  // Host power (W) at host load x (%) when the busy CPUs run at
  // `intensity_pct` each: linear between the neighbouring step curves,
  // clamped to the steps available. The paper method ignores the intensity
  // (always step 50).
  [[nodiscard]] double power_w(double host_util_pct, double intensity_pct) const;
  [[nodiscard]] double idle_w(double intensity_pct) const { return power_w(0.0, intensity_pct); }
  [[nodiscard]] const StepCurve* curve(int step_pct) const;
  // The nominal 90 % interval of power_w(x, intensity) as an estimate of the
  // isolated power: +-1.645 sqrt of the sum of (1) the fit's variance at x
  // (the level means': sigma2 / windows per level; else the joint fit's
  // covariance; without one, the curve's CV MSE x (D+1)/n), (2) the misfit
  // between load levels (CV MSE minus the residual variance),
  // (3) (spread / 2)^2, the spread of the step curves at x (how much the
  // unknown mapping of the VM onto the staircases can move the estimate),
  // (4) (transfer_scale() x transfer_rel x dynamic power)^2, the
  // leave-one-step-out error of predicting a staircase from the others
  // (dynamic: against the host at background_pct).
  // NaN bounds for the paper method (the notebook has no interval).
  [[nodiscard]] Interval isolated_interval(double host_util_pct, double intensity_pct) const;
  // The VM alone at `vm_share_pct` (% of the host's threads): the curves at
  // host load share + background_pct, its dynamic part against the host at
  // background_pct, and the interval there.
  [[nodiscard]] IsolatedPower isolated(double vm_share_pct, double intensity_pct) const;
};

// Scale of term (4) of HostModel::isolated_interval when the staircases
// were pinned across sockets: the leave-one-step-out error measures
// interpolation between staircases, while the VM's own state lies further
// from all of them; 4 is the one constant chosen on the benchmark
// (docs/model.md, "Accuracy against truths": seed 1, checked on seeds 2 and
// 3). Staircases placed like the VM's threads take the error as measured (1).
inline constexpr double kPinnedTransferScale = 4.0;

// Errors: host threads / vm vCPUs missing or invalid, no training file (the
// paper needs training-50), no usable rows, too few load levels (Cinergy).
Result<HostModel> fit_model(const DataSet& data, const ModelOptions& options);

// The paper's curve of one training table, as the notebook fits it:
// dropna() over all its columns, the rows with host load <= exclude_beyond
// (%, infinity: all of them), degrees 1..14 by training RMSE (paper::fit).
// fit_model uses it for each step; the report's exclude_beyond figure also
// fits step 50 without the limit.
Result<StepCurve> fit_paper_step(const Table& table, int step_pct, double exclude_beyond);

nlohmann::json to_json(const HostModel& model);
Result<HostModel> model_from_json(const nlohmann::json& j, std::string_view source);
Result<HostModel> load_model(const std::filesystem::path& file);
Result<void> save_json(const nlohmann::json& j, const std::filesystem::path& file);
// Readable multi-line summary: per curve the formula and its metrics.
std::string describe(const HostModel& model);

// A JSON number, or null when not finite (the JSON never holds NaN).
nlohmann::json json_number(double v);

}  // namespace cinergy::model
