// The HTTP listen address of `cinergy serve --listen`: parsing, and a bind
// check before anything starts, so that a port in use is one clear line
// naming the address and the errno (civetweb itself only says "problem
// binding to port").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cinergy/common/error.hpp"

namespace cinergy::serve::detail {

struct ListenAddress {
  std::string host;        // dotted IPv4 ("localhost" becomes 127.0.0.1)
  std::uint16_t port = 0;  // 0: any free port (the one chosen is logged)
  [[nodiscard]] std::string text() const { return host + ":" + std::to_string(port); }
  // Only loopback is private to this host: anything else is readable from
  // the network (no authentication on /metrics).
  [[nodiscard]] bool loopback() const { return host.starts_with("127."); }
};

// "HOST:PORT" with HOST an IPv4 address or "localhost". IPv6 is refused
// (Debian's civetweb is built without it); errors name the flag value.
Result<ListenAddress> parse_listen(std::string_view text);

// Binds (SO_REUSEADDR, as civetweb does) and closes a socket on the address.
Result<void> check_can_listen(const ListenAddress& address);

// Connects to `port` of the address (127.0.0.1 for 0.0.0.0) and hangs up at
// once: wakes a server blocked in poll(2) on its listening socket. Best effort.
void knock(const ListenAddress& address, std::uint16_t port);

}  // namespace cinergy::serve::detail
