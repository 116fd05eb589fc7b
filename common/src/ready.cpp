#include "cinergy/common/ready.hpp"

#include <algorithm>
#include <thread>

#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"

namespace cinergy {

Result<void> wait_ready(const ReadySpec& spec, std::string_view label,
                        const std::function<bool()>& gone, const std::function<bool()>& stop) {
  namespace fs = std::filesystem;
  using Clock = std::chrono::steady_clock;
  const std::string who(label);
  const auto deadline = Clock::now() + spec.timeout;
  bool file_ok = spec.file.empty();
  bool marker_ok = spec.marker_file.empty() || spec.marker.empty();
  bool command_ok = spec.command.empty();
  while (true) {
    std::error_code ec;
    if (!file_ok) file_ok = fs::exists(spec.file, ec);
    if (!marker_ok) {
      auto text = read_file(spec.marker_file);
      marker_ok = text && text->find(spec.marker) != std::string::npos;
    }
    if (file_ok && marker_ok && !command_ok) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto status =
          run_wait(spec.command, std::max(left, std::chrono::milliseconds(100)), {}, stop);
      if (!status && status.error().errno_value != 0)
        return fail(who + ": ready command: " + status.error().what());
      command_ok = status && *status == 0;
    }
    if (file_ok && marker_ok && command_ok) return ok();
    if (gone && gone()) return fail(who + " stopped before it was ready");
    if (stop && stop()) return fail(who + ": stop requested while waiting for it to be ready");
    if (Clock::now() >= deadline) {
      const std::string what = !file_ok ? "file " + spec.file.string() + " to appear"
                               : !marker_ok
                                   ? "'" + spec.marker + "' in " + spec.marker_file.string()
                                   : "command '" + spec.command[0] + "' to exit 0";
      return fail(
          who + " not ready after " +
          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(spec.timeout).count()) +
          " s (waiting for " + what + ")");
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(
        spec.poll, std::max<Clock::duration>(deadline - Clock::now(), Clock::duration::zero())));
  }
}

}  // namespace cinergy
