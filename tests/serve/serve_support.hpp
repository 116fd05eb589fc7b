// Helpers of serve's tests: a port held busy, and where a `cinergy serve`
// child says it serves.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include "cinergy/common/files.hpp"

namespace cinergy::test {

// A TCP port of 127.0.0.1 chosen by the kernel and listened on by this test
// until release() or scope exit.
class TakenPort {
 public:
  TakenPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
        ::listen(fd_, 1) == 0) {
      socklen_t len = sizeof sa;
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
      port_ = ntohs(sa.sin_port);
    }
  }
  ~TakenPort() { release(); }
  TakenPort(const TakenPort&) = delete;
  TakenPort& operator=(const TakenPort&) = delete;
  [[nodiscard]] std::uint16_t port() const { return port_; }  // 0: none could be taken
  void release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  std::uint16_t port_ = 0;
};

// The port of the "serving http://127.0.0.1:PORT/metrics" line that
// `cinergy serve` logs once /metrics answers; nullopt after `timeout`.
// `text` receives the log as last read (for failure messages).
inline std::optional<int> wait_serving_port(const std::filesystem::path& log,
                                            std::chrono::milliseconds timeout, std::string& text) {
  const std::regex serving("serving http://127\\.0\\.0\\.1:([0-9]+)/metrics");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    text = read_file(log).value_or("");
    if (std::smatch m; std::regex_search(text, m, serving)) return std::stoi(m[1].str());
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace cinergy::test
