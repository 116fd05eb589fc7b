// Waiting until a started subject (a VM, a command) says it is ready: a
// command that exits 0, a file that appears, a marker in a log (the test VM's
// serial console). One poll loop for every kind of subject.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy {

struct ReadySpec {
  std::vector<std::string> command;   // ready once it exits 0 (argv, no shell)
  std::filesystem::path file;         // ready once it exists
  std::filesystem::path marker_file;  // ready once it contains `marker`
  std::string marker;
  std::chrono::milliseconds timeout{120000};
  std::chrono::milliseconds poll{200};
};

// Polls until every condition given in `spec` holds (none given: ready at
// once). Fails, with a line naming `label`, at the timeout (saying what it
// waited for), as soon as `gone()` is true ("stopped before it was ready"),
// or as soon as `stop()` is true (a stop was requested).
Result<void> wait_ready(const ReadySpec& spec, std::string_view label,
                        const std::function<bool()>& gone = {},
                        const std::function<bool()>& stop = {});

}  // namespace cinergy
