#include "cinergy/model/dataset.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <regex>
#include <set>
#include <unordered_map>

namespace cinergy::model {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Parses a whole field as a double; accepts "nan" (missing) and a leading '+'.
bool parse_double(std::string_view s, double& out) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

const std::vector<double>* Table::column(std::string_view name) const {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return &columns[i];
  return nullptr;
}

std::vector<std::string> Table::vcpu_columns() const {
  std::vector<std::pair<int, std::string>> found;
  for (const auto& n : names) {
    if (n.size() < 4 || n.compare(0, 3, "CPU") != 0) continue;
    int idx = 0;
    auto [ptr, ec] = std::from_chars(n.data() + 3, n.data() + n.size(), idx);
    if (ec == std::errc() && ptr == n.data() + n.size()) found.emplace_back(idx, n);
  }
  std::ranges::sort(found);
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

std::vector<std::size_t> Table::complete_rows(const std::vector<std::string>& needed) const {
  std::vector<const std::vector<double>*> cols;
  if (needed.empty()) {
    for (const auto& c : columns) cols.push_back(&c);
  } else {
    for (const auto& n : needed) {
      const auto* c = column(n);
      if (c == nullptr) return {};
      cols.push_back(c);
    }
  }
  std::vector<std::size_t> out;
  out.reserve(rows());
  for (std::size_t r = 0; r < rows(); ++r) {
    bool okay = true;
    for (const auto* c : cols)
      if (!std::isfinite((*c)[r])) {
        okay = false;
        break;
      }
    if (okay) out.push_back(r);
  }
  return out;
}

Result<Table> parse_long_csv(std::string_view text, const std::filesystem::path& source) {
  const std::string src = source.string();
  if (trim(text).empty() || text.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return fail(fmt::format("{}: empty file", src));
  Table t;
  t.source = source;

  std::size_t pos = 0;
  std::size_t line_no = 0;
  auto next_line = [&](std::string_view& line) {
    if (pos >= text.size()) return false;
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = end + 1;
    ++line_no;
    return true;
  };

  std::string_view line;
  // Header (skip a UTF-8 BOM and leading blank lines).
  do {
    if (!next_line(line)) return fail(fmt::format("{}: empty file", src));
  } while (trim(line).empty());
  if (line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
  if (trim(line) != "timestamp,domain,measure")
    return fail(fmt::format("{}:{}: wrong header '{}' (expected 'timestamp,domain,measure')", src,
                            line_no, std::string(trim(line).substr(0, 80))));

  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> domain_index;
  std::unordered_map<double, std::size_t> row_of_ts;
  std::vector<double> ts_of_row;
  // Cells are collected first: the set of columns is only known at the end.
  struct Cell {
    std::uint32_t row;
    std::uint32_t col;
    double value;
  };
  std::vector<Cell> cells;
  cells.reserve(text.size() / 20);
  double last_ts = kNaN;
  std::size_t last_row = 0;
  std::size_t last_col = 0;
  std::string_view last_domain;
  constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> next_col;         // per column: the column that followed it last time
  std::vector<std::string_view> key_of_col;  // views of the map's keys (stable nodes)

  while (next_line(line)) {
    if (trim(line).empty()) continue;
    const std::size_t c1 = line.find(',');
    const std::size_t c2 = c1 == std::string_view::npos ? c1 : line.find(',', c1 + 1);
    if (c2 == std::string_view::npos || line.find(',', c2 + 1) != std::string_view::npos)
      return fail(fmt::format("{}:{}: expected 3 fields 'timestamp,domain,measure'", src, line_no));
    const std::string_view ts_text = line.substr(0, c1);
    const std::string_view domain = trim(line.substr(c1 + 1, c2 - c1 - 1));
    const std::string_view measure = line.substr(c2 + 1);
    double ts = 0;
    if (!parse_double(ts_text, ts) || !std::isfinite(ts))
      return fail(fmt::format("{}:{}: non-numeric timestamp '{}'", src, line_no,
                              std::string(trim(ts_text).substr(0, 40))));
    if (domain.empty()) return fail(fmt::format("{}:{}: empty domain", src, line_no));

    // Windows repeat the same domain sequence: try the domain that followed
    // the previous one last time before hashing.
    std::size_t col = 0;
    const std::size_t guess = last_col < next_col.size() ? next_col[last_col] : kNone;
    if (!last_domain.empty() && domain == last_domain) {
      col = last_col;
    } else if (guess != kNone && key_of_col[guess] == domain) {
      col = guess;
      last_col = col;
      last_domain = key_of_col[col];
    } else {
      auto it = domain_index.find(domain);
      if (it == domain_index.end()) {
        col = t.names.size();
        it = domain_index.emplace(std::string(domain), col).first;
        t.names.emplace_back(domain);
        key_of_col.push_back(it->first);
      } else {
        col = it->second;
      }
      if (last_col < next_col.size() && !last_domain.empty()) next_col[last_col] = col;
      last_col = col;
      last_domain = it->first;  // stable storage in the map's node
      if (next_col.size() < t.names.size()) next_col.resize(t.names.size(), kNone);
    }

    double value = 0;
    if (!parse_double(measure, value)) {
      if (domain == "phase") {
        // Present (0), so that dropna() only drops a window without a phase.
        if (t.phase.empty()) t.phase = std::string(trim(measure));
        value = 0.0;
      } else {
        return fail(fmt::format("{}:{}: non-numeric measure '{}' for domain '{}'", src, line_no,
                                std::string(trim(measure).substr(0, 40)), std::string(domain)));
      }
    }

    std::size_t row = 0;
    if (ts == last_ts) {
      row = last_row;
    } else {
      auto [it, inserted] = row_of_ts.try_emplace(ts, ts_of_row.size());
      if (inserted) ts_of_row.push_back(ts);
      row = it->second;
      last_ts = ts;
      last_row = row;
    }
    cells.push_back({static_cast<std::uint32_t>(row), static_cast<std::uint32_t>(col), value});
  }
  if (ts_of_row.empty()) return fail(fmt::format("{}: no data rows after the header", src));

  // Rows in ascending timestamp order.
  std::vector<std::uint32_t> order(ts_of_row.size());
  std::iota(order.begin(), order.end(), 0u);
  if (!std::ranges::is_sorted(ts_of_row))
    std::ranges::sort(order, [&](auto a, auto b) { return ts_of_row[a] < ts_of_row[b]; });
  std::vector<std::uint32_t> rank(order.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) rank[order[i]] = i;
  t.timestamp_s.resize(order.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) t.timestamp_s[i] = ts_of_row[order[i]];
  t.columns.assign(t.names.size(), std::vector<double>(order.size(), kNaN));
  // A later duplicate (timestamp, domain) overrides an earlier one.
  for (const auto& cell : cells) t.columns[cell.col][rank[cell.row]] = cell.value;
  return t;
}

Result<Table> load_long_csv(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec))
    return fail_errno(ENOENT, fmt::format("{}: cannot open", file.string()));
  if (std::filesystem::is_directory(file, ec))
    return fail(fmt::format("{}: is a directory, expected a CSV file", file.string()));
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) return fail_errno(fmt::format("{}: cannot open", file.string()));
  std::string text;
  const auto size = std::filesystem::file_size(file, ec);
  if (!ec) text.resize(size);
  std::size_t got = ec ? 0 : std::fread(text.data(), 1, text.size(), f);
  text.resize(got);
  char buf[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool err = std::ferror(f) != 0;
  std::fclose(f);
  if (err) return fail_errno(EIO, fmt::format("{}: read error", file.string()));
  return parse_long_csv(text, file);
}

Result<DataSet> load_dataset(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return fail(
        fmt::format("{}: not a directory (expected a folder of <prefix>-training-<step>.csv, "
                    "-groundtruth.csv, -cloudlike.csv)",
                    dir.string()));
  // A run directory's manifest gives host.threads and the CSV prefix (other
  // files there, like events-training-50.csv, must not count as a host).
  bool has_manifest = false;
  std::optional<int> manifest_threads;
  std::string manifest_prefix;
  bool simulated = false, replayed = false;
  const auto manifest = dir / "manifest.json";
  if (std::filesystem::exists(manifest, ec)) {
    has_manifest = true;
    std::ifstream in(manifest);
    auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return fail(fmt::format("{}: not valid JSON", manifest.string()));
    if (j.is_object() && j.contains("host") && j["host"].is_object() &&
        j["host"].contains("threads")) {
      const auto& th = j["host"]["threads"];
      if (!th.is_number_integer() || th.get<long long>() <= 0 || th.get<long long>() > 1 << 20)
        return fail(fmt::format("{}: host.threads must be a positive integer", manifest.string()));
      manifest_threads = th.get<int>();
    }
    if (j.is_object()) {
      const auto top = j.find("simulated");
      if (top != j.end() && top->is_boolean() && top->get<bool>()) simulated = true;
      const auto rapl = j.find("rapl");
      if (rapl != j.end() && rapl->is_object() && rapl->value("simulated", false) == true)
        simulated = true;
    }
    if (j.is_object() && j.contains("vm") && j["vm"].is_object() &&
        j["vm"].value("kind", "") == "testvm")
      replayed = true;
    if (j.is_object() && j.contains("csv_prefix") && j["csv_prefix"].is_string())
      manifest_prefix = j["csv_prefix"].get<std::string>();
  }
  // Any staircase step 1..100 (`cinergy run --steps`); the paper method
  // needs step 50, the Cinergy method interpolates between the steps it has.
  // `training-unpinned-<S>`: the same staircase with its workers left to the
  // scheduler (`cinergy run` on a host of several sockets).
  static const std::regex kName(
      R"((.+)-(training-(unpinned-)?([1-9][0-9]?|100)|groundtruth|cloudlike)\.csv)");
  struct Found {
    std::string prefix, phase;
    int step = 0;
    bool unpinned = false;
    std::filesystem::path path;
  };
  std::vector<Found> found;
  std::set<std::string> prefixes;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    const std::string name = entry.path().filename().string();
    std::smatch m;
    if (!std::regex_match(name, m, kName)) continue;
    if (name.starts_with("events-")) continue;  // a run directory's event logs, not data
    if (!manifest_prefix.empty() && m[1].str() != manifest_prefix) continue;
    Found f{m[1].str(), m[2].str(), m[4].matched ? std::stoi(m[4].str()) : 0, m[3].matched,
            entry.path()};
    prefixes.insert(f.prefix);
    found.push_back(std::move(f));
  }
  if (ec) return fail_errno(ec.value(), fmt::format("{}: cannot list", dir.string()));
  if (found.empty())
    return fail(
        fmt::format("{}: no <prefix>-training-<step>.csv, -groundtruth.csv or "
                    "-cloudlike.csv file",
                    dir.string()));
  if (prefixes.size() > 1) {
    std::string list;
    for (const auto& p : prefixes) list += (list.empty() ? "" : ", ") + p;
    return fail(fmt::format("{}: files of several hosts (prefixes {}); use one folder per host",
                            dir.string(), list));
  }
  DataSet d;
  d.has_manifest = has_manifest;
  d.simulated_power = simulated;
  d.replayed_profile = replayed;
  d.manifest_host_threads = manifest_threads;
  d.dir = dir;
  d.prefix = *prefixes.begin();
  std::ranges::sort(found, {}, &Found::path);
  for (const auto& f : found) {
    auto t = load_long_csv(f.path);
    if (!t) return std::unexpected(t.error());
    if (f.step != 0)
      (f.unpinned ? d.training_unpinned : d.training).emplace(f.step, std::move(*t));
    else if (f.phase == "groundtruth")
      d.groundtruth = std::move(*t);
    else
      d.cloudlike = std::move(*t);
  }
  return d;
}

Result<int> resolve_host_threads(const DataSet& data, std::optional<int> flag) {
  if (flag) {
    if (*flag <= 0) return fail(fmt::format("--host-threads must be positive (got {})", *flag));
    return *flag;
  }
  if (data.manifest_host_threads) return *data.manifest_host_threads;
  if (data.has_manifest)
    return fail(fmt::format("{}: manifest.json has no host.threads; pass --host-threads N",
                            (data.dir / "manifest.json").string()));
  return fail(
      fmt::format("{}: --host-threads N is required for original-format data (no "
                  "manifest.json)",
                  data.dir.string()));
}

}  // namespace cinergy::model
