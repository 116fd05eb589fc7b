// Small file helpers shared by the orchestrator's sources (not public).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "cinergy/common/error.hpp"

namespace cinergy::orchestrator::detail {

// Whole file as text; error names the path.
Result<std::string> read_text(const std::filesystem::path& path);
// write(2) of `text` into an existing file (cgroup files: no O_CREAT unless asked).
Result<void> write_text(const std::filesystem::path& path, const std::string& text,
                        bool create = false);
// Writes to path.tmp then renames: readers never see a half-written file.
Result<void> write_atomic(const std::filesystem::path& path, const std::string& text);
// First line of a file, trimmed; nullopt if unreadable.
std::optional<std::string> read_line(const std::filesystem::path& path);

}  // namespace cinergy::orchestrator::detail
