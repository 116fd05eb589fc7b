#include "cinergy/common/cgroup.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

#include "cinergy/common/files.hpp"

namespace cinergy {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr long kCgroup2SuperMagic = 0x63677270;

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mount_path(std::string_view s) {
  const auto oct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && oct(s[i + 1]) && oct(s[i + 2]) && oct(s[i + 3])) {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool on_cgroupfs(const fs::path& dir) {
  struct statfs st {};
  return ::statfs(dir.c_str(), &st) == 0 && static_cast<long>(st.f_type) == kCgroup2SuperMagic;
}

}  // namespace

Result<fs::path> parse_cgroup2_mount(std::string_view mountinfo) {
  fs::path found;
  std::size_t pos = 0;
  while (pos < mountinfo.size()) {
    auto eol = mountinfo.find('\n', pos);
    if (eol == std::string_view::npos) eol = mountinfo.size();
    const std::string_view line = mountinfo.substr(pos, eol - pos);
    pos = eol + 1;
    // "id parent maj:min root mountpoint opts [optional...] - fstype source superopts"
    const auto sep = line.find(" - ");
    if (sep == std::string_view::npos) continue;
    const std::string_view tail = line.substr(sep + 3);
    if (tail.substr(0, tail.find(' ')) != "cgroup2") continue;
    std::istringstream head{std::string(line.substr(0, sep))};
    std::string id, parent, dev, root, mount_point;
    if (!(head >> id >> parent >> dev >> root >> mount_point)) continue;
    fs::path mp = unescape_mount_path(mount_point);
    if (mp == "/sys/fs/cgroup") return mp;  // pure v2 wins
    if (found.empty()) found = mp;
  }
  if (found.empty()) return fail("no cgroup2 hierarchy mounted (mountinfo has no cgroup2 entry)");
  return found;
}

Result<fs::path> cgroup2_mount(const fs::path& mountinfo) {
  auto text = read_file(mountinfo);
  if (!text) return std::unexpected(text.error());
  auto root = parse_cgroup2_mount(*text);
  if (!root) return fail(root.error().message + " (" + mountinfo.string() + ")");
  return root;
}

std::vector<pid_t> cgroup_pids(const fs::path& dir) {
  std::vector<pid_t> pids;
  std::ifstream in(dir / "cgroup.procs");
  long v = 0;
  while (in >> v)
    if (v > 0) pids.push_back(static_cast<pid_t>(v));
  return pids;
}

bool cgroup_populated(const fs::path& dir) {
  if (auto events = read_file(dir / "cgroup.events"))
    return events->find("populated 1") != std::string::npos;
  return !cgroup_pids(dir).empty();
}

Result<void> make_cgroup(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0) return fail_errno("cannot create cgroup " + dir.string());
  return ok();
}

Result<void> kill_cgroup(const fs::path& dir, std::chrono::milliseconds timeout,
                         const std::function<void(pid_t)>& kill_one,
                         const std::function<void()>& each_poll) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return ok();
  const auto deadline = Clock::now() + timeout;
  const bool killed_by_kernel = write_file(dir / "cgroup.kill", "1").has_value();
  while (true) {
    if (each_poll) each_poll();
    if (!cgroup_populated(dir)) break;
    // Without cgroup.kill (kernels before 5.14, fake trees): each pid, again
    // and again, since a forking process may add new ones.
    if (!killed_by_kernel)
      for (pid_t p : cgroup_pids(dir)) {
        if (kill_one)
          kill_one(p);
        else
          ::kill(p, SIGKILL);
      }
    if (Clock::now() >= deadline)
      return fail("cgroup " + dir.string() + " still holds " +
                  std::to_string(cgroup_pids(dir).size()) + " process(es) after " +
                  std::to_string(timeout.count()) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return ok();
}

Result<void> remove_cgroup_dir(const fs::path& dir, std::chrono::milliseconds timeout) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return ok();
  if (!on_cgroupfs(dir)) {
    fs::remove_all(dir, ec);  // a fake tree: the "cgroup files" are plain files
    if (ec) return fail_errno(ec.value(), "cannot remove " + dir.string());
    return ok();
  }
  const auto deadline = Clock::now() + timeout;
  while (::rmdir(dir.c_str()) != 0) {
    if (errno == ENOENT) break;
    // The kernel may still see the last task leaving (EBUSY) for a moment.
    if (errno != EBUSY || Clock::now() >= deadline)
      return fail_errno("cannot remove cgroup " + dir.string());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ok();
}

Result<void> kill_and_remove_cgroup(const fs::path& dir, std::chrono::milliseconds timeout) {
  if (auto r = kill_cgroup(dir, timeout); !r) return r;
  // Child directories first (libvirt's threaded emulator/vcpuN), deepest first.
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec)) dirs.push_back(it->path());
  std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
    return std::distance(a.begin(), a.end()) > std::distance(b.begin(), b.end());
  });
  for (const auto& d : dirs)
    if (auto r = remove_cgroup_dir(d, timeout); !r) return r;
  return remove_cgroup_dir(dir, timeout);
}

}  // namespace cinergy
