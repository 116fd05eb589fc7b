#include "cinergy/common/time_format.hpp"

#include <cstdio>
#include <ctime>

namespace cinergy {
namespace {

std::tm utc_tm(std::time_t s) {
  std::tm tm{};
  ::gmtime_r(&s, &tm);
  return tm;
}

}  // namespace

std::string utc_compact(std::chrono::system_clock::time_point t) {
  const std::tm tm = utc_tm(std::chrono::system_clock::to_time_t(t));
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string utc_iso8601_ms(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::tm tm = utc_tm(static_cast<std::time_t>(ms / 1000));
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

}  // namespace cinergy
