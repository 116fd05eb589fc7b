// What a run prints while it goes (stdout): one updating line per window on
// a terminal, plain lines otherwise, and messages between them. Not public.
#pragma once

#include <chrono>
#include <string>

#include "cinergy/orchestrator/staircase.hpp"
#include "cinergy/orchestrator/window.hpp"

namespace cinergy::orchestrator::detail {

// "m:ss", or "h:mm:ss" from an hour on.
std::string format_duration(double seconds);

class Progress {
 public:
  // live: host power and each subject's CPU on every window line.
  Progress(bool live, double planned_s);
  // A window has ended: phase, level (null in B), window index and count (0: open-ended).
  void window(const std::string& phase, const Level* level, int levels, int window, int windows,
              const WindowValues& values);
  // A message on a line of its own (ends a pending window line first).
  void say(const std::string& message);
  void end_line();

 private:
  bool tty_, live_;
  double planned_s_;
  std::chrono::steady_clock::time_point start_;
  bool pending_ = false;
};

}  // namespace cinergy::orchestrator::detail
