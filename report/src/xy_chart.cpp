#include "xy_chart.hpp"

#include <algorithm>
#include <cmath>

namespace cinergy::report::detail {

using nlohmann::json;

bool XyChart::empty() const {
  if (!boxes.empty()) return false;
  for (const auto& s : series)
    if (!s.pts.empty()) return false;
  return true;
}

json XyChart::to_json() const {
  struct Row {
    double x;
    std::size_t s;
    double y;
  };
  std::vector<Row> rows;
  for (std::size_t i = 0; i < series.size(); ++i)
    for (const auto& [x, y] : series[i].pts)
      if (std::isfinite(x) && std::isfinite(y)) rows.push_back({x, i, y});
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.x < b.x; });
  json xs = json::array();
  std::vector<json> ys(series.size(), json::array());
  for (const auto& r : rows) {
    xs.push_back(r.x);
    for (std::size_t i = 0; i < series.size(); ++i)
      ys[i].push_back(i == r.s ? json(std::round(r.y * 1000) / 1000) : json(nullptr));
  }
  json ser = json::array();
  for (std::size_t i = 0; i < series.size(); ++i)
    ser.push_back({{"label", series[i].label}, {"line", series[i].line}, {"y", ys[i]}});
  json j = {{"id", id},     {"title", title}, {"x_label", x_label}, {"y_label", y_label},
            {"note", note}, {"x", xs},        {"series", ser}};
  if (!container.empty()) j["container"] = container;
  if (small) j["small"] = true;
  if (!boxes.empty()) {
    auto r3 = [](double v) { return std::round(v * 1000) / 1000; };
    json b = json::array();
    for (const auto& box : boxes)
      b.push_back({{"x", r3(box.x)},
                   {"w", r3(box.width)},
                   {"lo", r3(box.lo)},
                   {"q1", r3(box.q1)},
                   {"med", r3(box.median)},
                   {"q3", r3(box.q3)},
                   {"hi", r3(box.hi)},
                   {"n", box.n}});
    j["boxes"] = std::move(b);
  }
  return j;
}

}  // namespace cinergy::report::detail
