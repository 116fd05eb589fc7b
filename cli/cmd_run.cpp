// `cinergy run`: the whole experiment (scenarios A, B, C) into a run directory.
// Flag parsing and wiring only; the work is in the orchestrator library.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <sstream>

#include "cinergy/common/command_line.hpp"
#include "cinergy/model/analyze.hpp"
#include "cinergy/model/estimate.hpp"
#include "cinergy/model/host_model.hpp"
#include "cinergy/orchestrator/manifest.hpp"
#include "cinergy/orchestrator/run.hpp"
#include "cinergy/report/report.hpp"
#include "commands.hpp"

namespace cinergy::cli {
namespace orch = cinergy::orchestrator;
namespace vm = cinergy::vm;

namespace {
struct RunFlags {
  std::string scenarios = "ABC";
  std::string steps;
  double window_s = 0;
  int windows_per_level = 0;
  std::string profile = "paper";
  double rate_hz = 1000;
  std::string source = "auto";
  std::string sim_host;
  std::string cpu_backend = "auto";
  std::string noise_sched;
  std::string out;
  bool live = false;
  bool no_analysis = false;
  bool no_pin = false;
  bool no_unpinned = false;
  std::string vm_name;
  std::string connect_uri = "qemu:///system";
  std::string vm_launch;
  bool testvm = false;
  std::string testvm_profile;
  int testvm_step_seconds = 0;
  int testvm_vcpus = 0;
  std::string testvm_accel = "auto";
  std::string cgroup;
  std::string cmd;
  std::string ready_cmd;
  std::string ready_file;
  int ready_timeout_s = 120;
  int max_seconds = 120;
  std::string prefix;
  std::string cgroup_root;
};

Result<std::vector<int>> parse_int_list(const std::string& text, const std::string& flag) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      const int v = std::stoi(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (...) {
      return fail(flag + " '" + text + "': expected comma-separated integers");
    }
  }
  if (out.empty()) return fail(flag + ": empty list");
  return out;
}

Result<orch::RunOptions> build_options(const RunFlags& f, const CLI::App& cmd,
                                       std::vector<std::string> command_line) {
  orch::RunOptions o;
  if (auto r = orch::apply_profile(o, f.profile); !r) return std::unexpected(r.error());
  auto given = [&](const char* name) { return cmd.count(name) > 0; };
  o.scenarios = f.scenarios;
  std::ranges::transform(o.scenarios, o.scenarios.begin(), ::toupper);
  std::erase(o.scenarios, ',');
  if (given("--steps")) {
    auto steps = parse_int_list(f.steps, "--steps");
    if (!steps) return std::unexpected(steps.error());
    o.steps = *steps;
  }
  if (given("--window")) o.window_s = f.window_s;
  if (given("--windows-per-level")) o.windows_per_level = f.windows_per_level;
  if (given("--noise-sched")) {
    auto s = orch::parse_noise_sched(f.noise_sched, "--noise-sched");
    if (!s) return std::unexpected(s.error());
    o.cloudlike_noise_sched = *s;
  }
  o.rate_hz = f.rate_hz;
  o.source.source = f.source;
  o.source.sim_host = f.sim_host;
  o.cpu_backend = f.cpu_backend;
  o.out_dir = f.out;
  o.live = f.live;
  o.analysis = !f.no_analysis;
  o.pin_socket = !f.no_pin;
  o.unpinned_training = !f.no_unpinned;
  o.csv_prefix = f.prefix;
  o.cgroup2_root = f.cgroup_root;
  o.command_line = std::move(command_line);
  if (f.source == "sim") o.source_note = "Simulated meter chosen with --source sim.";

  if (given("--testvm-accel") && !f.testvm)
    return fail("--testvm-accel applies to the built-in test VM only (--testvm)");
  const int subjects = (given("--vm") ? 1 : 0) + (given("--vm-launch") ? 1 : 0) +
                       (f.testvm ? 1 : 0) + (given("--cgroup") ? 1 : 0) + (given("--cmd") ? 1 : 0);
  if (subjects > 1)
    return fail("choose one subject: --vm, --vm-launch, --testvm, --cgroup or --cmd");
  const bool needs_subject = o.scenarios.find_first_of("BC") != std::string::npos;
  if (subjects == 0 && needs_subject)
    return fail(
        "scenarios B and C need a subject: --testvm, --vm NAME, --vm-launch SCRIPT, "
        "--cgroup PATH or --cmd COMMAND (or --scenarios A)");

  std::vector<std::string> ready_argv;
  if (!f.ready_cmd.empty()) {
    auto argv = split_command(f.ready_cmd);
    if (!argv) return fail("--ready-cmd: " + argv.error().message);
    ready_argv = *argv;
  }
  o.vm.connect_uri = f.connect_uri;
  o.vm.ready_command = ready_argv;
  o.vm.ready_file = f.ready_file;
  o.vm.ready_timeout = std::chrono::seconds(f.ready_timeout_s);
  o.subject.ready_command = ready_argv;
  o.subject.ready_file = f.ready_file;
  o.subject.ready_timeout = std::chrono::seconds(f.ready_timeout_s);
  o.subject.max_seconds = std::chrono::seconds(f.max_seconds);
  if (f.testvm) {
    o.vm.kind = vm::VmOptions::Kind::testvm;
    o.vm.name = f.vm_name.empty() ? "cinergy-testvm" : f.vm_name;
    if (!f.testvm_profile.empty()) {
      auto p = parse_int_list(f.testvm_profile, "--testvm-profile");
      if (!p) return std::unexpected(p.error());
      o.vm.testvm_profile_pct = *p;
    }
    if (f.testvm_step_seconds > 0) o.vm.testvm_step_seconds = f.testvm_step_seconds;
    if (f.testvm_vcpus > 0) o.vm.testvm_vcpus = f.testvm_vcpus;
    auto accel = vm::parse_testvm_accel(f.testvm_accel, "--testvm-accel");
    if (!accel) return std::unexpected(accel.error());
    o.vm.testvm_accel = *accel;
  } else if (given("--vm")) {
    o.vm.kind = vm::VmOptions::Kind::libvirt_domain;
    o.vm.name = f.vm_name;
  } else if (given("--vm-launch")) {
    o.vm.kind = vm::VmOptions::Kind::launch_script;
    o.vm.launch_script = f.vm_launch;
    o.vm.name = f.vm_name;
  } else if (given("--cgroup")) {
    o.subject.kind = orch::SubjectOptions::Kind::cgroup;
    o.subject.cgroup = f.cgroup;
  } else if (given("--cmd")) {
    auto argv = split_command(f.cmd);
    if (!argv) return fail("--cmd: " + argv.error().message);
    o.subject.kind = orch::SubjectOptions::Kind::command;
    o.subject.command = *argv;
  }
  return o;
}
void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// After a completed run: the model analysis of its files for both methods
// (model*.json, isolated*.csv, evaluation*.json) and the HTML report, each
// recorded under the manifest's "analysis" (an error there is reported and
// recorded; the measurements stand).
// One line per method, what `cinergy run` ends with: the isolated estimates
// of C against the ground truth B (the notebook's matching, then by position
// in the test VM's replayed profile), and the binned comparison; simulated
// power said on the line.
std::string accuracy_line(const std::string& method, const nlohmann::json& ev, bool simulated) {
  const auto num_in = [](const nlohmann::json& o, const char* key, const char* unit) {
    const auto it = o.find(key);
    return it != o.end() && it->is_number() ? fmt::format("{:.2f}{}", it->get<double>(), unit)
                                            : std::string("n/a");
  };
  const auto num = [&](const char* key, const char* unit) { return num_in(ev, key, unit); };
  std::string line = fmt::format(
      "accuracy, {} method: {} of {} cloud-like windows matched to the ground truth, RMSE {}, "
      "MAPE {}; binned RMSE {}, MAPE {}",
      method, ev.value("n", 0), ev.value("n_cloudlike", 0), num("rmse_w", " W"),
      num("mape_pct", " %"), num("binned_rmse_w", " W"), num("binned_mape_pct", " %"));
  if (ev.value("n", 0) == 0)
    if (const auto r = ev.find("null_reasons"); r != ev.end() && r->contains("rmse_w"))
      line += " (" + (*r)["rmse_w"].get<std::string>() + ")";
  if (const auto p = ev.find("by_position"); p != ev.end() && p->is_object()) {
    line += fmt::format("; by profile position {} matched, RMSE {}, MAPE {}", p->value("n", 0),
                        num_in(*p, "rmse_w", " W"), num_in(*p, "mape_pct", " %"));
  }
  if (const auto note = model::extrapolation_note(ev); !note.empty()) line += "; " + note;
  if (simulated) line += " (SIMULATED power)";
  return line;
}

void analyze_run(const orch::RunResult& run) {
  nlohmann::json analysis;
  std::vector<std::string> lines;
  for (auto method : {model::Method::cinergy, model::Method::paper}) {
    const std::string name(model::method_name(method));
    model::AnalyzeOptions ao;
    ao.data_dir = run.run_dir;
    ao.host_threads = run.host_threads;
    if (run.vm_vcpus > 0) ao.vm_vcpus = run.vm_vcpus;
    ao.method = method;
    ao.out_dir = run.run_dir;
    say(fmt::format("analysis ({} method)...", name));
    if (auto r = model::analyze(ao)) {
      analysis[name] = {{"ok", true}, {"evaluation", *r}};
      lines.push_back(accuracy_line(name, *r, r->value("simulated_power", false)));
    } else {
      spdlog::error("analysis ({}): {}", name, r.error().what());
      analysis[name] = {{"ok", false}, {"error", r.error().what()}};
      lines.push_back(fmt::format("accuracy, {} method: no figures ({})", name, r.error().what()));
    }
  }
  const auto html = run.run_dir / "report.html";
  if (auto rep = report::write_report(run.run_dir, html)) {
    analysis["report"] = {{"file", "report.html"}, {"missing", rep->missing}};
    say("report: " + html.string());
  } else {
    spdlog::error("report: {}", rep.error().what());
    analysis["report"] = {{"error", rep.error().what()}};
  }
  auto manifest = run.manifest;
  manifest["analysis"] = analysis;
  if (auto w = orch::write_manifest(run.run_dir, manifest); !w)
    spdlog::error("{}", w.error().what());
  for (const auto& l : lines) say(l);
  // Work outside the run is in the measured power of A (the model's points)
  // and B (the ground truth) but in no CPU figure: the figures above carry it.
  std::string noisy;
  if (const auto ph = run.manifest.find("phases"); ph != run.manifest.end() && ph->is_array())
    for (const auto& p : *ph)
      if (const auto o = p.find("other_cpu_pct");
          o != p.end() && o->is_object() && o->value("mean", 0.0) > orch::kOtherCpuWarnPct)
        noisy += fmt::format("{}{} {:.1f} %", noisy.empty() ? "" : ", ", p.value("phase", "?"),
                             o->value("mean", 0.0));
  if (!noisy.empty())
    say("accuracy: the host was not quiet (work outside this run, mean share of the host: " +
        noisy + "): the figures above include its power");
}

}  // namespace

void register_run(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<RunFlags>();
  auto* cmd = app.add_subcommand(
      "run",
      "Run the experiment: A (stress-ng staircases), B (the VM alone), C (the VM beside the "
      "step-25 staircase), then the analysis and the report");
  auto& f = *flags;
  cmd->add_option("--scenarios", f.scenarios, "Scenarios to run, any of A,B,C")
      ->capture_default_str();
  cmd->add_option("--steps", f.steps, "Staircase steps of scenario A, % (default 25,50,100)");
  cmd->add_option("--window", f.window_s, "Window length, s (>= 1; paper 2, quick 1)");
  cmd->add_option("--windows-per-level", f.windows_per_level,
                  "Windows per load level (paper 10, quick 2)");
  cmd->add_option("--profile", f.profile, "paper (the original's settings) or quick (minutes)")
      ->capture_default_str();
  cmd->add_option("--rate", f.rate_hz, "Sampling rate, Hz")->capture_default_str();
  cmd->add_option("--source", f.source,
                  "Energy source: auto|powercap|msr|perf|sim (sim = SIMULATED power)")
      ->capture_default_str();
  cmd->add_option("--sim-host", f.sim_host,
                  "Simulated meter: SPECpower result id of the host curve");
  cmd->add_option("--cpu-backend", f.cpu_backend, "CPU accounting: auto|bpf|procfs")
      ->capture_default_str();
  cmd->add_option("--noise-sched", f.noise_sched,
                  "Scenario C's noise workers: normal (compete with the VM, paper) or idle "
                  "(SCHED_IDLE: take only what the VM leaves, quick)");
  cmd->add_option("--out", f.out, "Run directory (default runs/<host>-<UTC timestamp>)");
  cmd->add_flag("--live", f.live, "Print host power and each subject's CPU every window");
  cmd->add_flag("--no-analysis", f.no_analysis, "Skip the model analysis and the report");
  cmd->add_flag("--no-pin", f.no_pin, "Do not place stress-ng workers on their socket's CPUs");
  cmd->add_flag("--no-unpinned-training", f.no_unpinned,
                "Several sockets: skip scenario A's unpinned staircases (training-unpinned-S, "
                "the Cinergy method's training; the paper method's are the pinned ones)");
  cmd->add_option("--vm", f.vm_name, "Subject: an existing libvirt domain (started for B and C)");
  cmd->add_option("--connect", f.connect_uri, "libvirt URI")->capture_default_str();
  cmd->add_option("--vm-launch", f.vm_launch,
                  "Subject: a script that starts the VM and its workload");
  cmd->add_flag("--testvm", f.testvm, "Subject: the built-in test VM");
  cmd->add_option("--testvm-accel", f.testvm_accel,
                  "Test VM accelerator: auto (KVM only when a guest boots under it within "
                  "20 s, else TCG), kvm, tcg")
      ->capture_default_str();
  cmd->add_option("--testvm-profile", f.testvm_profile,
                  "Test VM load per step, % (e.g. 20,95,60,3)");
  cmd->add_option("--testvm-step-seconds", f.testvm_step_seconds,
                  "Test VM seconds per profile step");
  cmd->add_option("--testvm-vcpus", f.testvm_vcpus, "Test VM vCPUs");
  cmd->add_option("--cgroup", f.cgroup, "Subject: an existing cgroup2 directory");
  cmd->add_option("--cmd", f.cmd,
                  "Subject: a command run in its own cgroup (split on spaces, '...' and \"...\" "
                  "quote; never run by a shell)");
  cmd->add_option("--ready-cmd", f.ready_cmd,
                  "Subject is ready when this command exits 0 (no shell)");
  cmd->add_option("--ready-file", f.ready_file, "Subject is ready when this file exists");
  cmd->add_option("--ready-timeout", f.ready_timeout_s, "Readiness timeout, s")
      ->capture_default_str();
  cmd->add_option("--max-seconds", f.max_seconds,
                  "B for a --cgroup subject that never ends: duration, s")
      ->capture_default_str();
  cmd->add_option("--prefix", f.prefix, "Original-format CSV prefix (default: host name)");
  cmd->add_option("--cgroup-root", f.cgroup_root, "cgroup2 mount (default: detected)");

  cmd->callback([flags, cmd, &exit_code] {
    std::vector<std::string> command_line = {"cinergy", "run"};
    for (const auto* opt : cmd->get_options()) {
      if (opt->count() == 0 || opt->get_name() == "--help") continue;
      command_line.push_back(opt->get_name());
      if (opt->get_expected_min() == 0) continue;  // a flag
      for (const auto& r : opt->results()) command_line.push_back(r);
    }
    auto options = build_options(*flags, *cmd, command_line);
    if (!options) {
      exit_code = report_error(options.error().what());
      return;
    }
    if (options->analysis && options->scenarios.find('A') != std::string::npos &&
        std::find(options->steps.begin(), options->steps.end(), 50) == options->steps.end())
      say("note: --steps has no 50: the paper method (the baseline) needs training-50, so only "
          "the Cinergy method will be analysed");
    orch::clear_stop();
    auto result = orch::run(*options);
    if (!result) {
      exit_code = report_error(result.error().what());
      return;
    }
    if (!result->interrupted && options->analysis) analyze_run(*result);
    std::printf("run directory: %s\n", result->run_dir.c_str());
    std::fflush(stdout);
    exit_code = result->interrupted ? 130 : 0;
  });
}

}  // namespace cinergy::cli
