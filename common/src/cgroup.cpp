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
constexpr long kCgroupSuperMagic = 0x27e0eb;  // cgroup v1

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
  if (::statfs(dir.c_str(), &st) != 0) return false;
  const auto type = static_cast<long>(st.f_type);
  return type == kCgroup2SuperMagic || type == kCgroupSuperMagic;
}

// Each mountinfo line split as "id parent maj:min root mountpoint opts
// [optional...] - fstype source superopts": f(fstype, mount point, superopts).
template <typename F>
void for_each_mount(std::string_view mountinfo, F&& f) {
  std::size_t pos = 0;
  while (pos < mountinfo.size()) {
    auto eol = mountinfo.find('\n', pos);
    if (eol == std::string_view::npos) eol = mountinfo.size();
    const std::string_view line = mountinfo.substr(pos, eol - pos);
    pos = eol + 1;
    const auto sep = line.find(" - ");
    if (sep == std::string_view::npos) continue;
    std::istringstream head{std::string(line.substr(0, sep))};
    std::istringstream tail{std::string(line.substr(sep + 3))};
    std::string id, parent, dev, root, mount_point, fstype, source, superopts;
    if (!(head >> id >> parent >> dev >> root >> mount_point)) continue;
    if (!(tail >> fstype >> source)) continue;
    tail >> superopts;
    if (f(std::string_view(fstype), fs::path(unescape_mount_path(mount_point)),
          std::string_view(superopts)))
      return;
  }
}

}  // namespace

Result<fs::path> parse_cgroup2_mount(std::string_view mountinfo) {
  fs::path found;
  for_each_mount(mountinfo, [&](std::string_view fstype, const fs::path& mp, std::string_view) {
    if (fstype != "cgroup2") return false;
    if (mp == "/sys/fs/cgroup") {  // pure v2 wins
      found = mp;
      return true;
    }
    if (found.empty()) found = mp;
    return false;
  });
  if (found.empty()) return fail("no cgroup2 hierarchy mounted (mountinfo has no cgroup2 entry)");
  return found;
}

Result<fs::path> parse_cgroup1_mount(std::string_view mountinfo, std::string_view controller) {
  fs::path found;
  for_each_mount(mountinfo,
                 [&](std::string_view fstype, const fs::path& mp, std::string_view superopts) {
                   if (fstype != "cgroup") return false;
                   for (std::size_t b = 0; b <= superopts.size();) {
                     auto e = superopts.find(',', b);
                     if (e == std::string_view::npos) e = superopts.size();
                     if (superopts.substr(b, e - b) == controller) {
                       found = mp;
                       return true;
                     }
                     b = e + 1;
                   }
                   return false;
                 });
  if (found.empty())
    return fail("no cgroup v1 hierarchy holds the " + std::string(controller) + " controller");
  return found;
}

Result<fs::path> cgroup1_mount(std::string_view controller, const fs::path& mountinfo) {
  auto text = read_file(mountinfo);
  if (!text) return std::unexpected(text.error());
  auto root = parse_cgroup1_mount(*text, controller);
  if (!root) return fail(root.error().message + " (" + mountinfo.string() + ")");
  return root;
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
