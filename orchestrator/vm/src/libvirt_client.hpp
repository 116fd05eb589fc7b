// A thin RAII layer over the libvirt C API for the VM control: one
// connection, domains by name, start/destroy, state. Errors carry libvirt's
// own last message and name the domain and URI. libvirt's default error
// printing to stderr is silenced once per process.
#pragma once

#include <libvirt/libvirt.h>

#include <memory>
#include <string>
#include <string_view>

#include "cinergy/common/error.hpp"

namespace cinergy::vm::detail {

// virInitialize() and libvirt's default error printing to stderr turned off,
// once per process (every connection of this library calls it).
void silence_libvirt();

// libvirt's last error message of this thread ("unknown libvirt error" if none).
std::string libvirt_error();

class LibvirtDomain {
 public:
  LibvirtDomain() = default;
  LibvirtDomain(virDomainPtr dom, std::string name, std::string uri);
  [[nodiscard]] virDomainPtr get() const { return dom_.get(); }
  [[nodiscard]] const std::string& name() const { return name_; }
  explicit operator bool() const { return dom_ != nullptr; }

  // true while running (or paused); false once shut off, or when a transient
  // domain has vanished.
  [[nodiscard]] bool active() const;
  [[nodiscard]] bool persistent() const;
  Result<void> create();   // virDomainCreate: start a defined domain
  Result<void> destroy();  // virDomainDestroy: hard stop
  Result<int> vcpus() const;
  Result<int> id() const;

 private:
  struct Free {
    void operator()(virDomainPtr d) const { virDomainFree(d); }
  };
  std::unique_ptr<virDomain, Free> dom_;
  std::string name_;
  std::string uri_;
};

class LibvirtConnection {
 public:
  static Result<LibvirtConnection> open(const std::string& uri);
  [[nodiscard]] virConnectPtr get() const { return conn_.get(); }
  [[nodiscard]] const std::string& uri() const { return uri_; }

  // "libvirt domain 'NAME' not found on URI" when undefined.
  Result<LibvirtDomain> lookup(const std::string& name) const;
  // nullopt-like: an empty LibvirtDomain when no domain has this name.
  [[nodiscard]] LibvirtDomain find(const std::string& name) const;
  // Starts a transient domain from XML (virDomainCreateXML).
  Result<LibvirtDomain> create_transient(const std::string& xml, const std::string& name) const;

 private:
  struct Close {
    void operator()(virConnectPtr c) const { virConnectClose(c); }
  };
  std::unique_ptr<virConnect, Close> conn_;
  std::string uri_;
};

// Does a libvirt daemon (or driver) answer on `uri`? Opens and closes a connection.
bool libvirt_answers(const std::string& uri);

}  // namespace cinergy::vm::detail
