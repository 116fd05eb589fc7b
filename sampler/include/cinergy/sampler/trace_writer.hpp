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
#include <optional>
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
  // Rows added so far (buffered ones included).
  [[nodiscard]] std::uint64_t rows() const { return rows_; }
  [[nodiscard]] Compression compression() const { return compression_; }
  // Flushes and closes the file. The writer then only answers questions.
  Result<void> close();
  // The sidecar's "trace" object, the final figures of the file as written:
  //   {"rows": data rows (the header not counted),
  //    "t_first_ns", "t_last_ns": t_ns of the first and last row, null when
  //    there are no rows}
  // so a reader can size its work before reading the file (the report does).
  // Only once close() has succeeded and no flush failed before it; nullopt
  // otherwise: a running or killed writer has no final figures, and after a
  // failed write the file may lack rows that were counted.
  [[nodiscard]] std::optional<nlohmann::json> closed_figures() const;

 private:
  TraceWriter() = default;
  // flush() without the bookkeeping of failures.
  Result<void> compress_and_write();
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
  std::int64_t t_first_ns_ = 0, t_last_ns_ = 0;  // of the rows added; meaningful when rows_ > 0
  bool write_failed_ = false;                    // a flush or the close failed: rows may be lost
  bool closed_ = false;                          // close() succeeded
};

// Writes `meta` as pretty JSON to `path` atomically (temp file + rename).
Result<void> write_json_file(const std::filesystem::path& path, const nlohmann::json& meta);

// "<trace>.meta.json"
std::filesystem::path sidecar_path(const std::filesystem::path& trace_path);

}  // namespace cinergy::sampler
