// A libvirt daemon for `cinergy run` on hosts without one (no systemd): runs
// scripts/libvirt-up.sh STATE_DIR, which uses a daemon that already answers
// as is, or starts virtlogd/libvirtd (adding only missing qemu.conf settings
// and saying so). The guard runs scripts/libvirt-down.sh STATE_DIR when
// destroyed: it stops only the daemons libvirt-up.sh started.
// The test VM does not need this: without a daemon it runs as plain qemu.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::vm {

// Does a libvirt daemon answer on `uri` (opens and closes a connection)?
bool libvirt_daemon_answers(const std::string& uri = "qemu:///system");

class LibvirtDaemonGuard {
 public:
  explicit LibvirtDaemonGuard(std::filesystem::path state_dir) : state_dir_(std::move(state_dir)) {}
  ~LibvirtDaemonGuard();
  LibvirtDaemonGuard(const LibvirtDaemonGuard&) = delete;
  LibvirtDaemonGuard& operator=(const LibvirtDaemonGuard&) = delete;
  // Stops the daemons libvirt-up.sh started (idempotent).
  void stop();
  // What libvirt-up.sh printed (used as is / started / added to qemu.conf).
  std::vector<std::string> messages;

 private:
  std::filesystem::path state_dir_;
  bool stopped_ = false;
};

// Runs libvirt-up.sh (from $CINERGY_SCRIPTS_DIR or the source tree's scripts/)
// with an argv; fails with its last message line when no daemon could answer.
Result<std::unique_ptr<LibvirtDaemonGuard>> ensure_libvirt(const std::filesystem::path& state_dir);

}  // namespace cinergy::vm
