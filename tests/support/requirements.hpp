// What a kernel or e2e test needs, checked the same way everywhere. A test
// that cannot run here skips with the reason printed; scripts/test.sh lists
// every skip at the end, and under CI=true as root a skip whose reason is not
// in tests/expected-skips.txt fails the run (tests/check_skips.py).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace cinergy::test {

// Whether `name` is an executable file in a directory of $PATH: the same
// lookup execvp() makes when the code under test starts it.
inline bool program_on_path(std::string_view name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string_view dirs(path);
  while (!dirs.empty()) {
    const auto colon = dirs.find(':');
    const auto dir = dirs.substr(0, colon);
    if (!dir.empty()) {
      const auto file = std::filesystem::path(dir) / name;
      if (::access(file.c_str(), X_OK) == 0) return true;
    }
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return false;
}

}  // namespace cinergy::test

#define CINERGY_REQUIRE_ROOT()                                                       \
  do {                                                                               \
    if (::geteuid() != 0) GTEST_SKIP() << "requires root (run as root or via sudo)"; \
  } while (0)

// `package`: the Debian package that provides it (scripts/install-deps.sh).
#define CINERGY_REQUIRE_PROGRAM(name, package)                              \
  do {                                                                      \
    if (!::cinergy::test::program_on_path(name))                            \
      GTEST_SKIP() << (name) << " not found on PATH (package " << (package) \
                   << ", installed by scripts/install-deps.sh)";            \
  } while (0)
