// e2e: headless Chromium opens the report of a 1 kHz fixture run, and the
// compare page of two fixture runs, from file://: no console error, every
// chart drew (the box plots' too), a screenshot is kept in the build
// directory (build/tests/report/artifacts/). The checking itself is
// tests/report/check_report.sh, reusable for any page.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "cinergy/report/compare.hpp"
#include "cinergy/report/report.hpp"
#include "fixture.hpp"

namespace fs = std::filesystem;

namespace {

// tests/report/check_report.sh on `html`, its screenshot to `shot` (removed
// first): its exit status (77: no chromium), or -1 when it did not exit.
int check_in_chromium(const fs::path& html, const fs::path& shot) {
  fs::remove(shot);
  const std::string cmd =
      std::string(CINERGY_CHECK_SCRIPT) + " " + html.string() + " " + shot.string();
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(ReportBrowser, FixtureAt1kHzRendersInChromium) {
  if (!fs::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "/usr/bin/chromium missing (scripts/install-deps.sh installs it)";
  const fs::path art = fs::path(CINERGY_BINARY_DIR) / "tests/report/artifacts";
  const fs::path run = art / "fixture-1khz";
  fs::remove_all(run);
  cinergy::test::FixtureOptions o;
  o.rate_hz = 1000;
  o.level_s = 4;
  o.vm_period_s = 6;
  o.vm_cycles = 3;
  ASSERT_EQ(cinergy::test::write_fixture(run, o), "");
  const fs::path html = art / "fixture-1khz-report.html";
  const auto t0 = std::chrono::steady_clock::now();
  auto r = cinergy::report::write_report(run, html);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.has_value()) << r.error().what();
  EXPECT_TRUE(r->missing.empty());
  std::printf("report: %s, %ju bytes, written in %.0f ms\n", html.c_str(),
              static_cast<std::uintmax_t>(fs::file_size(html)), ms);
  const fs::path shot = art / "fixture-1khz-report.png";
  const int rc = check_in_chromium(html, shot);
  ASSERT_GE(rc, 0) << "check_report.sh did not exit";
  if (rc == 77) GTEST_SKIP() << "chromium missing";
  EXPECT_EQ(rc, 0) << "check_report.sh failed (reason above)";
  EXPECT_TRUE(fs::exists(shot));
}

TEST(CompareBrowser, TwoHostsRenderInChromium) {
  if (!fs::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "/usr/bin/chromium missing (scripts/install-deps.sh installs it)";
  const fs::path art = fs::path(CINERGY_BINARY_DIR) / "tests/report/artifacts";
  const fs::path a = art / "compare-a", b = art / "compare-b";
  fs::remove_all(a);
  fs::remove_all(b);
  cinergy::test::FixtureOptions o;
  o.traces = false;
  ASSERT_EQ(cinergy::test::write_fixture(a, o), "");
  o.vm_cycles = 3;
  ASSERT_EQ(cinergy::test::write_fixture(b, o), "");
  const fs::path html = art / "compare-report.html";
  auto r = cinergy::report::write_compare({{{a, std::nullopt}, {b, std::nullopt}}, {}}, html);
  ASSERT_TRUE(r.has_value()) << r.error().what();
  const fs::path shot = art / "compare-report.png";
  const int rc = check_in_chromium(html, shot);
  ASSERT_GE(rc, 0) << "check_report.sh did not exit";
  if (rc == 77) GTEST_SKIP() << "chromium missing";
  EXPECT_EQ(rc, 0) << "check_report.sh failed (reason above)";
  EXPECT_TRUE(fs::exists(shot));
}

}  // namespace
