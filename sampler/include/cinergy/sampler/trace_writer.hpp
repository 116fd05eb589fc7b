// Writes the trace (format in sampler.hpp): gzip-compressed CSV made of
// complete gzip members, one per flush, so a reader sees every flushed row even
// if the process is killed mid-run (gzip readers concatenate members). Used by
// the writer thread only; not thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::sampler {

class TraceWriter {
 public:
  // Creates/truncates `path` and buffers the header line. Error names the path.
  static Result<TraceWriter> open(const std::filesystem::path& path,
                                  const std::vector<std::string>& columns, int level = 6);
  TraceWriter(TraceWriter&&) noexcept;
  TraceWriter& operator=(TraceWriter&&) noexcept;
  ~TraceWriter();

  // Appends one row: t_ns, simulated flag, then the values (one per remaining column).
  void add_row(std::int64_t t_ns, bool simulated, std::span<const std::uint64_t> values);
  // Compresses the buffered rows into one complete gzip member and writes it.
  // No-op when nothing is buffered. Error names the path (disk full, ...).
  Result<void> flush();
  [[nodiscard]] std::size_t buffered_bytes() const { return text_.size(); }
  [[nodiscard]] std::uint64_t bytes_written() const { return bytes_written_; }
  [[nodiscard]] std::uint64_t rows() const { return rows_; }
  Result<void> close();

 private:
  TraceWriter() = default;
  std::filesystem::path path_;
  int fd_ = -1;
  int level_ = 6;
  std::string text_;
  std::vector<unsigned char> out_;
  std::uint64_t bytes_written_ = 0, rows_ = 0;
};

// Writes `meta` as pretty JSON to `path` atomically (temp file + rename).
Result<void> write_json_file(const std::filesystem::path& path, const nlohmann::json& meta);

// "<trace>.meta.json"
std::filesystem::path sidecar_path(const std::filesystem::path& trace_path);

}  // namespace cinergy::sampler
