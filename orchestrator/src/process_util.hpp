// Running short helper commands by argument vector (no shell), for ready
// checks and version strings. Not public.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::orchestrator::detail {

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  std::string output;  // stdout + stderr, up to 64 KiB
};

// posix_spawnp + wait, killing the command after `timeout` (or when a stop
// is requested). Error only when it cannot be started.
Result<CommandResult> run_command(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout);

}  // namespace cinergy::orchestrator::detail
