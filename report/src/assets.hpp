// Files embedded at build time (generated report_assets.cpp, see
// report/CMakeLists.txt): uPlot from npm (package-lock pinned) and the
// report's own glue script and style from report/web/.
#pragma once

#include <string_view>

namespace cinergy::report::assets {
extern const std::string_view uplot_js;       // dist/uPlot.iife.min.js
extern const std::string_view uplot_css;      // dist/uPlot.min.css
extern const std::string_view uplot_license;  // LICENSE (MIT)
extern const std::string_view report_js;      // report/web/report.js
extern const std::string_view report_css;     // report/web/report.css
}  // namespace cinergy::report::assets
