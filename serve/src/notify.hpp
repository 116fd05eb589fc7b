// systemd's readiness protocol without libsystemd: under a unit of
// Type=notify, systemd sets $NOTIFY_SOCKET and waits for "READY=1" on it
// (so `systemctl start` returns once /metrics answers). Elsewhere a no-op.
#pragma once

#include <string_view>

namespace cinergy::serve::detail {

// Sends `state` ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET; best effort.
void notify_systemd(std::string_view state);

}  // namespace cinergy::serve::detail
