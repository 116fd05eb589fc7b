#include "subjects.hpp"

#include <sys/stat.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "cinergy/common/proc_stat.hpp"

namespace cinergy::bpf::detail {
namespace fs = std::filesystem;

namespace {

Result<std::int32_t> parse_id(std::string_view s, std::string_view what) {
  std::int32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v <= 0)
    return fail(std::string(what) + " '" + std::string(s) + "' is not a positive decimal id");
  return v;
}

}  // namespace

Result<std::int32_t> read_tgid(const fs::path& proc_root, std::int32_t id) {
  auto path = proc_root / std::to_string(id) / "status";
  std::ifstream in(path);
  if (!in)
    return fail_errno("no such process or thread " + std::to_string(id) + " (" + path.string() +
                      ")");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Tgid:", 0) == 0) {
      std::istringstream ls(line.substr(5));
      std::int32_t tgid = 0;
      if (ls >> tgid && tgid > 0) return tgid;
    }
  }
  return fail("no Tgid line in " + path.string());
}

Result<ResolvedSubject> resolve_subject(const SubjectSpec& spec, const fs::path& cgroup2_root,
                                        const fs::path& proc_root) {
  ResolvedSubject r;
  r.kind = spec.kind;
  switch (spec.kind) {
    case SubjectKind::cgroup: {
      auto dir = resolve_cgroup_dir(cgroup2_root, spec.target);
      if (dir.empty()) return fail("invalid cgroup path '" + spec.target + "'");
      auto nodes = list_cgroup_subtree(dir);
      if (!nodes) return std::unexpected(nodes.error());
      r.nodes = std::move(*nodes);
      for (std::size_t i = 1; i < r.nodes.size(); ++i)
        if (r.nodes[i].top_child == static_cast<int>(i))
          r.child_names.push_back(r.nodes[i].dir.filename().string());
      r.label = spec.label.empty() ? default_cgroup_label(dir.string()) : spec.label;
      return r;
    }
    case SubjectKind::pid:
    case SubjectKind::tid: {
      const bool is_pid = spec.kind == SubjectKind::pid;
      auto id = parse_id(spec.target, is_pid ? "pid" : "tid");
      if (!id) return std::unexpected(id.error());
      auto tgid = read_tgid(proc_root, *id);
      if (!tgid) return std::unexpected(tgid.error());
      if (is_pid && *tgid != *id)
        return fail("pid " + spec.target + " is a thread of process " + std::to_string(*tgid) +
                    " (use --tid for one thread)");
      r.tgid = *tgid;
      r.tid = *id;
      auto start = task_start_ticks(proc_root, r.tgid, r.tid);
      if (!start)
        return fail(std::string(is_pid ? "pid " : "tid ") + spec.target +
                    " is not running (gone or a zombie)");
      r.start_ticks = *start;
      r.label = spec.label.empty() ? spec.target : spec.label;
      return r;
    }
  }
  return fail("unknown subject kind");
}

std::pair<std::size_t, std::size_t> series_range(const std::vector<SeriesInfo>& series,
                                                 std::size_t subject_index) {
  std::size_t first = 0;
  while (first < series.size() && series[first].subject_index != subject_index) ++first;
  std::size_t last = first;
  while (last < series.size() && series[last].subject_index == subject_index) ++last;
  return {first, last};
}

void append_series(const ResolvedSubject& s, std::size_t subject_index,
                   std::vector<SeriesInfo>& out) {
  out.push_back({s.label, subject_index, true, s.kind == SubjectKind::tid ? 1 : 0});
  for (const auto& c : s.child_names) out.push_back({s.label + "/" + c, subject_index, false, 0});
}

std::optional<std::uint64_t> task_start_ticks(const fs::path& proc_root, std::int32_t tgid,
                                              std::int32_t tid) {
  const auto st =
      read_proc_stat(proc_root / std::to_string(tgid) / "task" / std::to_string(tid) / "stat");
  if (!st || !st->alive()) return std::nullopt;
  return st->start_ticks;
}

bool cgroup_dir_is(const fs::path& dir, std::uint64_t id) {
  struct stat st {};
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
         static_cast<std::uint64_t>(st.st_ino) == id;
}

bool subject_alive(const ResolvedSubject& s, const fs::path& proc_root) {
  if (s.kind == SubjectKind::cgroup) return cgroup_dir_is(s.nodes[0].dir, s.nodes[0].id);
  const auto start = task_start_ticks(proc_root, s.tgid, s.tid);
  return start && *start == s.start_ticks;
}

}  // namespace cinergy::bpf::detail
