#include "cinergy/vm/libvirt_daemon.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"
#include "libvirt_client.hpp"
#include "vm_internal.hpp"

namespace cinergy::vm {

namespace {

std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::vector<std::string> lines;
  if (auto text = read_file(file)) {
    std::istringstream in(*text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace

bool libvirt_daemon_answers(const std::string& uri) { return detail::libvirt_answers(uri); }

LibvirtDaemonGuard::~LibvirtDaemonGuard() { stop(); }

void LibvirtDaemonGuard::stop() {
  if (stopped_) return;
  stopped_ = true;
  auto log = state_dir_ / "libvirt-down.log";
  auto status =
      run_wait({(detail::scripts_dir() / "libvirt-down.sh").string(), state_dir_.string()},
               std::chrono::seconds(30), log);
  for (const auto& line : lines_of(log)) spdlog::info("{}", line);
  if (!status || *status != 0)
    spdlog::warn("libvirt-down.sh {} failed (see {})", state_dir_.string(), log.string());
}

Result<std::unique_ptr<LibvirtDaemonGuard>> ensure_libvirt(const std::filesystem::path& state_dir) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return fail_errno(ec.value(), fmt::format("cannot create {}", state_dir.string()));
  auto script = detail::scripts_dir() / "libvirt-up.sh";
  auto log = state_dir / "libvirt-up.log";
  auto status = run_wait({script.string(), state_dir.string()}, std::chrono::seconds(60), log);
  auto guard = std::make_unique<LibvirtDaemonGuard>(state_dir);
  guard->messages = lines_of(log);
  for (const auto& line : guard->messages) spdlog::info("{}", line);
  if (!status) return fail(fmt::format("{}: {}", script.string(), status.error().what()));
  if (*status != 0)
    return fail(guard->messages.empty()
                    ? fmt::format("{} failed with status {}", script.string(), *status)
                    : guard->messages.back());
  return guard;
}

}  // namespace cinergy::vm
