#include "signals.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

#include "cinergy/orchestrator/run.hpp"

namespace cinergy::orchestrator {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int sig) {
  g_signal.store(sig);
  g_stop.store(true);
}

}  // namespace

void request_stop() { g_stop.store(true); }
bool stop_requested() { return g_stop.load(); }
void clear_stop() {
  g_stop.store(false);
  g_signal.store(0);
}

bool sleep_until(std::chrono::steady_clock::time_point deadline) {
  using Clock = std::chrono::steady_clock;
  while (!stop_requested()) {
    const auto now = Clock::now();
    if (now >= deadline) return true;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(deadline - now, std::chrono::milliseconds(50)));
  }
  return false;
}

namespace detail {

int stop_signal() { return g_signal.load(); }

SignalScope::SignalScope() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  ::sigaction(SIGINT, &sa, &old_int_);
  ::sigaction(SIGTERM, &sa, &old_term_);
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  ::sigaction(SIGPIPE, &ign, &old_pipe_);
}

SignalScope::~SignalScope() {
  ::sigaction(SIGINT, &old_int_, nullptr);
  ::sigaction(SIGTERM, &old_term_, nullptr);
  ::sigaction(SIGPIPE, &old_pipe_, nullptr);
}

}  // namespace detail
}  // namespace cinergy::orchestrator
