// `cinergy bench bpf`: overhead of the BPF CPU accounting program.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "cinergy/bpf/bench.hpp"
#include "commands.hpp"

namespace cinergy::cli {
namespace {

struct Spread {
  double median, min, max;
};
Spread spread(std::vector<double> v) {
  if (v.empty()) return {0, 0, 0};
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

// `cinergy bench bpf`: cost per sched_switch of the accounting program against
// an empty tp_btf/sched_switch program, and the stress-ng --switch rate.
void register_bench_bpf_impl(CLI::App& bench, int& exit_code) {
  auto* cmd =
      bench.add_subcommand("bpf", "Overhead of the BPF CPU accounting program (root, stress-ng)");
  auto opts = std::make_shared<bpf::SwitchBenchOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--seconds", opts->seconds, "Seconds per stress-ng run")
      ->check(CLI::Range(1.0, 60.0));
  cmd->add_option("--repetitions", opts->repetitions,
                  "Repetitions (7 stress-ng runs each; attach order alternates, so even counts "
                  "pair up)")
      ->check(CLI::Range(1, 50));
  cmd->add_option("--switch-workers", opts->switch_workers, "stress-ng --switch N")
      ->check(CLI::Range(1, 64));
  cmd->add_flag("--json", *json, "JSON on stdout");
  cmd->callback([opts, json, &exit_code] {
    auto runs = bpf::run_switch_bench(*opts);
    if (!runs) {
      exit_code = report_error(runs.error().what());
      return;
    }
    std::vector<double> ru, rt, eu, et, au, at, du, dt;
    nlohmann::json j;
    for (const auto& r : *runs) {
      ru.push_back(r.acct_ns_untracked / r.empty_ns_untracked);
      rt.push_back(r.acct_ns_tracked / r.empty_ns_tracked);
      au.push_back(r.acct_ns_untracked);
      at.push_back(r.acct_ns_tracked);
      eu.push_back(r.empty_ns_untracked);
      et.push_back(r.empty_ns_tracked);
      du.push_back(100.0 * (r.rate_untracked / r.rate_none - 1.0));
      dt.push_back(100.0 * (r.rate_tracked / r.rate_none - 1.0));
      j["runs"].push_back({{"empty_ns_untracked", r.empty_ns_untracked},
                           {"acct_ns_untracked", r.acct_ns_untracked},
                           {"calls_untracked", r.calls_untracked},
                           {"empty_ns_tracked", r.empty_ns_tracked},
                           {"acct_ns_tracked", r.acct_ns_tracked},
                           {"calls_tracked", r.calls_tracked},
                           {"switch_ops_per_s_none", r.rate_none},
                           {"switch_ops_per_s_untracked", r.rate_untracked},
                           {"switch_ops_per_s_tracked", r.rate_tracked},
                           {"empty_attached_first", r.empty_attached_first},
                           {"store_ns_first", r.store_ns_first},
                           {"empty_ns_after_store", r.empty_ns_after_store}});
    }
    auto put = [&](const char* name, const std::vector<double>& v) {
      auto s = spread(v);
      j["summary"][name] = {{"median", s.median}, {"min", s.min}, {"max", s.max}};
      return s;
    };
    auto s_ru = put("ratio_untracked", ru), s_rt = put("ratio_tracked", rt);
    auto s_au = put("acct_ns_untracked", au), s_at = put("acct_ns_tracked", at);
    auto s_eu = put("empty_ns_untracked", eu), s_et = put("empty_ns_tracked", et);
    auto s_du = put("switch_rate_change_pct_untracked", du),
         s_dt = put("switch_rate_change_pct_tracked", dt);
    // The program attached first on the tracepoint pays the cold misses the
    // second one finds warm, so a fair ratio compares programs in the same
    // position across runs: accounting-first vs empty-first ("each alone").
    std::vector<double> acct_first_u, empty_first_u, acct_first_t, empty_first_t;
    for (const auto& r : *runs) {
      if (r.empty_attached_first) {
        empty_first_u.push_back(r.empty_ns_untracked);
        empty_first_t.push_back(r.empty_ns_tracked);
      } else {
        acct_first_u.push_back(r.acct_ns_untracked);
        acct_first_t.push_back(r.acct_ns_tracked);
      }
    }
    const bool have_both = !acct_first_u.empty() && !empty_first_u.empty();
    const double like_u =
        have_both ? spread(acct_first_u).median / spread(empty_first_u).median : 0;
    const double like_t =
        have_both ? spread(acct_first_t).median / spread(empty_first_t).median : 0;
    // The same per pair of adjacent repetitions (one of each order, about
    // 20 s apart), so drift of the machine biases no pair and shows as
    // spread; and the one-store reference (first on the tracepoint in a run
    // of its own, every repetition), the least any program keeping per-CPU
    // state pays, against the empty program and the accounting program.
    std::vector<double> pair_u, pair_t, pair_store, pair_t_vs_store;
    for (std::size_t i = 0; i + 1 < runs->size(); i += 2) {
      const auto& x = (*runs)[i];
      const auto& y = (*runs)[i + 1];
      if (x.empty_attached_first == y.empty_attached_first) continue;
      const auto& acct_first = x.empty_attached_first ? y : x;
      const auto& empty_first = x.empty_attached_first ? x : y;
      pair_u.push_back(acct_first.acct_ns_untracked / empty_first.empty_ns_untracked);
      pair_t.push_back(acct_first.acct_ns_tracked / empty_first.empty_ns_tracked);
      pair_store.push_back((x.store_ns_first + y.store_ns_first) / 2 /
                           empty_first.empty_ns_tracked);
      pair_t_vs_store.push_back(acct_first.acct_ns_tracked / acct_first.store_ns_first);
    }
    std::vector<double> store_first;
    for (const auto& r : *runs) store_first.push_back(r.store_ns_first);
    const double like_store =
        have_both ? spread(store_first).median / spread(empty_first_t).median : 0;
    const double like_t_vs_store =
        have_both ? spread(acct_first_t).median / spread(store_first).median : 0;
    Spread s_pu{}, s_pt{}, s_ps{}, s_pts{};
    if (have_both) {
      j["summary"]["ratio_first_position_untracked"] = like_u;
      j["summary"]["ratio_first_position_tracked"] = like_t;
      j["summary"]["ratio_store_vs_empty_first_position"] = like_store;
      j["summary"]["ratio_tracked_vs_store_first_position"] = like_t_vs_store;
      s_pu = put("ratio_first_position_pairs_untracked", pair_u);
      s_pt = put("ratio_first_position_pairs_tracked", pair_t);
      s_ps = put("ratio_store_vs_empty_pairs", pair_store);
      s_pts = put("ratio_tracked_vs_store_pairs", pair_t_vs_store);
    }
    if (*json) {
      std::printf("%s\n", j.dump(2).c_str());
      return;
    }
    std::printf(
        "BPF accounting overhead under stress-ng --switch %d, %zu repetition(s) of %.0f s runs\n",
        opts->switch_workers, runs->size(), opts->seconds);
    std::printf(
        "(median [min, max]; per-call cost = run_time_ns / run_cnt from BPF run-time stats)\n");
    std::printf(
        "  (a) untracked: accounting %.1f ns [%.1f, %.1f], empty %.1f ns [%.1f, %.1f], ratio %.2fx "
        "[%.2f, %.2f]\n",
        s_au.median, s_au.min, s_au.max, s_eu.median, s_eu.min, s_eu.max, s_ru.median, s_ru.min,
        s_ru.max);
    std::printf(
        "  (b) tracked:   accounting %.1f ns [%.1f, %.1f], empty %.1f ns [%.1f, %.1f], ratio %.2fx "
        "[%.2f, %.2f]\n",
        s_at.median, s_at.min, s_at.max, s_et.median, s_et.min, s_et.max, s_rt.median, s_rt.min,
        s_rt.max);
    std::printf(
        "  switch rate vs no program: untracked %+.1f %% [%+.1f, %+.1f], tracked %+.1f %% [%+.1f, "
        "%+.1f]\n",
        s_du.median, s_du.min, s_du.max, s_dt.median, s_dt.min, s_dt.max);
    if (have_both)
      std::printf(
          "  like with like (both programs first on the tracepoint, medians): untracked %.2fx, "
          "tracked %.2fx\n",
          like_u, like_t);
    if (!pair_u.empty())
      std::printf(
          "  like with like, per pair of adjacent repetitions (%zu pairs, median [min, max]): "
          "untracked %.2fx [%.2f, %.2f], tracked %.2fx [%.2f, %.2f]\n",
          pair_u.size(), s_pu.median, s_pu.min, s_pu.max, s_pt.median, s_pt.min, s_pt.max);
    if (have_both)
      std::printf(
          "  one-store reference (first on the tracepoint): %.2fx the empty program (pairs "
          "%.2f [%.2f, %.2f]); tracked accounting %.2fx the one-store program (pairs %.2f [%.2f, "
          "%.2f])\n",
          like_store, s_ps.median, s_ps.min, s_ps.max, like_t_vs_store, s_pts.median, s_pts.min,
          s_pts.max);
    for (const auto& r : *runs)
      std::printf(
          "  run (%s attached first): acct/empty %.1f/%.1f ns untracked, %.1f/%.1f ns tracked; "
          "store/empty %.1f/%.1f ns; switch ops/s none %.0f, untracked %.0f, tracked %.0f; calls "
          "%lu / %lu\n",
          r.empty_attached_first ? "empty" : "accounting", r.acct_ns_untracked,
          r.empty_ns_untracked, r.acct_ns_tracked, r.empty_ns_tracked, r.store_ns_first,
          r.empty_ns_after_store, r.rate_none, r.rate_untracked, r.rate_tracked,
          static_cast<unsigned long>(r.calls_untracked),
          static_cast<unsigned long>(r.calls_tracked));
  });
}

}  // namespace

void register_bench_bpf(CLI::App& bench, int& exit_code) {
  register_bench_bpf_impl(bench, exit_code);
}

}  // namespace cinergy::cli
