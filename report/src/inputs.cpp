#include "inputs.hpp"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <limits>
#include <sstream>

#include "cinergy/common/csv.hpp"

namespace cinergy::report::detail {

static Result<std::vector<std::string>> read_small_file_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return fail_errno(errno ? errno : ENOENT, "cannot open " + path.string());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
  }
  return lines;
}

std::optional<std::size_t> CsvTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  return std::nullopt;
}

double CsvTable::number(std::size_t row, std::size_t col) const {
  if (row >= rows.size() || col >= rows[row].size())
    return std::numeric_limits<double>::quiet_NaN();
  return cinergy::parse_double(rows[row][col]).value_or(std::numeric_limits<double>::quiet_NaN());
}

Result<CsvTable> read_table(const std::filesystem::path& path) {
  auto lines = read_small_file_lines(path);
  if (!lines) return std::unexpected(lines.error());
  if (lines->empty()) return fail(path.string() + ": empty file, no CSV header");
  CsvTable t;
  for (auto f : cinergy::split_csv((*lines)[0])) t.header.emplace_back(f);
  for (std::size_t i = 1; i < lines->size(); ++i) {
    std::vector<std::string> row;
    for (auto f : cinergy::split_csv((*lines)[i])) row.emplace_back(f);
    t.rows.push_back(std::move(row));
  }
  return t;
}

Result<nlohmann::json> read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return fail_errno(errno ? errno : ENOENT, "cannot open " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail(path.string() + ": not valid JSON");
  return j;
}

std::optional<std::filesystem::path> find_original_csv(const std::filesystem::path& dir,
                                                       std::string_view phase) {
  // Built by appending: GCC 12 at -O3 reports a false -Wrestrict overlap for
  // `"-" + std::string(phase) + ".csv"` (GCC bug 105329).
  std::string suffix = "-";
  suffix.append(phase).append(".csv");
  std::error_code ec;
  std::vector<std::filesystem::path> found;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > suffix.size() && name.ends_with(suffix) && !name.starts_with("events-") &&
        e.is_regular_file(ec))
      found.push_back(e.path());
  }
  if (found.empty()) return std::nullopt;
  std::sort(found.begin(), found.end());
  return found.front();
}

}  // namespace cinergy::report::detail
