// cgroup2 directories as Cinergy uses them: find the hierarchy, create a
// directory of our own, list and kill what runs in it, remove it. Every path
// is a parameter, so unit tests run on fake trees in temp dirs (there the
// "cgroup files" are plain files and removal is a recursive delete).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy {

// The cgroup2 mount point in a /proc/self/mountinfo text: "/sys/fs/cgroup" on
// pure cgroup2 hosts (preferred when several), "/sys/fs/cgroup/unified" on
// hybrid ones. Mount points are unescaped (\040 is a space).
Result<std::filesystem::path> parse_cgroup2_mount(std::string_view mountinfo_text);
// The same from a mountinfo file (default: this process's).
Result<std::filesystem::path> cgroup2_mount(
    const std::filesystem::path& mountinfo = "/proc/self/mountinfo");

// The mount point of the cgroup v1 hierarchy that holds `controller` (e.g.
// "cpu", also when co-mounted as "cpu,cpuacct") in a mountinfo text; an error
// when no v1 hierarchy holds it (pure cgroup2 hosts, or not mounted).
Result<std::filesystem::path> parse_cgroup1_mount(std::string_view mountinfo_text,
                                                  std::string_view controller);
// The same from a mountinfo file.
Result<std::filesystem::path> cgroup1_mount(
    std::string_view controller, const std::filesystem::path& mountinfo = "/proc/self/mountinfo");

// Pids in <dir>/cgroup.procs (empty when the file is missing).
std::vector<pid_t> cgroup_pids(const std::filesystem::path& dir);
// Whether processes run in `dir` or below: cgroup.events "populated 1", else
// a non-empty cgroup.procs (fake trees, old kernels).
bool cgroup_populated(const std::filesystem::path& dir);

// mkdir(2); EEXIST is an error: we never adopt someone else's cgroup.
Result<void> make_cgroup(const std::filesystem::path& dir);
// Kills everything in `dir` (cgroup.kill, else `kill_one` for each pid of
// cgroup.procs, again until it stays empty; default SIGKILL) and waits, up to
// `timeout`, until nothing is left; `each_poll` runs at every poll of that
// wait (a caller reaps its own children there). A missing `dir` is fine.
Result<void> kill_cgroup(const std::filesystem::path& dir, std::chrono::milliseconds timeout,
                         const std::function<void(pid_t)>& kill_one = {},
                         const std::function<void()>& each_poll = {});
// Removes one empty cgroup directory: rmdir(2) on cgroupfs (v2 or v1) (retried while the
// kernel still says EBUSY, up to `timeout`), a recursive delete on any other
// file system (fake trees). A missing `dir` is fine.
Result<void> remove_cgroup_dir(const std::filesystem::path& dir,
                               std::chrono::milliseconds timeout = std::chrono::seconds(1));
// kill_cgroup, then removes `dir` with its child directories, deepest first.
Result<void> kill_and_remove_cgroup(const std::filesystem::path& dir,
                                    std::chrono::milliseconds timeout);

}  // namespace cinergy
