#include "truth_bench.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <random>

#include "cinergy/model/dataset.hpp"
#include "temp_dir.hpp"

namespace cinergy::model::testing {
namespace {

// One server for a host argument and a seed.
Result<TruthHost> pick_host(const std::vector<SpecCurve>& curves, const std::string& arg,
                            std::uint64_t seed, std::size_t slot) {
  if (const auto colon = arg.find(':'); colon != std::string::npos) {
    const int threads = std::atoi(arg.substr(0, colon).c_str());
    const std::string vendor = arg.substr(colon + 1);
    auto cands = truth_candidates(curves, threads, vendor);
    if (cands.empty())
      return fail(
          fmt::format("host {}: no server of {} threads ({}) in the curves", arg, threads, vendor));
    std::mt19937_64 rng(seed * 7919 + slot * 104729 + 3);
    return cands[std::uniform_int_distribution<std::size_t>(0, cands.size() - 1)(rng)];
  }
  for (const auto& c : curves) {
    if (c.result_id != arg) continue;
    for (auto& h : truth_candidates(curves, c.threads, "any"))
      if (h.spec.result_id == arg) return h;
    return fail(fmt::format("host {}: its topology does not divide evenly", arg));
  }
  return fail(fmt::format("host {}: not THREADS:VENDOR nor a result_id of the curves", arg));
}

std::string shape(const VmShape& v) {
  return fmt::format("{}v {}", v.vcpus, v.skewed ? "skewed" : "even");
}

}  // namespace

std::vector<std::string> default_truth_hosts() {
  return {"8:intel", "8:amd",    "16:intel", "24:amd",    "32:intel",
          "48:amd",  "64:intel", "72:intel", "112:intel", "128:amd"};
}

Result<std::vector<TruthResult>> run_truth_bench(
    const TruthBenchOptions& o, const std::vector<SpecCurve>& curves,
    const std::function<void(const TruthResult&)>& progress) {
  test::TempDir tmp;
  const auto root = o.keep.empty() ? tmp.path() : o.keep;
  const auto hosts = o.hosts.empty() ? default_truth_hosts() : o.hosts;
  std::vector<TruthResult> out;
  for (std::uint64_t seed : o.seeds) {
    for (std::size_t slot = 0; slot < hosts.size(); ++slot) {
      auto host = pick_host(curves, hosts[slot], seed, slot);
      if (!host) return std::unexpected(host.error());
      for (TruthKind kind : o.kinds) {
        for (int vcpus : o.vcpus) {
          for (bool skewed : o.skewed) {
            if (vcpus > host->threads() || (vcpus == 1 && skewed)) continue;
            TruthResult r;
            r.truth.kind = kind;
            r.truth.host = *host;
            r.truth.vm = {vcpus, skewed};
            r.truth.windows_per_level = o.windows_per_level;
            // Each case its own stream: seed, server slot, kind and shape.
            r.truth.seed = seed * 1'000'000 + slot * 10'000 +
                           static_cast<std::uint64_t>(kind) * 1000 +
                           static_cast<std::uint64_t>(vcpus) * 10 + (skewed ? 1 : 0);
            const auto dir =
                root / fmt::format("{}-{}-{}-{}t{}-{}v{}", seed, slot, truth_name(kind),
                                   host->threads(), host->vendor(), vcpus, skewed ? "s" : "e");
            const TruthData t = generate_truth(r.truth, dir);
            auto data = load_dataset(dir);
            if (!data) return std::unexpected(data.error());
            // Only when asked: a copy of the scenarios with A's unpinned tables.
            std::optional<DataSet> unpinned_a;
            if (o.paper_trains_unpinned && !data->training_unpinned.empty()) {
              unpinned_a = *data;
              unpinned_a->training = data->training_unpinned;
            }
            auto p = score_method(unpinned_a ? *unpinned_a : *data, t.threads, Method::paper,
                                  t.cloud_ts_s, t.cloud_true_w, t.true_idle_w);
            if (!p) return std::unexpected(p.error());
            auto c = score_method(*data, t.threads, Method::cinergy, t.cloud_ts_s, t.cloud_true_w,
                                  t.true_idle_w);
            if (!c) return std::unexpected(c.error());
            r.paper = std::move(*p);
            r.cinergy = std::move(*c);
            if (o.keep.empty()) {
              std::filesystem::remove_all(dir);
            } else {  // the truth beside the data, for a look (not a scenario file)
              std::string text = "timestamp,true_isolated_w\n";
              for (std::size_t i = 0; i < t.cloud_ts_s.size(); ++i)
                text += fmt::format("{},{:.4f}\n", t.cloud_ts_s[i], t.cloud_true_w[i]);
              std::ofstream(dir / "truth.csv") << text;
            }
            if (progress) progress(r);
            out.push_back(std::move(r));
          }
        }
      }
    }
  }
  return out;
}

std::string truth_cases_csv(const std::vector<TruthResult>& rs) {
  std::string s =
      "kind,seed,result_id,threads,sockets,smt,vendor,vcpus,load,paper_rmse_w,cinergy_rmse_w,"
      "mape_ratio,rmse_ratio,paper_mape_pct,cinergy_mape_pct,coverage_pct,mean_halfwidth_w\n";
  for (const auto& r : rs) {
    const auto& h = r.truth.host;
    s += fmt::format(
        "{},{},{},{},{},{},{},{},{},{:.4f},{:.4f},{:.4f},{:.4f},{:.3f},{:.3f},{:.1f},{:.3f}\n",
        truth_name(r.truth.kind), r.truth.seed, h.spec.result_id, h.threads(), h.sockets, h.smt,
        h.vendor(), r.truth.vm.vcpus, r.truth.vm.skewed ? "skewed" : "even", r.paper.rmse_truth_w,
        r.cinergy.rmse_truth_w, r.ratio(), r.rmse_ratio(), r.paper.mape_truth_pct,
        r.cinergy.mape_truth_pct, r.cinergy.coverage_pct, r.cinergy.mean_halfwidth_w);
  }
  return s;
}

std::vector<KindSummary> summarize(const std::vector<TruthResult>& rs) {
  std::map<TruthKind, std::vector<const TruthResult*>> by;
  for (const auto& r : rs) by[r.truth.kind].push_back(&r);
  std::vector<KindSummary> out;
  for (const auto& [kind, v] : by) {
    KindSummary k;
    k.kind = kind;
    k.cases = v.size();
    double in = 0, n = 0;
    for (const auto* r : v) {
      k.mape_paper += r->paper.mape_truth_pct;
      k.mape_cinergy += r->cinergy.mape_truth_pct;
      if (std::isfinite(r->cinergy.coverage_pct)) {
        in += r->cinergy.coverage_pct / 100.0 * static_cast<double>(r->cinergy.n);
        n += static_cast<double>(r->cinergy.n);
      }
      if (r->ratio() > 1) ++k.above;
      if (k.worst == nullptr || r->ratio() > k.worst->ratio()) k.worst = r;
    }
    k.mape_paper /= static_cast<double>(v.size());
    k.mape_cinergy /= static_cast<double>(v.size());
    k.mean_ratio = k.mape_cinergy / k.mape_paper;
    k.worst_ratio = k.worst->ratio();
    struct HostSums {
      double paper = 0, cinergy = 0;
      const TruthResult* any = nullptr;
    };
    // A case's seed is seed * 10^6 + server slot * 10^4 + ...: one host per
    // (seed, slot).
    std::map<std::uint64_t, HostSums> hosts;
    for (const auto* r : v) {
      auto& h = hosts[r->truth.seed / 10'000];
      h.paper += r->paper.mape_truth_pct;
      h.cinergy += r->cinergy.mape_truth_pct;
      h.any = r;
    }
    k.hosts = hosts.size();
    for (const auto& [key, h] : hosts) {
      const double ratio = h.cinergy / h.paper;
      if (ratio > 1) ++k.hosts_above;
      if (k.worst_host == nullptr || ratio > k.worst_host_ratio) {
        k.worst_host_ratio = ratio;
        k.worst_host = h.any;
      }
    }
    if (n > 0) k.coverage_pct = 100.0 * in / n;
    out.push_back(k);
  }
  return out;
}

double overall_coverage_pct(const std::vector<TruthResult>& rs) {
  double in = 0, n = 0;
  for (const auto& r : rs) {
    if (!std::isfinite(r.cinergy.coverage_pct)) continue;
    in += r.cinergy.coverage_pct / 100.0 * static_cast<double>(r.cinergy.n);
    n += static_cast<double>(r.cinergy.n);
  }
  return n > 0 ? 100.0 * in / n : std::numeric_limits<double>::quiet_NaN();
}

std::string truth_table(const std::vector<TruthResult>& rs) {
  std::string s =
      "| truth | cases | MAPE paper | MAPE cinergy | mean cinergy/paper | worst case "
      "cinergy/paper (case) | cases > 1 | worst host cinergy/paper (host) | hosts > 1 | 90 % "
      "interval coverage |\n"
      "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& k : summarize(rs)) {
    const auto& w = *k.worst;
    const auto& wh = k.worst_host->truth.host;
    s += fmt::format(
        "| {} | {} | {:.3f} % | {:.3f} % | {:.2f} | {:.2f} ({} t {}, {}) | {} | {:.2f} ({} t {}) "
        "| {} of {} | {} |\n",
        truth_name(k.kind), k.cases, k.mape_paper, k.mape_cinergy, k.mean_ratio, k.worst_ratio,
        w.truth.host.threads(), w.truth.host.vendor(), shape(w.truth.vm), k.above,
        k.worst_host_ratio, wh.threads(), wh.vendor(), k.hosts_above, k.hosts,
        std::isfinite(k.coverage_pct) ? fmt::format("{:.1f} %", k.coverage_pct) : "n/a");
  }
  const double all = overall_coverage_pct(rs);
  if (std::isfinite(all)) s += fmt::format("\nall windows: 90 % interval coverage {:.1f} %\n", all);
  return s;
}

}  // namespace cinergy::model::testing
