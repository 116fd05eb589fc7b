// cgroup2 helpers shared by both backends: how a user's cgroup argument maps
// to a directory, and the subtree below it (where cgroup2 is mounted:
// cinergy/common/cgroup.hpp).
// Every path is a parameter so unit tests run on fake trees.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::bpf::detail {

// The directory a user's cgroup target names. Accepted forms:
//  * an absolute path under root ("/sys/fs/cgroup/unified/machine/x"),
//  * a path relative to root ("machine/x"),
//  * a cgroup path as /proc/PID/cgroup prints it ("/machine/x"), i.e. an
//    absolute path not under root, taken relative to root.
// Pure (no file system access); ".." components are rejected (empty result).
std::filesystem::path resolve_cgroup_dir(const std::filesystem::path& root,
                                         std::string_view target);

// One directory of a subject's subtree.
struct CgroupNode {
  std::filesystem::path dir;  // absolute directory
  std::uint64_t id = 0;       // cgroup v2 id = inode number of the directory
  // Index (in the list) of the subject's direct child this node belongs to;
  // -1 for the subject's own directory. Nodes deeper down carry the index of
  // their ancestor that is a direct child, so per-child series sum subtrees.
  int top_child = -1;
};

// The subject directory (first) and every directory below it, depth first;
// direct children in name order. Errors name the directory.
Result<std::vector<CgroupNode>> list_cgroup_subtree(const std::filesystem::path& dir);

// Last path component used as the default label ("machine/vm1" -> "vm1").
std::string default_cgroup_label(std::string_view target);

}  // namespace cinergy::bpf::detail
