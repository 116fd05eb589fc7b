#include "progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace cinergy::orchestrator::detail {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) s = 0;
  const auto t = static_cast<long>(std::llround(s));
  if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, (t / 60) % 60, t % 60);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}

Progress::Progress(bool live, double planned_s)
    : tty_(::isatty(STDOUT_FILENO) == 1),
      live_(live),
      planned_s_(planned_s),
      start_(std::chrono::steady_clock::now()) {}

void Progress::window(const std::string& phase, const Level* level, int levels, int window,
                      int windows, const WindowValues& v) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line = fmt::format("[{}] ", phase);
  if (level != nullptr)
    line += fmt::format("level {}/{} (target {:.1f} %, {} workers) ", level->index, levels - 1,
                        level->target_pct, level->workers);
  line += windows > 0 ? fmt::format("window {}/{}", window + 1, windows)
                      : fmt::format("window {}", window + 1);
  line += fmt::format(" | elapsed {} | ETA {}", format_duration(elapsed),
                      format_duration(std::max(0.0, planned_s_ - elapsed)));
  if (live_) {
    line += v.host_watt ? fmt::format(" | host {:.1f} W", *v.host_watt) : " | host - W";
    line += fmt::format(" cpu {:.1f} %", v.host_cpu_pct);
    for (const auto& [name, pct] : v.subject_cpu_pct)
      line += fmt::format(" {} {:.1f} %", name, pct);
  }
  if (tty_) {
    std::printf("\r%s\033[K", line.c_str());
    pending_ = true;
  } else {
    std::printf("%s\n", line.c_str());
  }
  std::fflush(stdout);
}

void Progress::say(const std::string& message) {
  end_line();
  std::printf("%s\n", message.c_str());
  std::fflush(stdout);
}

void Progress::end_line() {
  if (pending_) std::printf("\n");
  pending_ = false;
}

}  // namespace cinergy::orchestrator::detail
