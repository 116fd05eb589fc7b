#include "cinergy/sampler/specpower.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "cinergy/common/csv.hpp"

namespace cinergy::sampler {

double SpecCurve::power_w(double utilisation) const {
  const double u = std::clamp(utilisation, 0.0, 1.0) * 10.0;
  const auto i = std::min(static_cast<std::size_t>(u), std::size_t{9});
  const double f = u - static_cast<double>(i);
  return watts[i] + (watts[i + 1] - watts[i]) * f;
}

namespace {

bool to_double(const std::string& s, double& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

Result<std::vector<SpecCurve>> parse_specpower_csv(std::string_view csv) {
  std::vector<SpecCurve> out;
  std::map<std::string, std::size_t> col;
  std::size_t pos = 0, line_no = 0;
  while (pos < csv.size()) {
    auto nl = csv.find('\n', pos);
    std::string_view line = csv.substr(pos, nl == std::string_view::npos ? csv.npos : nl - pos);
    pos = nl == std::string_view::npos ? csv.size() : nl + 1;
    ++line_no;
    if (line.empty() || line == "\r") continue;
    auto f = split_csv_quoted(line);
    if (col.empty()) {
      for (std::size_t i = 0; i < f.size(); ++i) col[f[i]] = i;
      for (const char* need : {"result_id", "watts_idle", "watts_100", "chips", "threads"})
        if (!col.contains(need)) return fail(std::string("specpower CSV: no column ") + need);
      continue;
    }
    auto get = [&](const std::string& name) -> std::string {
      auto it = col.find(name);
      return it != col.end() && it->second < f.size() ? f[it->second] : std::string();
    };
    SpecCurve c;
    c.result_id = get("result_id");
    c.system = get("system");
    c.cpu_name = get("cpu_name");
    double v = 0;
    if (to_double(get("cores"), v)) c.cores = static_cast<int>(v);
    if (to_double(get("chips"), v)) c.chips = static_cast<int>(v);
    if (to_double(get("threads"), v)) c.threads = static_cast<int>(v);
    for (int k = 0; k <= 10; ++k) {
      const std::string name = k == 0 ? "watts_idle" : "watts_" + std::to_string(k * 10);
      if (!to_double(get(name), c.watts[static_cast<std::size_t>(k)]))
        return fail("specpower CSV line " + std::to_string(line_no) + ": bad " + name);
    }
    out.push_back(std::move(c));
  }
  if (out.empty()) return fail("specpower CSV has no rows");
  return out;
}

Result<SpecCurve> find_spec_curve(std::string_view result_id,
                                  const std::filesystem::path& csv_path) {
  std::string text;
  if (!csv_path.empty()) {
    std::ifstream in(csv_path, std::ios::binary);
    if (!in) return fail_errno(ENOENT, "cannot open " + csv_path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  auto curves = parse_specpower_csv(csv_path.empty() ? embedded_specpower_csv() : text);
  if (!curves) return std::unexpected(curves.error());
  const std::string_view want = result_id.empty() ? kDefaultSimHost : result_id;
  for (auto& c : *curves)
    if (c.result_id == want) return c;
  return fail("unknown --sim-host '" + std::string(want) +
              "' (a result_id of the SPECpower curves, e.g. " + std::string(kDefaultSimHost) + ")");
}

}  // namespace cinergy::sampler
