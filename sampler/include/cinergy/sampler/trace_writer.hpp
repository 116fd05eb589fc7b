// Writes the trace (format in sampler.hpp): CSV made of complete gzip members
// or xz streams, one per flush (the sampler flushes once a second), so a
// reader sees every flushed row even if the process is killed mid-run
// (gzip/xz readers, pandas and cinergy::read_lines included, concatenate
// members; only a flush cut by the kill is lost). Used by the writer thread
// only; not thread-safe.
//
// Compression follows the file name (cinergy::compression_from_name):
// "*.xz" = xz, the default of `cinergy run` (LZMA2, normal mode, HC3 match
// finder, nice_len 16, 1 MiB dictionary, pb=lp=0: one hour at 1 kHz of 8
// energy series is ~93 MB, against ~147 MB as gzip; docs/sampler.md has the
// presets measured), "*.gz" = gzip level `level` (about half the CPU of xz),
// "*.csv" = plain text; any other name is an error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "cinergy/common/error.hpp"
#include "cinergy/common/line_reader.hpp"

namespace cinergy::sampler {

class TraceWriter {
 public:
  // Creates/truncates `path` and buffers the header line. Error names the
  // path (unwritable, or a name that is not *.csv.xz, *.csv.gz or *.csv).
  static Result<TraceWriter> open(const std::filesystem::path& path,
                                  const std::vector<std::string>& columns, int level = 6);
  TraceWriter(TraceWriter&&) noexcept;
  TraceWriter& operator=(TraceWriter&&) noexcept;
  ~TraceWriter();

  // Appends one row: t_ns, simulated flag, then the values (one per remaining column).
  void add_row(std::int64_t t_ns, bool simulated, std::span<const std::uint64_t> values);
  // Writes the buffered rows as one complete gzip member / xz stream (or as
  // they are, for plain text).
  // No-op when nothing is buffered. Error names the path (disk full, ...).
  Result<void> flush();
  [[nodiscard]] std::size_t buffered_bytes() const { return text_.size(); }
  [[nodiscard]] std::uint64_t bytes_written() const { return bytes_written_; }
  [[nodiscard]] std::uint64_t rows() const { return rows_; }
  [[nodiscard]] Compression compression() const { return compression_; }
  Result<void> close();

 private:
  TraceWriter() = default;
  // Writes data[0, n) to the file and clears the text buffer.
  Result<void> write_out(const unsigned char* data, std::size_t n);
  std::filesystem::path path_;
  int fd_ = -1;
  int level_ = 6;
  Compression compression_ = Compression::xz;
  struct XzEncoder;
  std::unique_ptr<XzEncoder> xz_;  // created at the first xz flush
  std::string text_;
  std::vector<unsigned char> out_;
  std::uint64_t bytes_written_ = 0, rows_ = 0;
};

// Writes `meta` as pretty JSON to `path` atomically (temp file + rename).
Result<void> write_json_file(const std::filesystem::path& path, const nlohmann::json& meta);

// "<trace>.meta.json"
std::filesystem::path sidecar_path(const std::filesystem::path& trace_path);

}  // namespace cinergy::sampler
