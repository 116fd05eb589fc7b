// UTC timestamps as Cinergy writes them in names and manifests.
#pragma once

#include <chrono>
#include <string>

namespace cinergy {

// "20261201T083000Z": run directories and run ids (sorts as it reads).
std::string utc_compact(std::chrono::system_clock::time_point t);
// "2026-12-01T08:30:00.123Z" (milliseconds): manifests.
std::string utc_iso8601_ms(std::chrono::system_clock::time_point t);

}  // namespace cinergy
