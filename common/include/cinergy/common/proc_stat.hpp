// What Cinergy reads from /proc/PID/stat: a task's state and when it
// started, which together tell a live task from a zombie and from another
// task that got the same pid. Setup code (file reads), not the sampling loop.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

namespace cinergy {

struct ProcStat {
  char state = '?';               // field 3: R, S, D, Z (zombie), X (dead), ...
  std::uint64_t start_ticks = 0;  // field 22: clock ticks since boot
  [[nodiscard]] bool alive() const { return state != 'Z' && state != 'X' && state != 'x'; }
};

// Parses a /proc/PID/stat (or /proc/PID/task/TID/stat) file; the command
// name may hold spaces and ')'. nullopt when missing or malformed.
std::optional<ProcStat> read_proc_stat(const std::filesystem::path& stat_file);

// Unix time (s) of `start_ticks` after boot: PROC/stat's btime plus the
// ticks in USER_HZ. nullopt when PROC/stat has no btime.
std::optional<double> ticks_to_unix_s(const std::filesystem::path& proc_root,
                                      std::uint64_t start_ticks);

}  // namespace cinergy
