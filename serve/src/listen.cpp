#include "listen.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "cinergy/common/text.hpp"

namespace cinergy::serve::detail {

Result<ListenAddress> parse_listen(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return fail(
        fmt::format("--listen {}: {} (expected HOST:PORT, e.g. 127.0.0.1:9838)", text, why));
  };
  if (text.starts_with('['))
    return bad("IPv6 is not supported (this civetweb build listens on IPv4 only)");
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  ListenAddress a;
  a.host = std::string(text.substr(0, colon));
  if (a.host.empty()) return bad("no host (0.0.0.0 listens on every interface)");
  if (a.host == "localhost") a.host = "127.0.0.1";
  in_addr addr{};
  if (::inet_pton(AF_INET, a.host.c_str(), &addr) != 1)
    return bad("the host must be an IPv4 address or localhost");
  const auto port = parse_int(text.substr(colon + 1));
  if (!port || *port < 0 || *port > 65535) return bad("the port must be 0..65535");
  a.port = static_cast<std::uint16_t>(*port);
  return a;
}

Result<void> check_can_listen(const ListenAddress& address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno("--listen " + address.text() + ": no socket");
  const int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(address.port);
  ::inet_pton(AF_INET, address.host.c_str(), &sa.sin_addr);
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  const int e = errno;
  ::close(fd);
  if (rc == 0) return ok();
  if (e == EADDRINUSE)
    return fail(fmt::format(
        "--listen {}: address already in use (another cinergy serve or exporter? pick a free "
        "port with --listen)",
        address.text()));
  return fail_errno(e, fmt::format("--listen {}: cannot listen there", address.text()));
}

}  // namespace cinergy::serve::detail

namespace cinergy::serve::detail {

void knock(const ListenAddress& address, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, address.host == "0.0.0.0" ? "127.0.0.1" : address.host.c_str(),
              &sa.sin_addr);
  (void)::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  ::close(fd);
}

}  // namespace cinergy::serve::detail
