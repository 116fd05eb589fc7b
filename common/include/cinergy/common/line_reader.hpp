// Reads the lines of a text file that may be plain, gzip or xz compressed:
// the one reader of traces (`trace-<phase>.csv.xz`, older `.csv.gz`, plain
// `.csv`) for every library and test. The compression is recognised from the
// file's first bytes; a name ending in .xz or .gz whose content is not that
// format is an error. Several concatenated gzip members or xz streams (what
// the trace writer produces, one per flush) are read as one text.
//
// A file cut short inside a member or stream (a killed writer), or corrupt
// data, stops the reading: every complete line before that point is
// delivered, and the stats say truncated with a one-line reason. It never
// throws for bad data (only on_line can throw).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "cinergy/common/error.hpp"

namespace cinergy {

enum class Compression { plain, gzip, xz };

[[nodiscard]] std::string_view compression_name(Compression c);

// What a file name asks for: ".xz" -> xz, ".gz" -> gzip, ".csv" -> plain
// (case-insensitive); nullopt for anything else. Used by the trace writer.
[[nodiscard]] std::optional<Compression> compression_from_name(const std::filesystem::path& path);

struct LineReadStats {
  Compression compression = Compression::plain;
  std::uint64_t lines = 0;  // lines delivered to on_line
  bool truncated = false;   // stopped before a clean end of the data
  std::string problem;      // why it stopped early; empty when it did not
};

// Calls on_line for each line (without its '\n'; a final line without '\n' is
// delivered only when the data ended cleanly). Errors (naming the path): the
// file cannot be opened or read, or its name and content disagree.
Result<LineReadStats> read_lines(const std::filesystem::path& path,
                                 const std::function<void(std::string_view)>& on_line);

}  // namespace cinergy
