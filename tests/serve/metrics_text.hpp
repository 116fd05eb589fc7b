// Reading Prometheus's text format in tests: the samples of one metric
// whose labels include given name="value" pairs.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace cinergy::test {

struct PromSample {
  std::string labels;  // between the braces, as written
  double value = 0;
  // The value of label `name` ("" when absent).
  [[nodiscard]] std::string label(const std::string& name) const {
    const auto key = name + "=\"";
    for (std::size_t at = labels.find(key); at != std::string::npos; at = labels.find(key, at + 1))
      if (at == 0 || labels[at - 1] == ',') {
        const auto begin = at + key.size();
        return labels.substr(begin, labels.find('"', begin) - begin);
      }
    return "";
  }
};

// Every sample of `metric` carrying all of `want` (label, value) pairs.
inline std::vector<PromSample> samples(
    const std::string& text, const std::string& metric,
    const std::vector<std::pair<std::string, std::string>>& want = {}) {
  std::vector<PromSample> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto brace = line.find('{');
    const auto space = line.rfind(' ');
    const auto name_end = std::min(brace, line.find(' '));
    if (line.compare(0, name_end, metric) != 0 || name_end != metric.size()) continue;
    PromSample s;
    if (brace != std::string::npos && brace == metric.size())
      s.labels = line.substr(brace + 1, line.rfind('}') - brace - 1);
    s.value = std::stod(line.substr(space + 1));
    bool all = true;
    for (const auto& [k, v] : want) all = all && s.label(k) == v;
    if (all) out.push_back(std::move(s));
  }
  return out;
}

// The one sample of `metric` with `want`, nullopt when there is none (or several).
inline std::optional<double> sample(
    const std::string& text, const std::string& metric,
    const std::vector<std::pair<std::string, std::string>>& want = {}) {
  const auto s = samples(text, metric, want);
  if (s.size() != 1) return std::nullopt;
  return s.front().value;
}

}  // namespace cinergy::test
