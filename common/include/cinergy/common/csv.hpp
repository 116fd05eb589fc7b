// The comma-separated text Cinergy reads, split in one place: its own
// formats (traces, the original long format, evaluation tables) never quote,
// so they are split into views without copying; the SPECpower curves quote
// system names ("Server, 2U"), so they have an RFC 4180 splitter.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cinergy {

// Splits one line on commas; a trailing CR is dropped first. "a,,b" gives
// three fields, "" one empty field.
std::vector<std::string_view> split_csv(std::string_view line);
// The same into `out` (cleared first), without allocating once `out` has grown.
void split_csv(std::string_view line, std::vector<std::string_view>& out);

// RFC 4180 quoting ("a, b" and "" for a quote); no embedded newlines.
std::vector<std::string> split_csv_quoted(std::string_view line);

// A whole field as a double (surrounding blanks and a leading '+' allowed;
// "nan"/"NaN" give NaN); nullopt when it is not entirely a number.
std::optional<double> parse_double(std::string_view field);

}  // namespace cinergy
