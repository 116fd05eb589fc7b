// What the e2e tests with the test VM set up once per binary: the test VM's
// kernel and initramfs (built on first use, cached), and a libvirt daemon on
// qemu:///system (the host's when one answers, else one started by
// scripts/libvirt-up.sh in a state directory of the test's, stopped by the
// guard). With qemu present, a test VM that cannot be built is a failure.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "../../orchestrator/vm/src/vm_internal.hpp"
#include "cinergy/common/files.hpp"
#include "cinergy/common/process.hpp"
#include "cinergy/vm/libvirt_daemon.hpp"
#include "temp_dir.hpp"

namespace cinergy::test {

// The test VM's cache: $CINERGY_TESTVM_CACHE, else /var/cache/cinergy/testvm.
inline std::filesystem::path testvm_cache_dir() {
  const char* env = std::getenv("CINERGY_TESTVM_CACHE");
  return env && *env ? std::filesystem::path(env)
                     : std::filesystem::path(vm::detail::kTestVmDefaultCache);
}

// Builds (or checks) the test VM; empty when it is there, else why not.
inline std::string build_testvm() {
  namespace fs = std::filesystem;
  const auto log =
      fs::temp_directory_path() / ("cinergy-build-testvm-" + std::to_string(::getpid()) + ".log");
  auto built = run_wait(
      {(vm::detail::scripts_dir() / "build-testvm.sh").string(), testvm_cache_dir().string()},
      std::chrono::seconds(600), log);
  std::string why;
  if (!built || *built != 0)
    why = "scripts/build-testvm.sh " + testvm_cache_dir().string() + " failed (" +
          (built ? "exit " + std::to_string(*built) : built.error().what()) +
          "): " + read_file(log).value_or("(no output)");
  std::error_code ec;
  fs::remove(log, ec);
  return why;
}

// A libvirt daemon answering on qemu:///system for the tests.
struct LibvirtForTests {
  std::unique_ptr<TempDir> state;                  // set when the tests started it
  std::unique_ptr<vm::LibvirtDaemonGuard> daemon;  // stops only what it started
  std::string error;                               // why none answers
  void start() {
    if (vm::libvirt_daemon_answers("qemu:///system")) return;
    state = std::make_unique<TempDir>();
    auto up = vm::ensure_libvirt(state->path());
    if (!up)
      error = "no libvirt daemon answers on qemu:///system and libvirt-up.sh failed: " +
              up.error().what();
    else
      daemon = std::move(*up);
  }
  void stop() {
    daemon.reset();
    state.reset();
  }
};

}  // namespace cinergy::test
