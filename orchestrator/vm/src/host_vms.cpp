#include "cinergy/vm/host_vms.hpp"

#include <fmt/format.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

namespace cinergy::vm {

namespace {
void quiet_errors(void*, virErrorPtr) {}
virConnectPtr as_conn(void* p) { return static_cast<virConnectPtr>(p); }
}  // namespace

Result<std::unique_ptr<HostVms>> HostVms::open(const std::string& uri) {
  virSetErrorFunc(nullptr, quiet_errors);
  virConnectPtr c = virConnectOpenReadOnly(uri.empty() ? nullptr : uri.c_str());
  if (c == nullptr) {
    const virErrorPtr e = virGetLastError();
    std::string msg = e != nullptr && e->message != nullptr ? e->message : "no answer";
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    return fail(fmt::format("libvirt does not answer on {}: {}",
                            uri.empty() ? "the default URI" : uri, msg));
  }
  return std::unique_ptr<HostVms>(new HostVms(c));
}

std::unique_ptr<HostVms> HostVms::connect(const std::string& uri) {
  auto h = open(uri);
  return h ? std::move(*h) : nullptr;
}

std::string HostVms::uri() const {
  char* u = virConnectGetURI(as_conn(conn_));
  if (u == nullptr) return "";
  std::string out(u);
  free(u);
  return out;
}

HostVms::~HostVms() {
  if (conn_ != nullptr) virConnectClose(as_conn(conn_));
}

std::optional<LibvirtTotals> HostVms::totals() {
  virDomainPtr* domains = nullptr;
  const int n = virConnectListAllDomains(as_conn(conn_), &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
  if (n < 0) return std::nullopt;
  LibvirtTotals t;
  for (int i = 0; i < n; ++i) {
    virDomainInfo info{};
    if (virDomainGetInfo(domains[i], &info) == 0) {
      ++t.domains;
      t.vcpus += info.nrVirtCpu;
      t.memory_mib += static_cast<double>(info.memory) / 1024.0;
    }
    virDomainFree(domains[i]);
  }
  free(domains);
  return t;
}

bool HostVms::domain_running(const std::string& name) {
  virDomainPtr d = virDomainLookupByName(as_conn(conn_), name.c_str());
  if (d == nullptr) return false;
  const bool active = virDomainIsActive(d) == 1;
  virDomainFree(d);
  return active;
}

std::string HostVms::library_version() {
  unsigned long v = 0;
  if (virGetVersion(&v, nullptr, nullptr) != 0) return "unknown";
  return fmt::format("{}.{}.{}", v / 1000000, (v / 1000) % 1000, v % 1000);
}

}  // namespace cinergy::vm
