#include "inputs.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <limits>
#include <set>
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

const nlohmann::json* jget(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(k);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
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

std::vector<std::string> run_phases(const std::filesystem::path& dir,
                                    const nlohmann::json* manifest) {
  std::set<int> steps;
  if (manifest)
    if (const nlohmann::json* st = jget(*manifest, {"settings", "steps"}); st && st->is_array())
      for (const auto& v : *st)
        if (v.is_number_integer() && v.get<int>() >= 1 && v.get<int>() <= 100)
          steps.insert(v.get<int>());
  // A file named for a step: "...training-<N>" followed by '.' (".csv",
  // ".csv.xz", ".meta.json"), N in 1..100 without a leading zero.
  // The same after "training-unpinned-": scenario A's unpinned staircases.
  std::set<int> unpinned;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    for (std::size_t at = name.find("training-"); at != std::string::npos;
         at = name.find("training-", at + 1)) {
      const bool is_unpinned = name.compare(at + 9, 9, "unpinned-") == 0;
      const std::size_t b = at + (is_unpinned ? 18 : 9);
      std::size_t end = b;
      while (end < name.size() && end - b < 4 && name[end] >= '0' && name[end] <= '9') ++end;
      if (end == b || end >= name.size() || name[end] != '.' || name[b] == '0') continue;
      const int n = std::stoi(name.substr(b, end - b));
      if (n >= 1 && n <= 100) (is_unpinned ? unpinned : steps).insert(n);
    }
  }
  if (steps.empty()) steps = {25, 50, 100};
  std::vector<std::string> out;
  for (int s : steps) out.push_back(fmt::format("training-{}", s));
  for (int s : unpinned) out.push_back(fmt::format("training-unpinned-{}", s));
  out.emplace_back("groundtruth");
  out.emplace_back("cloudlike");
  return out;
}

namespace {

std::string method_suffix(const std::string& method) { return method == "paper" ? "-paper" : ""; }

void note_error(Inputs& in, const std::string& what, const Error& e) {
  in.problems.push_back(what + ": " + e.what());
}

}  // namespace

Inputs gather(const std::filesystem::path& dir) {
  Inputs in;
  in.dir = dir;
  if (auto m = read_json(dir / "manifest.json")) {
    in.manifest = *m;
    if (const nlohmann::json* t = jget(*m, {"host", "threads"}); t && t->is_number_integer())
      in.threads = t->get<int>();
  } else if (std::filesystem::exists(dir / "manifest.json")) {
    note_error(in, "manifest.json", m.error());
  } else {
    in.missing.push_back("manifest.json");
  }
  in.phases = run_phases(dir, in.manifest ? &*in.manifest : nullptr);
  for (const std::string& phase : in.phases) {
    auto p = find_original_csv(dir, phase);
    if (!p) {
      in.missing.push_back("<host>-" + phase + ".csv");
      continue;
    }
    // The model library's reader, the one the analysis used: a file it
    // refuses is unreadable here too, with its one-line error.
    auto t = model::load_long_csv(*p);
    if (t)
      in.csv[phase] = std::move(*t);
    else
      note_error(in, p->filename().string(), t.error());
  }
  for (std::string method : {"cinergy", "paper"}) {
    const std::string sfx = method_suffix(method);
    // The model file is read by the model library: one it refuses (another
    // schema, a malformed curve) is unreadable with the library's error.
    const std::filesystem::path model_file = dir / ("model" + sfx + ".json");
    if (!std::filesystem::exists(model_file)) {
      in.missing.push_back(model_file.filename().string());
    } else if (auto j = read_json(model_file); !j) {
      note_error(in, model_file.filename().string(), j.error());
    } else if (auto v = read_model_view(std::move(*j), model_file.string()); !v) {
      note_error(in, model_file.filename().string(), v.error());
    } else {
      in.model[method] = std::move(*v);
    }
    const std::filesystem::path eval_file = dir / ("evaluation" + sfx + ".json");
    if (!std::filesystem::exists(eval_file)) {
      in.missing.push_back(eval_file.filename().string());
    } else if (auto j = read_json(eval_file)) {
      in.evaluation[method] = std::move(*j);
    } else {
      note_error(in, eval_file.filename().string(), j.error());
    }
    const std::filesystem::path iso = dir / ("isolated" + sfx + ".csv");
    if (!std::filesystem::exists(iso)) {
      in.missing.push_back(iso.filename().string());
    } else if (auto t = read_table(iso)) {
      in.isolated[method] = std::move(*t);
    } else {
      note_error(in, iso.filename().string(), t.error());
    }
  }
  return in;
}

}  // namespace cinergy::report::detail
