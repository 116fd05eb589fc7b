// One small scatter/line chart over 2 s windows (figures 2-4 and the
// paper's figures), as the JSON spec report.js draws with uPlot.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model_view.hpp"

namespace cinergy::report::detail {

// One box of a box plot (values in the chart's y unit, x at the box centre).
struct Box {
  double x = 0, width = 0;                            // centre and full width, in x units
  double lo = 0, q1 = 0, median = 0, q3 = 0, hi = 0;  // whiskers and quartiles
  std::size_t n = 0;
};

// Aligned (x, y1..yn) table for a uPlot chart: every point gets its own row,
// other series null there; lines span the gaps. `container` names the page
// element the chart goes into (report.js has a default per id otherwise);
// `small` charts sit side by side in a grid.
struct XyChart {
  std::string id, title, x_label, y_label, note, container;
  bool small = false;
  struct S {
    std::string label;
    bool line;
    Points pts;
  };
  std::vector<S> series;
  std::vector<Box> boxes;  // drawn under the series (report.js draw hook)
  [[nodiscard]] bool empty() const;
  [[nodiscard]] nlohmann::json to_json() const;
};

}  // namespace cinergy::report::detail
