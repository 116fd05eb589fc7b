#include "cgroup_tree.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <system_error>

namespace cinergy::bpf::detail {
namespace fs = std::filesystem;

fs::path resolve_cgroup_dir(const fs::path& root, std::string_view target) {
  if (target.empty()) return {};
  fs::path t{std::string(target)};
  for (const auto& part : t)
    if (part == "..") return {};
  fs::path rel;
  if (t.is_absolute()) {
    auto r = t.lexically_relative(root);
    bool under_root = !r.empty() && *r.begin() != "..";
    rel = under_root ? r : t.relative_path();
  } else {
    rel = t;
  }
  rel = rel.lexically_normal();
  if (rel == "." || rel.empty()) return root;
  // lexically_normal keeps a trailing separator as an empty last element.
  auto s = rel.string();
  while (!s.empty() && s.back() == '/') s.pop_back();
  return root / s;
}

Result<std::vector<CgroupNode>> list_cgroup_subtree(const fs::path& dir) {
  std::vector<CgroupNode> nodes;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return fail_errno("cgroup " + dir.string());
  if (!S_ISDIR(st.st_mode)) return fail("cgroup " + dir.string() + " is not a directory");
  nodes.push_back({dir, static_cast<std::uint64_t>(st.st_ino), -1});

  // Depth-first walk; `top` is the index of the direct child being walked.
  auto walk = [&](auto&& self, const fs::path& d, int top) -> Result<void> {
    std::error_code ec;
    std::vector<fs::path> children;
    for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) children.push_back(it->path());
    }
    // A directory removed while we walk is not an error of the subject.
    if (ec && ec != std::errc::no_such_file_or_directory)
      return fail_errno(ec.value(), "cannot list cgroup " + d.string());
    std::sort(children.begin(), children.end());
    for (const auto& c : children) {
      struct stat cs {};
      if (::stat(c.c_str(), &cs) != 0) continue;  // vanished meanwhile
      int my_top = top < 0 ? static_cast<int>(nodes.size()) : top;
      nodes.push_back({c, static_cast<std::uint64_t>(cs.st_ino), my_top});
      if (auto r = self(self, c, my_top); !r) return r;
    }
    return ok();
  };
  if (auto r = walk(walk, dir, -1); !r) return std::unexpected(r.error());
  return nodes;
}

std::string default_cgroup_label(std::string_view target) {
  std::string t(target);
  while (t.size() > 1 && t.back() == '/') t.pop_back();
  auto slash = t.rfind('/');
  return slash == std::string::npos ? t : t.substr(slash + 1);
}

}  // namespace cinergy::bpf::detail
