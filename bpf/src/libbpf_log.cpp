#include "libbpf_log.hpp"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>

namespace cinergy::bpf::detail {
namespace {

std::mutex g_mu;
std::string g_last_warning;

int print_to_spdlog(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  if (n < 0) return 0;
  std::string_view line(buf);
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
  spdlog::debug("libbpf: {}", line);
  if (level == LIBBPF_WARN && !line.empty()) {
    std::lock_guard lock(g_mu);
    // Keep the last non-boilerplate line: the verifier's complaint precedes
    // libbpf's generic "failed to load" lines.
    if (line.find("-- END PROG LOAD LOG --") == std::string_view::npos &&
        line.find("failed to load object") == std::string_view::npos)
      g_last_warning.assign(line.substr(0, 200));
  }
  return n;
}

}  // namespace

void route_libbpf_logs_to_spdlog() {
  libbpf_set_print(print_to_spdlog);
  std::lock_guard lock(g_mu);
  g_last_warning.clear();
}

std::string last_libbpf_warning() {
  std::lock_guard lock(g_mu);
  return g_last_warning;
}

}  // namespace cinergy::bpf::detail
