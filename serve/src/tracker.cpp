#include "tracker.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string_view>
#include <unordered_set>

#include "cinergy/common/files.hpp"
#include "cinergy/common/proc_stat.hpp"
#include "cinergy/common/text.hpp"

namespace cinergy::serve::detail {
namespace fs = std::filesystem;

namespace {

// "TARGET[=NAME]" (the name follows the last '=').
std::pair<std::string, std::string> split_arg(const std::string& arg) {
  const auto eq = arg.rfind('=');
  if (eq == std::string::npos) return {arg, ""};
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

std::optional<std::uint64_t> dir_inode(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  return static_cast<std::uint64_t>(st.st_ino);
}

double now_unix_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A VM's per-vCPU series are named vcpuN by libvirt.
bool is_vcpu(std::string_view thread) {
  return thread.starts_with("vcpu") && parse_int(thread.substr(4)).has_value();
}

// Series are told apart by their labels: two subjects of a kind may not
// share a name.
template <typename Target>
Result<void> unique_name(const std::vector<Target>& targets, const std::string& name,
                         const std::string& what, std::string_view form) {
  if (std::ranges::none_of(targets, [&](const Target& o) { return o.name == name; })) return ok();
  return fail(
      fmt::format("{}: the name '{}' is used twice (give each one its own {})", what, name, form));
}

}  // namespace

std::string started_label(double unix_s) { return fmt::format("{:.3f}", unix_s); }

Result<std::vector<CgroupTarget>> parse_cgroup_targets(const std::vector<std::string>& args,
                                                       const fs::path& cgroup2_root) {
  std::vector<CgroupTarget> out;
  for (const auto& arg : args) {
    auto [target, name] = split_arg(arg);
    CgroupTarget t;
    t.arg = arg;
    t.dir = bpf::resolve_cgroup_target(cgroup2_root, target);
    if (t.dir.empty()) return fail(fmt::format("--cgroup {}: not a cgroup path", arg));
    t.name = name.empty() ? t.dir.filename().string() : name;
    if (t.name.empty()) return fail(fmt::format("--cgroup {}: empty NAME", arg));
    if (auto r = unique_name(out, t.name, "--cgroup " + arg, "PATH=NAME"); !r)
      return std::unexpected(r.error());
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::vector<PidTarget>> parse_pid_targets(const std::vector<std::string>& args,
                                                 const fs::path& proc_root) {
  std::vector<PidTarget> out;
  for (const auto& arg : args) {
    auto [target, name] = split_arg(arg);
    const auto pid = parse_int(target);
    if (!pid || *pid <= 0) return fail(fmt::format("--pid {}: not a process id", arg));
    const auto st = read_proc_stat(proc_root / std::to_string(*pid) / "stat");
    if (!st || !st->alive()) return fail(fmt::format("--pid {}: no such process", arg));
    PidTarget t;
    t.pid = *pid;
    t.start_ticks = st->start_ticks;
    t.started = started_label(ticks_to_unix_s(proc_root, st->start_ticks).value_or(0));
    t.name = name;
    if (t.name.empty())
      t.name = std::string(trim(read_file(proc_root / target / "comm").value_or(target)));
    if (auto r = unique_name(out, t.name, "--pid " + arg, "PID=NAME"); !r)
      return std::unexpected(r.error());
    out.push_back(std::move(t));
  }
  return out;
}

Tracker::Tracker(bpf::CpuAccounting& accounting, const PowerModel& model,
                 std::vector<CgroupTarget> cgroups, std::vector<PidTarget> pids, fs::path proc_root,
                 std::vector<std::string> zones)
    : acc_(accounting),
      model_(model),
      cgroups_(std::move(cgroups)),
      pids_(std::move(pids)),
      proc_root_(std::move(proc_root)),
      zones_(std::move(zones)) {
  if (auto it = std::ranges::find(zones_, "package-global"); it != zones_.end())
    power_zone_ = static_cast<std::size_t>(it - zones_.begin());
  zone_samples_.resize(zones_.size());
  for (std::size_t z = 0; z < zones_.size(); ++z) zone_samples_[z].zone = zones_[z];
}

void Tracker::add(Subject s, const bpf::SubjectSpec& spec, bool log_info) {
  auto idx = acc_.add_subject(spec);
  if (!idx) {
    // Usually a subject that went away between being listed and being
    // added; tried again while it is listed, said once.
    if (failed_.insert(s.key).second)
      spdlog::warn("cannot measure {} {}: {}", s.labels.kind, s.labels.name, idx.error().what());
    return;
  }
  failed_.erase(s.key);
  s.index = *idx;
  if (log_info)
    spdlog::info("measuring {} {}{} ({})", s.labels.kind, s.labels.name,
                 s.labels.uuid.empty() ? "" : " " + s.labels.uuid, spec.target);
  else
    spdlog::debug("measuring {} {} ({})", s.labels.kind, s.labels.name, spec.target);
  subjects_.push_back(std::move(s));
  series_changed_ = true;
}

void Tracker::remove(std::size_t i, const char* why) {
  const Subject& s = subjects_[i];
  if (s.labels.kind == "vm")
    spdlog::info("vm {} {}: its series end", s.labels.name, why);
  else
    spdlog::debug("{} {} {}: its series end", s.labels.kind, s.labels.name, why);
  (void)acc_.remove_subject(s.index);
  subjects_.erase(subjects_.begin() + static_cast<std::ptrdiff_t>(i));
  ++ended_;
  series_changed_ = true;
}

void Tracker::sync(const std::vector<vm::RunningDomain>* domains) {
  struct Wanted {
    std::string key;
    SubjectLabels labels;
    bpf::SubjectSpec spec;
    bool log_info;
  };
  std::vector<Wanted> wanted;
  if (domains != nullptr) {
    for (const auto& d : *domains) {
      if (!dir_inode(d.cgroup)) continue;  // gone while libvirt was away
      const auto started = started_label(d.started_unix_s);
      wanted.push_back({"vm:" + d.uuid + "@" + started,
                        {"vm", d.name, d.uuid, started},
                        {bpf::SubjectKind::cgroup, d.cgroup.string(), d.name},
                        true});
    }
  }
  for (auto& t : cgroups_) {
    const auto ino = dir_inode(t.dir);
    if (!ino) continue;
    const std::string key = fmt::format("cgroup:{}#{}", t.dir.string(), *ino);
    const auto it = std::ranges::find(subjects_, key, &Subject::key);
    wanted.push_back({key,
                      {"cgroup", t.name, "",
                       it != subjects_.end() ? it->labels.started : started_label(now_unix_s())},
                      {bpf::SubjectKind::cgroup, t.dir.string(), t.name},
                      !t.seen});
    t.seen = true;
  }
  for (auto& t : pids_) {
    if (t.ended) continue;
    const auto st = read_proc_stat(proc_root_ / std::to_string(t.pid) / "stat");
    if (!st || !st->alive() || st->start_ticks != t.start_ticks) {
      t.ended = true;
      spdlog::info("pid {} ({}) exited: no longer measured", t.pid, t.name);
      continue;
    }
    wanted.push_back({fmt::format("pid:{}@{}", t.pid, t.start_ticks),
                      {"pid", t.name, "", t.started},
                      {bpf::SubjectKind::pid, std::to_string(t.pid), t.name},
                      true});
  }

  // Linear in the subjects (a host may run hundreds of VMs).
  std::unordered_set<std::string> wanted_keys, measured_keys;
  for (const auto& w : wanted) wanted_keys.insert(w.key);
  for (std::size_t i = subjects_.size(); i-- > 0;) {
    const auto& s = subjects_[i];
    const bool listed = wanted_keys.contains(s.key);
    if (!listed || !acc_.subject_alive(s.index)) remove(i, listed ? "ended" : "stopped");
  }
  for (const auto& s : subjects_) measured_keys.insert(s.key);
  std::erase_if(failed_, [&](const std::string& key) { return !wanted_keys.contains(key); });
  for (auto& w : wanted) {
    if (measured_keys.contains(w.key)) continue;
    Subject s;
    s.key = w.key;
    s.labels = std::move(w.labels);
    add(std::move(s), w.spec, w.log_info);
  }
  if (series_changed_) map_series();
}

// Where each subject's series are in the accounting's (they move when
// another subject is removed), and the thread label of each.
void Tracker::map_series() {
  series_changed_ = false;
  const auto& all = acc_.series();
  std::map<std::size_t, Subject*> by_index;
  for (auto& s : subjects_) {
    by_index[s.index] = &s;
    s.series.clear();
    s.threads.clear();
    s.vcpus.clear();
  }
  for (std::size_t i = 0; i < all.size(); ++i) {
    auto it = by_index.find(all[i].subject_index);
    if (it == by_index.end()) continue;
    Subject& s = *it->second;
    if (all[i].is_total) {
      s.series.insert(s.series.begin(), i);
      s.threads.insert(s.threads.begin(), "total");
      continue;
    }
    if (s.labels.kind != "vm") continue;  // only a VM's children are its threads
    const auto slash = all[i].name.rfind('/');
    s.series.push_back(i);
    s.threads.push_back(slash == std::string::npos ? all[i].name : all[i].name.substr(slash + 1));
  }
  for (auto& s : subjects_) {
    for (std::size_t k = 0; k < s.threads.size(); ++k)
      if (is_vcpu(s.threads[k])) s.vcpus.push_back(k);
    if (s.cur_ns.size() != s.series.size()) {
      // A new subject (its layout is fixed while it lives).
      s.cur_ns.assign(s.series.size(), 0);
      s.prev_ns.assign(s.series.size(), 0);
      s.primed = false;
    }
  }
  series_ns_.assign(all.size(), 0);
  busy_ns_.assign(acc_.cpu_count(), 0);
}

void Tracker::step(const sampler::Snapshot* energy) {
  std::int64_t at_ns = 0;
  (void)acc_.read(series_ns_, busy_ns_, at_ns);  // a value not read keeps its last one
  std::uint64_t busy = 0;
  for (auto b : busy_ns_) busy += b;
  // The host over [previous step, this one].
  HostInterval host;
  const bool interval = have_prev_ && at_ns > prev_at_ns_;
  if (interval) {
    host.dt_s = static_cast<double>(at_ns - prev_at_ns_) / 1e9;
    host.busy_cpu_s = static_cast<double>(busy >= prev_busy_ns_ ? busy - prev_busy_ns_ : 0) / 1e9;
    busy_ns_total_ += busy >= prev_busy_ns_ ? busy - prev_busy_ns_ : 0;
  }
  if (energy != nullptr && energy->energy_uj.size() == zones_.size()) {
    const bool newer = prev_energy_ && energy->t_ns > prev_energy_->t_ns;
    for (std::size_t z = 0; z < zones_.size(); ++z) {
      auto& zs = zone_samples_[z];
      zs.energy_j = static_cast<double>(energy->energy_uj[z]) / 1e6;
      zs.power_w.reset();
      if (newer)
        zs.power_w = static_cast<double>(energy->energy_uj[z] - prev_energy_->energy_uj[z]) /
                     static_cast<double>(energy->t_ns - prev_energy_->t_ns) * 1e3;
    }
    if (newer || !prev_energy_) prev_energy_ = *energy;
  }
  host.power_w = zone_samples_.empty() ? std::nullopt : zone_samples_[power_zone_].power_w;

  for (auto& s : subjects_) {
    for (std::size_t k = 0; k < s.series.size(); ++k) s.cur_ns[k] = series_ns_[s.series[k]];
    if (interval && s.primed && !s.series.empty()) {
      const auto delta_s = [&](std::size_t k) {
        return static_cast<double>(s.cur_ns[k] - s.prev_ns[k]) / 1e9;
      };
      vcpu_pct_.clear();
      for (auto k : s.vcpus) vcpu_pct_.push_back(100.0 * delta_s(k) / host.dt_s);
      s.figures = compute_figures(model_, host, delta_s(0), vcpu_pct_);
      s.isolated_j += s.figures->isolated.watts * host.dt_s;
      if (s.figures->proportional_w) s.proportional_j += *s.figures->proportional_w * host.dt_s;
    }
    s.prev_ns = s.cur_ns;
    s.primed = true;
  }
  have_prev_ = true;
  prev_at_ns_ = at_ns;
  prev_busy_ns_ = busy;
}

void Tracker::fill(Snapshot& out) const {
  out.subjects.clear();
  for (const auto& s : subjects_) {
    SubjectSample x;
    x.labels = s.labels;
    for (std::size_t k = 0; k < s.threads.size(); ++k)
      x.cpu_s.emplace_back(s.threads[k], static_cast<double>(s.cur_ns[k]) / 1e9);
    x.figures = s.figures;
    x.isolated_j = s.isolated_j;
    x.proportional_j = s.proportional_j;
    out.subjects.push_back(std::move(x));
  }
  out.zones = zone_samples_;
  out.host_busy_cpu_s = static_cast<double>(busy_ns_total_) / 1e9;
}

}  // namespace cinergy::serve::detail
