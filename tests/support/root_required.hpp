// Skips a kernel or e2e test with a printed reason when it cannot run here.
#pragma once

#include <unistd.h>

#include <gtest/gtest.h>

#define CINERGY_REQUIRE_ROOT()                                              \
  do {                                                                      \
    if (::geteuid() != 0) GTEST_SKIP() << "requires root (run as root or via sudo)"; \
  } while (0)
