// The one error model of Cinergy (see README, "Error model").
//
// * Setup code (opening files, parsing, loading BPF, talking to libvirt)
//   returns Result<T> = std::expected<T, Error>. An Error carries the errno
//   (0 when not a system error) and a one-line, human-readable message that
//   already names the file, flag or object involved.
// * Hot paths (the sampling loop, BPF map reads) never throw, never log and
//   never allocate: they count failures (read_errors, dropped) instead.
// * Only the cinergy executable turns an Error into "cinergy: <message>" on
//   stderr and a non-zero exit code. Exceptions are caught there too.
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <utility>

namespace cinergy {

struct Error {
  int errno_value = 0;  // errno at the failure, 0 if not a system error
  std::string message;  // one line, no trailing newline

  // "what: strerror(errno)" when errno_value != 0, else just the message.
  [[nodiscard]] std::string what() const {
    if (errno_value == 0) return message;
    return message + ": " + std::strerror(errno_value);
  }
};

template <typename T>
using Result = std::expected<T, Error>;

// Result<void> helper: `return ok();`
inline std::expected<void, Error> ok() { return {}; }

// An error without errno: `return fail("bad rate {}", r)` style callers format first.
inline std::unexpected<Error> fail(std::string message) {
  return std::unexpected(Error{0, std::move(message)});
}

// An error from the current errno (call right after the failing syscall).
inline std::unexpected<Error> fail_errno(std::string message) {
  return std::unexpected(Error{errno, std::move(message)});
}

inline std::unexpected<Error> fail_errno(int errno_value, std::string message) {
  return std::unexpected(Error{errno_value, std::move(message)});
}

}  // namespace cinergy
