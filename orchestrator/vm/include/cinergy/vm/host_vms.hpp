// What libvirt says about the host's domains: the original's optional
// libvirt_vm_count / libvirt_vm_cpu_cml / libvirt_vm_mem_cml rows, and the
// "is a domain of that name already running?" check before a run starts.
// A read-only connection; no daemon answering is not an error (nullopt).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cinergy/common/error.hpp"

namespace cinergy::vm {

struct LibvirtTotals {
  int domains = 0;        // running domains
  int vcpus = 0;          // sum of their vCPUs
  double memory_mib = 0;  // sum of their current memory
};

class HostVms {
 public:
  // A read-only connection to `uri` ("" = libvirt's default); the error says
  // why none answers (libvirt's own message, first line).
  static Result<std::unique_ptr<HostVms>> open(const std::string& uri);
  // The same, null when no libvirt daemon answers (nothing is printed).
  static std::unique_ptr<HostVms> connect(const std::string& uri);
  [[nodiscard]] std::string uri() const;  // as libvirt resolved it
  ~HostVms();
  HostVms(const HostVms&) = delete;
  HostVms& operator=(const HostVms&) = delete;

  std::optional<LibvirtTotals> totals();
  bool domain_running(const std::string& name);
  // "libvirt 9.0.0" style, from the library.
  static std::string library_version();

 private:
  explicit HostVms(void* conn) : conn_(conn) {}
  void* conn_;  // virConnectPtr
};

}  // namespace cinergy::vm
