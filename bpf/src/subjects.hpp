// Turning a SubjectSpec into what a backend registers: the cgroup subtree or
// the process/thread ids, the label and the series names. Shared by both
// backends so they name and order series identically.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cgroup_tree.hpp"
#include "cinergy/bpf/cpu_accounting.hpp"

namespace cinergy::bpf::detail {

struct ResolvedSubject {
  SubjectKind kind = SubjectKind::cgroup;
  std::string label;
  // cgroup: the subject directory first, then its subtree (see CgroupNode).
  std::vector<CgroupNode> nodes;
  // Names of the direct children, in series order (after the total).
  std::vector<std::string> child_names;
  // pid: the process (thread group) id; tid: the thread's process id.
  std::int32_t tgid = 0;
  // tid: the thread id; pid: equal to tgid.
  std::int32_t tid = 0;
  // pid / tid: the task's start time (field 22 of /proc/TGID/task/TID/stat,
  // clock ticks since boot): a task with the same id and another start time
  // is another task (the pid was reused).
  std::uint64_t start_ticks = 0;
};

// Resolves and validates a spec. Errors name the cgroup path, pid or tid.
Result<ResolvedSubject> resolve_subject(const SubjectSpec& spec,
                                        const std::filesystem::path& cgroup2_root,
                                        const std::filesystem::path& proc_root);

// Tgid of a task from PROC/ID/status ("Tgid:\tN"), or an error naming the id.
Result<std::int32_t> read_tgid(const std::filesystem::path& proc_root, std::int32_t id);

// The lowest free index of a table of subjects by index (empty = free),
// growing it by one when none is free.
template <typename State>
std::size_t free_subject_index(std::vector<std::optional<State>>& subjects) {
  for (std::size_t i = 0; i < subjects.size(); ++i)
    if (!subjects[i]) return i;
  subjects.emplace_back();
  return subjects.size() - 1;
}

// [first, last) of the series of subject `subject_index` in `series` (a
// subject's series are contiguous: appended together, removed together);
// first == last when it has none.
std::pair<std::size_t, std::size_t> series_range(const std::vector<SeriesInfo>& series,
                                                 std::size_t subject_index);

// Appends the series of `s` (total first, then "<label>/<child>").
void append_series(const ResolvedSubject& s, std::size_t subject_index,
                   std::vector<SeriesInfo>& out);

// A task's start time (clock ticks since boot), or nullopt when it is gone or a zombie.
std::optional<std::uint64_t> task_start_ticks(const std::filesystem::path& proc_root,
                                              std::int32_t tgid, std::int32_t tid);

// Whether `dir` is the cgroup registered as `id` (a directory removed and
// created again under the same name has another id).
bool cgroup_dir_is(const std::filesystem::path& dir, std::uint64_t id);

// Whether a subject still exists: its cgroup (same id), or its process/thread
// (same start time, not a zombie).
bool subject_alive(const ResolvedSubject& s, const std::filesystem::path& proc_root);

}  // namespace cinergy::bpf::detail
