#include "trace.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <optional>

#include "cinergy/common/csv.hpp"
#include "cinergy/common/line_reader.hpp"
#include "cinergy/report/series.hpp"

namespace cinergy::report::detail {
namespace {

enum class Kind { energy, cpu, busy };

struct Column {
  std::size_t index;
  Kind kind;
  std::string name;
};

template <typename T>
bool parse_int(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc{} && p == s.data() + s.size()) return true;
  // Tolerate integers written as "123.0".
  auto d = cinergy::parse_double(s);
  if (!d || !std::isfinite(*d) || *d < 0) return false;
  out = static_cast<T>(*d);
  return true;
}

std::string cpu_label(const std::string& series) {
  if (series == "vm") return "VM total";
  if (series.starts_with("vm/")) return "VM " + series.substr(3);
  return series;
}

int series_rank(const std::string& s) {
  if (s == "vm") return 0;
  if (s.starts_with("vm/vcpu")) return 1;
  if (s.starts_with("vm/")) return 2;
  if (s == "noise") return 4;
  return 3;
}

// Value of a step series at t_s: the first point at or after t_s, if t_s lies
// within its window.
double step_value(const StepSeries& s, double t_s) {
  auto it = std::lower_bound(s.points.begin(), s.points.end(), t_s,
                             [](const auto& p, double t) { return p.first < t; });
  if (it == s.points.end() || it->first - t_s >= s.window_s) return kNaN;
  return it->second;
}

// Percentile from a histogram of 1 us bins.
double hist_percentile(const std::vector<std::uint64_t>& h, std::uint64_t total, double q) {
  if (total == 0) return kNaN;
  const auto want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < h.size(); ++i) {
    seen += h[i];
    if (seen >= want) return static_cast<double>(i);
  }
  return static_cast<double>(h.size() - 1);
}

}  // namespace

std::vector<LevelPlan> plan_levels(std::uint64_t rows, std::size_t per_point,
                                   std::size_t overview_buckets, std::size_t budget_values) {
  std::vector<LevelPlan> plan;
  if (rows == 0) return plan;
  auto cost = [&](const LevelPlan& l) { return (l.raw ? rows : 2 * l.buckets) * per_point; };
  // Candidates, coarse to fine: envelopes of b, 4b, 16b... buckets while a
  // bucket still holds more than 2 samples, then the raw rows.
  std::vector<LevelPlan> candidates;
  for (std::size_t b = std::max<std::size_t>(overview_buckets, 1); 2 * b < rows; b *= 4)
    candidates.push_back({b, false});
  candidates.push_back({static_cast<std::size_t>(rows), true});
  plan.push_back(candidates.front());  // the overview is always kept
  std::size_t used = cost(plan.front());
  if (plan.front().raw) return plan;
  const LevelPlan raw = candidates.back();
  const bool raw_fits = used + cost(raw) <= budget_values;
  if (raw_fits) used += cost(raw);
  for (std::size_t i = 1; i + 1 < candidates.size(); ++i) {
    if (used + cost(candidates[i]) > budget_values) break;
    plan.push_back(candidates[i]);
    used += cost(candidates[i]);
  }
  if (raw_fits) plan.push_back(raw);
  return plan;
}

void append_delta_ints(std::string& out, const std::vector<std::int64_t>& values) {
  out.push_back('[');
  std::int64_t prev = 0;
  char buf[32];
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out.push_back(',');
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, values[i] - prev);
    out.append(buf, p);
    prev = values[i];
  }
  out.push_back(']');
}

void append_delta_array(std::string& out, const std::vector<double>& values, double quantum) {
  out.push_back('[');
  std::int64_t prev = 0;
  char buf[32];
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out.push_back(',');
    const double v = values[i];
    if (!std::isfinite(v)) {
      out.append("null");
      continue;
    }
    const auto q = static_cast<std::int64_t>(std::llround(v / quantum));
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, q - prev);
    out.append(buf, p);
    prev = q;
  }
  out.push_back(']');
}

namespace {

// Rows, first and last t_ns of a trace: what the first pass of the two-pass
// reading counts, and what the sidecar of a cleanly closed trace records
// (its "trace" object, sampler.hpp).
struct TraceSpan {
  std::uint64_t rows = 0;
  std::int64_t t_first_ns = 0, t_last_ns = 0;
  bool operator==(const TraceSpan&) const = default;
};

// A row count above this can only come from a corrupt sidecar (2^40 rows are
// four months at the sampler's 100 kHz maximum); refusing it keeps
// plan_levels' arithmetic (rows x numbers per row) far from overflowing.
constexpr std::uint64_t kMaxClaimedRows = std::uint64_t{1} << 40;

// The sidecar's figures; nullopt when it has none (older runs; killed runs,
// whose sidecar says "trace": null; empty traces, whose t_ns are null) or
// when they are malformed.
std::optional<TraceSpan> claimed_span(const std::optional<nlohmann::json>& meta) {
  if (!meta || !meta->is_object()) return std::nullopt;
  const auto trace = meta->find("trace");
  if (trace == meta->end() || !trace->is_object()) return std::nullopt;
  const auto rows = trace->find("rows");
  const auto first = trace->find("t_first_ns");
  const auto last = trace->find("t_last_ns");
  if (rows == trace->end() || first == trace->end() || last == trace->end()) return std::nullopt;
  if (!rows->is_number_unsigned() || !first->is_number_integer() || !last->is_number_integer())
    return std::nullopt;
  const TraceSpan span{rows->get<std::uint64_t>(), first->get<std::int64_t>(),
                       last->get<std::int64_t>()};
  if (span.rows > kMaxClaimedRows) return std::nullopt;
  return span;
}

// What the header line (and the inputs) decide: which columns feed which
// series, in which order, and each series' quantum.
struct Layout {
  std::size_t columns = 0;  // fields a data row must have
  std::size_t t_col = 0, sim_col = SIZE_MAX;
  std::vector<Column> energy, cpu, busy;
  std::optional<int> threads;  // host threads, for the target load in CPUs
  bool target_series = false;
  nlohmann::json series = nlohmann::json::array();
  std::vector<double> quantum;  // per series: W 0.01, CPUs 0.001
};

// nullopt when the line is not a cinergy trace's header.
std::optional<Layout> make_layout(const TraceInput& in, std::string_view header_line) {
  std::vector<std::string> header;
  for (auto f : cinergy::split_csv(header_line)) header.emplace_back(f);
  if (header.empty() || header[0] != "t_ns") return std::nullopt;
  Layout l;
  l.columns = header.size();
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "t_ns") l.t_col = i;
    if (header[i] == "simulated") l.sim_col = i;
  }
  for (std::size_t i = 0; i < header.size(); ++i) {
    const std::string& h = header[i];
    if (h.ends_with("_energy_uj"))
      l.energy.push_back({i, Kind::energy, h.substr(0, h.size() - 10)});
    else if (h.starts_with("cpu_ns:"))
      l.cpu.push_back({i, Kind::cpu, h.substr(7)});
    else if (h.starts_with("busy_ns:"))
      l.busy.push_back({i, Kind::busy, h.substr(8)});
  }
  // package-global first: it is the host's power the model uses.
  std::stable_sort(l.energy.begin(), l.energy.end(), [](const Column& a, const Column& b) {
    return (a.name == "package-global") > (b.name == "package-global");
  });
  std::stable_sort(l.cpu.begin(), l.cpu.end(), [](const Column& a, const Column& b) {
    return series_rank(a.name) < series_rank(b.name);
  });

  l.threads = in.host_threads
                  ? in.host_threads
                  : (l.busy.empty() ? std::nullopt : std::optional<int>(int(l.busy.size())));
  for (const auto& m : in.markers)
    if (m.target_pct && l.threads) l.target_series = true;

  for (const auto& c : l.energy) {
    l.series.push_back({{"label", c.name + " W"}, {"axis", "W"}, {"kind", "power"}});
    l.quantum.push_back(0.01);
  }
  for (const auto& o : in.overlays) {
    l.series.push_back({{"label", o.name}, {"axis", "W"}, {"kind", "estimate"}});
    l.quantum.push_back(0.01);
  }
  for (const auto& c : l.cpu) {
    l.series.push_back({{"label", cpu_label(c.name) + " CPUs"}, {"axis", "CPUs"}, {"kind", "cpu"}});
    l.quantum.push_back(0.001);
  }
  if (!l.busy.empty()) {
    l.series.push_back({{"label", "host busy CPUs"}, {"axis", "CPUs"}, {"kind", "host"}});
    l.quantum.push_back(0.001);
  }
  if (l.target_series) {
    l.series.push_back({{"label", "target load CPUs"}, {"axis", "CPUs"}, {"kind", "target"}});
    l.quantum.push_back(0.001);
  }
  return l;
}

// The first pass's rule: a data row counts when it has every column and a
// readable t_ns (a row that fails the second pass's stricter parse still
// counts, and is a parse error there).
void count_row(const Layout& l, const std::vector<std::string_view>& f, TraceSpan& span,
               bool& any_simulated) {
  std::int64_t t = 0;
  if (f.size() != l.columns || !parse_int(f[l.t_col], t)) return;
  if (span.rows == 0) span.t_first_ns = t;
  span.t_last_ns = t;
  ++span.rows;
  if (l.sim_col < f.size() && f[l.sim_col] == "1") any_simulated = true;
}

// Power is the rate since the newest earlier row at least this much older:
// a RAPL-like counter steps about every 1 ms with jitter, so over one short
// sample interval it reads as 0 W or as many times the true power (a 1 ms
// step in a 50 us interval is 20x). NaN until the trace is that long; at
// sample rates below 100 Hz it is the previous row.
constexpr std::int64_t kPowerWindowNs = 10'000'000;

// The second pass: rates between consecutive rows (see kPowerWindowNs for
// power) fed to every level planned for `span`, and the sample-interval
// histogram. `span` must be the trace's (counted, or the sidecar's figures
// when they turn out to agree with the count) for the levels to be right.
class LevelPass {
 public:
  LevelPass(const TraceInput& in, const Layout& layout, const TraceSpan& span)
      : in_(in),
        l_(layout),
        span_(span),
        n_series_(layout.series.size()),
        per_point_(n_series_ + 1),
        // Levels (see plan_levels): overview, full resolution if it fits,
        // then the 4x-finer envelopes in between that still fit.
        plan_(plan_levels(span.rows, per_point_, in.overview_buckets, in.budget_values)),
        prev_(layout.columns, 0),
        cur_(layout.columns, 0),
        row_(n_series_, kNaN) {
    for (const auto& p : plan_)
      builders_.emplace_back(n_series_, span.t_first_ns, span.t_last_ns, p.buckets, p.raw);
  }

  // One data line, split.
  void add(const std::vector<std::string_view>& f) {
    std::int64_t t = 0;
    if (f.size() != l_.columns || !parse_int(f[l_.t_col], t)) {
      ++parse_errors_;
      return;
    }
    bool ok = true;
    for (const auto* group : {&l_.energy, &l_.cpu, &l_.busy})
      for (const auto& c : *group) ok = ok && parse_int(f[c.index], cur_[c.index]);
    if (!ok) {
      ++parse_errors_;
      return;
    }
    const double t_s = static_cast<double>(t) * 1e-9;
    std::size_t k = 0;
    while (past_.size() >= 2 && t - past_[1].t_ns >= kPowerWindowNs) past_.pop_front();
    const PastEnergy* ref =
        !past_.empty() && t - past_.front().t_ns >= kPowerWindowNs ? &past_.front() : nullptr;
    for (std::size_t e = 0; e < l_.energy.size(); ++e)
      row_[k++] = ref ? rate_between(ref->t_ns, ref->energy_uj[e], t, cur_[l_.energy[e].index],
                                     kWattsPerUjPerNs)
                      : kNaN;
    if (!l_.energy.empty()) {
      PastEnergy now{t, std::vector<std::uint64_t>(l_.energy.size())};
      for (std::size_t e = 0; e < l_.energy.size(); ++e)
        now.energy_uj[e] = cur_[l_.energy[e].index];
      past_.push_back(std::move(now));
    }
    for (const auto& o : in_.overlays) row_[k++] = step_value(o, t_s);
    for (const auto& c : l_.cpu)
      row_[k++] = have_prev_ ? rate_between(prev_t_, prev_[c.index], t, cur_[c.index], 1.0) : kNaN;
    if (!l_.busy.empty()) {
      double sum = 0;
      bool valid = have_prev_;
      for (const auto& c : l_.busy) {
        const double r =
            have_prev_ ? rate_between(prev_t_, prev_[c.index], t, cur_[c.index], 1.0) : kNaN;
        if (std::isnan(r)) valid = false;
        sum += r;
      }
      row_[k++] = valid ? sum : kNaN;
    }
    if (l_.target_series) {
      while (marker_i_ < in_.markers.size() && in_.markers[marker_i_].t_s <= t_s) {
        if (in_.markers[marker_i_].target_pct)
          target_ = *in_.markers[marker_i_].target_pct / 100.0 * *l_.threads;
        ++marker_i_;
      }
      row_[k++] = target_;
    }
    if (have_prev_) {
      const double dt_us = static_cast<double>(t - prev_t_) * 1e-3;
      interval_max_us_ = std::max(interval_max_us_, dt_us);
      if (dt_us >= 0 && dt_us < static_cast<double>(interval_hist_.size()))
        ++interval_hist_[static_cast<std::size_t>(dt_us)];
      else
        ++interval_over_;
      ++intervals_;
    }
    for (auto& b : builders_) b.add(t, row_);
    std::swap(prev_, cur_);
    prev_t_ = t;
    have_prev_ = true;
  }

  // The levels and figures; `read` is the reading that fed add().
  TraceOutput finish(bool any_simulated, const LineReadStats& read, int passes) {
    TraceOutput out;
    out.passes = passes;
    out.values = 0;
    std::string& js = out.levels_js;
    js.push_back('[');
    nlohmann::json levels_meta = nlohmann::json::array();
    const double span_s = static_cast<double>(span_.t_last_ns - span_.t_first_ns) * 1e-9;
    for (std::size_t li = 0; li < builders_.size(); ++li) {
      Envelope env = builders_[li].finish();
      std::vector<std::int64_t> x_us(env.x_ns.size());
      for (std::size_t i = 0; i < x_us.size(); ++i) x_us[i] = (env.x_ns[i] + 500) / 1000;
      if (li) js.push_back(',');
      js += fmt::format(R"({{"raw":{},"buckets":{},"x":)", plan_[li].raw ? "true" : "false",
                        plan_[li].buckets);
      append_delta_ints(js, x_us);
      js += R"(,"y":[)";
      for (std::size_t s = 0; s < env.y.size(); ++s) {
        if (s) js.push_back(',');
        append_delta_array(js, env.y[s], l_.quantum[s]);
      }
      js += "]}";
      out.values += x_us.size() * per_point_;
      levels_meta.push_back({{"raw", plan_[li].raw},
                             {"points", x_us.size()},
                             {"bucket_s", plan_[li].raw ? 0.0 : span_s / plan_[li].buckets}});
    }
    js.push_back(']');
    nlohmann::json series = l_.series;
    for (std::size_t s = 0; s < n_series_; ++s) series[s]["q"] = l_.quantum[s];

    nlohmann::json markers = nlohmann::json::array();
    for (const auto& m : in_.markers) markers.push_back({{"t", m.t_s}, {"label", m.label}});
    out.chart = {{"phase", in_.phase},
                 {"series", series},
                 {"levels", levels_meta},
                 {"markers", markers},
                 {"simulated", any_simulated}};

    nlohmann::json h = {{"phase", in_.phase},
                        {"file", in_.trace.filename().string()},
                        {"rows", span_.rows},
                        {"duration_s", span_s},
                        {"simulated_rows", any_simulated},
                        {"parse_errors", parse_errors_},
                        {"truncated", read.truncated},
                        {"truncation", read.problem}};
    if (span_.rows > 1 && span_s > 0)
      h["rate_reached_hz"] = static_cast<double>(span_.rows - 1) / span_s;
    if (intervals_ > 0) {
      const std::uint64_t in_hist = intervals_ - interval_over_;
      h["interval_us"] = {{"p50", hist_percentile(interval_hist_, in_hist, 0.5)},
                          {"p99", hist_percentile(interval_hist_, in_hist, 0.99)},
                          {"max", interval_max_us_}};
    }
    if (in_.meta) h["meta"] = *in_.meta;
    out.health = std::move(h);
    return out;
  }

 private:
  struct PastEnergy {
    std::int64_t t_ns;
    std::vector<std::uint64_t> energy_uj;  // in the order of Layout::energy
  };
  const TraceInput& in_;
  const Layout& l_;
  TraceSpan span_;
  std::size_t n_series_, per_point_;  // per_point_: numbers per point (x + series)
  std::vector<LevelPlan> plan_;
  std::vector<EnvelopeBuilder> builders_;
  std::deque<PastEnergy> past_;  // energy readings of the last kPowerWindowNs and one before
  std::vector<std::uint64_t> prev_, cur_;  // by column index
  std::int64_t prev_t_ = 0;
  bool have_prev_ = false;
  std::vector<double> row_;  // one value per series
  std::vector<std::uint64_t> interval_hist_ = std::vector<std::uint64_t>(100001, 0);  // 1 us bins
  std::uint64_t intervals_ = 0, interval_over_ = 0, parse_errors_ = 0;
  double interval_max_us_ = 0;
  std::size_t marker_i_ = 0;
  double target_ = kNaN;  // CPUs
};

}  // namespace

Result<TraceOutput> build_trace(const TraceInput& in) {
  // With the sidecar's figures the levels are planned before reading, and one
  // reading both counts rows (as the first pass would) and does the second
  // pass's work. The count must agree with the figures; when it does not (a
  // trace cut or rewritten after its sidecar was written, an edited sidecar)
  // the work is redone from the counted figures, exactly as without them:
  // the result never depends on the sidecar being right.
  const std::optional<TraceSpan> claimed = claimed_span(in.meta);
  std::optional<Layout> layout;
  bool header_read = false, any_simulated = false;
  TraceSpan seen;
  std::optional<LevelPass> early;   // the work, when planned from the sidecar
  std::vector<std::string_view> f;  // one row's fields, reused (no allocation per row)
  auto first = cinergy::read_lines(in.trace, [&](std::string_view line) {
    if (!header_read) {
      header_read = true;
      layout = make_layout(in, line);
      if (layout && claimed) early.emplace(in, *layout, *claimed);
      return;
    }
    if (!layout) return;
    cinergy::split_csv(line, f);
    count_row(*layout, f, seen, any_simulated);
    // Past the promised rows the plan is wrong anyway: stop feeding it (its
    // raw level was sized for the promised rows, not for what the file holds).
    if (early && seen.rows <= claimed->rows) early->add(f);
  });
  if (!first) return std::unexpected(first.error());
  if (!layout) return fail(in.trace.string() + ": not a cinergy trace (first column must be t_ns)");
  if (early && seen == *claimed) {
    spdlog::debug("report: {}: read once, levels planned from the sidecar's {} rows",
                  in.trace.filename().string(), claimed->rows);
    return early->finish(any_simulated, *first, 1);
  }
  if (early) {
    spdlog::debug(
        "report: {}: the sidecar says {} rows, t_ns {}..{}, the trace has {} rows, t_ns {}..{}: "
        "reading it again (two passes)",
        in.trace.filename().string(), claimed->rows, claimed->t_first_ns, claimed->t_last_ns,
        seen.rows, seen.t_first_ns, seen.t_last_ns);
    early.reset();  // frees its levels before the second reading builds new ones
  }
  LevelPass pass(in, *layout, seen);
  bool header_skipped = false;
  auto second = cinergy::read_lines(in.trace, [&](std::string_view line) {
    if (!header_skipped) {
      header_skipped = true;
      return;
    }
    cinergy::split_csv(line, f);
    pass.add(f);
  });
  if (!second) return std::unexpected(second.error());
  return pass.finish(any_simulated, *second, 2);
}

}  // namespace cinergy::report::detail
