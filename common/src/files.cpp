#include "cinergy/common/files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace cinergy {

Result<std::string> read_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno("cannot open " + path.string());
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return fail_errno(err, "cannot read " + path.string());
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<std::string> read_trimmed(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  return std::string(trim(*text));
}

Result<void> write_file(const std::filesystem::path& path, std::string_view text, bool create) {
  const int flags = O_WRONLY | O_CLOEXEC | (create ? (O_CREAT | O_TRUNC) : 0);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return fail_errno("cannot open " + path.string() + " for writing");
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = errno;
  ::close(fd);
  if (n < 0) return fail_errno(err, "cannot write " + path.string());
  if (static_cast<std::size_t>(n) != text.size()) return fail("short write to " + path.string());
  return ok();
}

Result<void> write_atomic(const std::filesystem::path& path, std::string_view text) {
  auto tmp = path;
  tmp += ".tmp";
  if (auto r = write_file(tmp, text, true); !r) return r;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail_errno(err, "cannot rename " + tmp.string() + " to " + path.string());
  }
  return ok();
}

}  // namespace cinergy
