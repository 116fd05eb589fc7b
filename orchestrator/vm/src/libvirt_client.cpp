#include "libvirt_client.hpp"

#include <fmt/format.h>
#include <libvirt/virterror.h>

#include <mutex>

namespace cinergy::vm::detail {

namespace {
void silent(void*, virErrorPtr) {}
}  // namespace

void silence_libvirt() {
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    virSetErrorFunc(nullptr, silent);
  });
}

std::string libvirt_error() {
  const char* message = virGetLastErrorMessage();
  return message ? std::string(message) : std::string("unknown libvirt error");
}

LibvirtDomain::LibvirtDomain(virDomainPtr dom, std::string name, std::string uri)
    : dom_(dom), name_(std::move(name)), uri_(std::move(uri)) {}

bool LibvirtDomain::active() const { return dom_ && virDomainIsActive(dom_.get()) == 1; }

bool LibvirtDomain::persistent() const { return dom_ && virDomainIsPersistent(dom_.get()) == 1; }

Result<void> LibvirtDomain::create() {
  if (virDomainCreate(dom_.get()) != 0)
    return fail(
        fmt::format("cannot start libvirt domain '{}' on {}: {}", name_, uri_, libvirt_error()));
  return ok();
}

Result<void> LibvirtDomain::destroy() {
  if (virDomainDestroy(dom_.get()) != 0)
    return fail(
        fmt::format("cannot stop libvirt domain '{}' on {}: {}", name_, uri_, libvirt_error()));
  return ok();
}

Result<int> LibvirtDomain::vcpus() const {
  virDomainInfo info{};
  if (virDomainGetInfo(dom_.get(), &info) != 0)
    return fail(fmt::format("cannot read libvirt domain '{}' info on {}: {}", name_, uri_,
                            libvirt_error()));
  return static_cast<int>(info.nrVirtCpu);
}

Result<int> LibvirtDomain::id() const {
  unsigned int id = virDomainGetID(dom_.get());
  if (id == static_cast<unsigned int>(-1))
    return fail(fmt::format("libvirt domain '{}' has no id (not running)", name_));
  return static_cast<int>(id);
}

Result<LibvirtConnection> LibvirtConnection::open(const std::string& uri) {
  silence_libvirt();
  LibvirtConnection c;
  c.uri_ = uri;
  c.conn_.reset(virConnectOpen(uri.c_str()));
  if (!c.conn_)
    return fail(fmt::format("cannot connect to libvirt at {}: {}", uri, libvirt_error()));
  return c;
}

LibvirtDomain LibvirtConnection::find(const std::string& name) const {
  virDomainPtr dom = virDomainLookupByName(conn_.get(), name.c_str());
  if (!dom) return {};
  return LibvirtDomain(dom, name, uri_);
}

Result<LibvirtDomain> LibvirtConnection::lookup(const std::string& name) const {
  auto dom = find(name);
  if (!dom)
    return fail(
        fmt::format("libvirt domain '{}' not found on {}: {}", name, uri_, libvirt_error()));
  return dom;
}

Result<LibvirtDomain> LibvirtConnection::create_transient(const std::string& xml,
                                                          const std::string& name) const {
  virDomainPtr dom = virDomainCreateXML(conn_.get(), xml.c_str(), VIR_DOMAIN_NONE);
  if (!dom)
    return fail(
        fmt::format("cannot create libvirt domain '{}' on {}: {}", name, uri_, libvirt_error()));
  return LibvirtDomain(dom, name, uri_);
}

bool libvirt_answers(const std::string& uri) { return LibvirtConnection::open(uri).has_value(); }

}  // namespace cinergy::vm::detail
