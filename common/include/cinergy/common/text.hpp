// Small text helpers for setup code: trimming, splitting, whole-field integers.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace cinergy {

// `s` without leading and trailing spaces, tabs, CR and LF.
std::string_view trim(std::string_view s);
// Fields between `sep`s: "a,,b" gives three, "" one empty field.
std::vector<std::string_view> split(std::string_view text, char sep);
// The whole of `s` as a decimal int (no blanks, no sign but '-'); nullopt
// otherwise, or when out of range.
std::optional<int> parse_int(std::string_view s);

}  // namespace cinergy
