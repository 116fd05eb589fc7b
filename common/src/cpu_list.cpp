#include "cinergy/common/cpu_list.hpp"

#include <algorithm>

#include "cinergy/common/text.hpp"

namespace cinergy {
namespace {

bool parse_cpu(std::string_view s, int& out) {
  const auto v = parse_int(trim(s));
  if (!v || *v < 0) return false;
  out = *v;
  return true;
}

}  // namespace

Result<std::vector<int>> parse_cpu_list(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return fail("bad CPU list '" + std::string(trim(text).substr(0, 60)) +
                "': " + std::string(why));
  };
  std::vector<int> cpus;
  std::string_view rest = trim(text);
  if (rest.empty()) return bad("empty");
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const auto dash = item.find('-');
    int lo = 0, hi = 0;
    if (dash == std::string_view::npos) {
      if (!parse_cpu(item, lo)) return bad("not a CPU number");
      hi = lo;
    } else if (!parse_cpu(item.substr(0, dash), lo) || !parse_cpu(item.substr(dash + 1), hi)) {
      return bad("not a range");
    }
    if (hi < lo) return bad("reversed range");
    if (hi - lo > 65535) return bad("range too large");
    for (int c = lo; c <= hi; ++c) cpus.push_back(c);
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string format_cpu_list(const std::vector<int>& cpus) {
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) {
      out += '-';
      out += std::to_string(cpus[j]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace cinergy
