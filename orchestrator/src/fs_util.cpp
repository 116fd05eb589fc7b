#include "fs_util.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace cinergy::orchestrator::detail {

Result<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail_errno("cannot read " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<void> write_text(const std::filesystem::path& path, const std::string& text, bool create) {
  const int flags = O_WRONLY | O_CLOEXEC | (create ? (O_CREAT | O_TRUNC) : 0);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return fail_errno("cannot open " + path.string());
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = errno;
  ::close(fd);
  if (n < 0 || static_cast<std::size_t>(n) != text.size())
    return fail_errno(n < 0 ? err : EIO, "cannot write " + path.string());
  return ok();
}

Result<void> write_atomic(const std::filesystem::path& path, const std::string& text) {
  auto tmp = path;
  tmp += ".tmp";
  if (auto r = write_text(tmp, text, true); !r) return r;
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return fail_errno(ec.value(), "cannot rename " + tmp.string());
  return ok();
}

std::optional<std::string> read_line(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ' || line.back() == '\r'))
    line.pop_back();
  return line;
}

}  // namespace cinergy::orchestrator::detail
