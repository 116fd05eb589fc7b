// Ids of the BPF programs loaded on this host whose name starts with a
// prefix (the kernel keeps 16 characters of a program's name). Used by the
// overhead benchmark and the kernel tests to find Cinergy's own programs.
#pragma once

#include <bpf/bpf.h>
#include <unistd.h>

#include <set>
#include <string_view>

namespace cinergy::bpf::detail {

inline std::set<__u32> prog_ids_named(std::string_view prefix) {
  std::set<__u32> ids;
  __u32 id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
        std::string_view(info.name).starts_with(prefix))
      ids.insert(id);
    ::close(fd);
  }
  return ids;
}

}  // namespace cinergy::bpf::detail
