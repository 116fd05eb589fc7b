#include "cinergy/common/proc_stat.hpp"

#include <unistd.h>

#include <charconv>

#include "cinergy/common/files.hpp"
#include "cinergy/common/text.hpp"

namespace cinergy {

std::optional<ProcStat> read_proc_stat(const std::filesystem::path& stat_file) {
  auto text = read_file(stat_file);
  if (!text) return std::nullopt;
  // "pid (comm) S ppid ...": the fields after the last ')' start at field 3.
  const auto paren = text->rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  const auto fields = split(trim(std::string_view(*text).substr(paren + 1)), ' ');
  if (fields.size() < 20 || fields[0].size() != 1) return std::nullopt;
  ProcStat st;
  st.state = fields[0][0];
  const auto start = fields[19];
  if (std::from_chars(start.data(), start.data() + start.size(), st.start_ticks).ec != std::errc{})
    return std::nullopt;
  return st;
}

std::optional<double> ticks_to_unix_s(const std::filesystem::path& proc_root,
                                      std::uint64_t start_ticks) {
  auto text = read_file(proc_root / "stat");
  if (!text) return std::nullopt;
  for (auto line : split(*text, '\n')) {
    if (!line.starts_with("btime ")) continue;
    const auto v = trim(line.substr(6));
    double btime = 0;
    if (std::from_chars(v.data(), v.data() + v.size(), btime).ec != std::errc{})
      return std::nullopt;
    const long hz = ::sysconf(_SC_CLK_TCK);
    return btime + static_cast<double>(start_ticks) / static_cast<double>(hz > 0 ? hz : 100);
  }
  return std::nullopt;
}

}  // namespace cinergy
