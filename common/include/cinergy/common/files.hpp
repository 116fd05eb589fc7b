// Small whole-file helpers for setup code (never the sampling loop): sysfs,
// procfs and cgroup attributes, run-directory files. Errors name the path.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "cinergy/common/error.hpp"
#include "cinergy/common/text.hpp"  // trim()

namespace cinergy {

// The whole file as read (read(2) loop, no trimming).
Result<std::string> read_file(const std::filesystem::path& path);
// The file without leading and trailing blanks and newlines: a sysfs or
// cgroup attribute such as "0-3\n".
Result<std::string> read_trimmed(const std::filesystem::path& path);
// One write(2) of `text` into `path` (cgroup and sysfs files want a single
// write; no O_CREAT unless `create`).
Result<void> write_file(const std::filesystem::path& path, std::string_view text,
                        bool create = false);
// Writes path.tmp, then renames it over `path`: readers never see half a file.
Result<void> write_atomic(const std::filesystem::path& path, std::string_view text);

}  // namespace cinergy
