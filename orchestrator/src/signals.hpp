// SIGINT/SIGTERM for the length of a run: the handlers only set a flag
// (request_stop() in run.hpp) that every wait of the run polls in short
// slices; SIGPIPE is ignored meanwhile (a restarted libvirt daemon is an
// EPIPE on its socket, not the end of the run). Not public.
#pragma once

#include <csignal>

namespace cinergy::orchestrator::detail {

class SignalScope {
 public:
  SignalScope();   // installs the handlers (no SA_RESTART: blocking calls see EINTR)
  ~SignalScope();  // restores the previous ones
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  struct sigaction old_pipe_ {};
};

// The signal that asked the run to stop (SIGINT, SIGTERM), 0 when none did.
int stop_signal();

}  // namespace cinergy::orchestrator::detail
