// An existing libvirt domain as the subject: the run starts it, measures it,
// and destroys it only if it started it; a defined domain stays defined.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vm_impl.hpp"

namespace cinergy::vm::detail {

LibvirtDomainVm::LibvirtDomainVm(VmOptions options, HostPaths paths)
    : o_(std::move(options)), paths_(std::move(paths)) {}

LibvirtDomainVm::~LibvirtDomainVm() { stop(); }

Result<VmRuntime> LibvirtDomainVm::start() {
  if (started_)
    return fail(fmt::format("libvirt domain '{}': already started by this run", o_.name));
  auto conn = LibvirtConnection::open(o_.connect_uri);
  if (!conn) return std::unexpected(conn.error());
  conn_ = std::move(*conn);
  auto dom = conn_->lookup(o_.name);
  if (!dom) return std::unexpected(dom.error());
  dom_ = std::move(*dom);
  if (dom_.active())
    return fail(fmt::format(
        "libvirt domain '{}' already runs on {}: shut it down first (the run must start it "
        "itself to measure it alone)",
        o_.name, o_.connect_uri));
  if (auto r = dom_.create(); !r) return std::unexpected(r.error());
  started_ = true;
  spdlog::info("started libvirt domain '{}' on {}", o_.name, o_.connect_uri);
  auto rt = locate_libvirt_domain(paths_, dom_, o_.connect_uri, locate_timeout);
  if (!rt) return std::unexpected(rt.error());
  rt_ = *rt;
  auto ready = wait_ready(ready_spec_of(o_), fmt::format("libvirt domain '{}'", o_.name),
                          [this] { return !dom_.active(); });
  if (!ready) return std::unexpected(ready.error());
  return rt_;
}

bool LibvirtDomainVm::finished() {
  if (!finished_ && started_) finished_ = !dom_.active();
  return finished_;
}

void LibvirtDomainVm::stop() {
  if (!started_ || !dom_) return;
  if (dom_.active()) {
    if (auto r = dom_.destroy(); !r)
      spdlog::warn("{}", r.error().what());
    else
      spdlog::info("stopped libvirt domain '{}' (started by this run)", o_.name);
  }
  finished_ = true;
  started_ = false;
}

nlohmann::json LibvirtDomainVm::describe() const {
  return {{"kind", "libvirt_domain"},
          {"name", o_.name},
          {"uri", o_.connect_uri},
          {"vcpus", rt_.vcpus},
          {"persistent", dom_ && dom_.persistent()},
          {"cgroup", rt_.cgroup.string()},
          {"qemu_pid", rt_.qemu_pid},
          {"ready_command", o_.ready_command},
          {"ready_file", o_.ready_file.string()},
          {"ready_timeout_s", o_.ready_timeout.count()},
          {"how", rt_.how}};
}

}  // namespace cinergy::vm::detail
