#include "cinergy/orchestrator/original_csv.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace cinergy::orchestrator {

std::string format_measure(double value) {
  // Python's round(v, 2) is correctly rounded (ties to even on the exact
  // binary value), as is printf's %.2f; then repr() prints the shortest
  // digits that read back as the same double.
  char fixed[64];
  std::snprintf(fixed, sizeof fixed, "%.2f", value);
  double r = std::strtod(fixed, nullptr);
  if (r == 0.0) r = 0.0;  // no "-0.0"
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, r);
  if (ec != std::errc{}) return "nan";
  std::string s(buf, p);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

Result<OriginalCsvWriter> OriginalCsvWriter::open(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "we");
  if (f == nullptr) return fail_errno("cannot create " + path.string());
  std::fputs("timestamp,domain,measure\n", f);
  std::fflush(f);
  return OriginalCsvWriter(f, path);
}

OriginalCsvWriter::OriginalCsvWriter(OriginalCsvWriter&& o) noexcept
    : file_(std::exchange(o.file_, nullptr)), path_(std::move(o.path_)) {}
OriginalCsvWriter& OriginalCsvWriter::operator=(OriginalCsvWriter&& o) noexcept {
  if (this != &o) {
    close();
    file_ = std::exchange(o.file_, nullptr);
    path_ = std::move(o.path_);
  }
  return *this;
}
OriginalCsvWriter::~OriginalCsvWriter() { close(); }

void OriginalCsvWriter::close() {
  if (file_ != nullptr) std::fclose(std::exchange(file_, nullptr));
}

Result<void> OriginalCsvWriter::write_window(std::int64_t ts, std::string_view phase,
                                             std::optional<double> target_pct,
                                             const std::vector<Row>& rows) {
  if (file_ == nullptr) return fail("write to a closed file " + path_.string());
  std::string out = fmt::format("{},phase,{}\n", ts, phase);
  if (target_pct && std::isfinite(*target_pct))
    out += fmt::format("{},target,{}\n", ts, format_measure(*target_pct));
  for (const auto& [name, value] : rows)
    if (std::isfinite(value)) out += fmt::format("{},{},{}\n", ts, name, format_measure(value));
  if (std::fwrite(out.data(), 1, out.size(), file_) != out.size() || std::fflush(file_) != 0)
    return fail_errno("cannot write " + path_.string());
  return ok();
}

Result<EventLog> EventLog::open(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "we");
  if (f == nullptr) return fail_errno("cannot create " + path.string());
  std::fputs("t_ns,event,level,window,target_pct,workers\n", f);
  std::fflush(f);
  return EventLog(f);
}
EventLog::EventLog(EventLog&& o) noexcept : file_(std::exchange(o.file_, nullptr)) {}
EventLog& EventLog::operator=(EventLog&& o) noexcept {
  if (this != &o) {
    close();
    file_ = std::exchange(o.file_, nullptr);
  }
  return *this;
}
EventLog::~EventLog() { close(); }
void EventLog::close() {
  if (file_ != nullptr) std::fclose(std::exchange(file_, nullptr));
}

void EventLog::write(std::int64_t t_ns, std::string_view event, int level, int window,
                     std::optional<double> target_pct, int workers) {
  if (file_ == nullptr) return;
  const std::string target = target_pct ? format_measure(*target_pct) : "";
  std::fprintf(file_, "%lld,%.*s,%d,%d,%s,%d\n", static_cast<long long>(t_ns),
               static_cast<int>(event.size()), event.data(), level, window, target.c_str(),
               workers);
  std::fflush(file_);
}

std::filesystem::path original_csv_path(const std::filesystem::path& dir, const std::string& prefix,
                                        const std::string& phase) {
  return dir / (prefix + "-" + phase + ".csv");
}

}  // namespace cinergy::orchestrator
