// CPU lists as the kernel writes them (`/sys/devices/system/cpu/online`,
// a perf PMU's `cpumask`, cpuset files): "0", "0,18", "0-3,8-11".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy {

// Ascending, without duplicates. Blanks and a trailing newline are allowed;
// an empty list, a reversed range or a non-number is an error quoting `text`.
Result<std::vector<int>> parse_cpu_list(std::string_view text);
// The inverse: ranges collapsed ("0-3,8").
std::string format_cpu_list(const std::vector<int>& cpus);

}  // namespace cinergy
