// The test VM's configuration as text (vm_internal.hpp): option checks, the
// guest kernel command line and its inverse, the libvirt domain XML and the
// plain qemu argv. Pure functions, table-tested in the unit tier.
#include <fmt/format.h>

#include <charconv>

#include "cinergy/common/text.hpp"
#include "vm_internal.hpp"

namespace cinergy::vm::detail {

namespace {

std::string join_ints(const std::vector<int>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  return out;
}

}  // namespace

Result<void> validate_testvm(const VmOptions& o) {
  if (o.testvm_vcpus < 1 || o.testvm_vcpus > 64)
    return fail(fmt::format("test VM: vcpus {} out of range 1..64", o.testvm_vcpus));
  if (o.testvm_memory_mib < 64 || o.testvm_memory_mib > 65536)
    return fail(fmt::format("test VM: memory {} MiB out of range 64..65536", o.testvm_memory_mib));
  if (o.testvm_profile_pct.empty()) return fail("test VM: empty load profile");
  for (int pct : o.testvm_profile_pct)
    if (pct < 0 || pct > 100)
      return fail(fmt::format("test VM: load {} % out of range 0..100", pct));
  if (o.testvm_step_seconds < 1)
    return fail(fmt::format("test VM: step {} s must be >= 1", o.testvm_step_seconds));
  if (o.testvm_cycles < 1)
    return fail(fmt::format("test VM: cycles {} must be >= 1", o.testvm_cycles));
  return ok();
}

std::string testvm_cmdline(const VmOptions& o) {
  return fmt::format(
      "console=ttyS0 panic=-1 quiet cinergy.profile={} cinergy.step={} cinergy.cycles={}",
      join_ints(o.testvm_profile_pct), o.testvm_step_seconds, o.testvm_cycles);
}

Result<Profile> parse_profile_cmdline(std::string_view cmdline) {
  Profile p{{20, 95, 60, 3}, 30, 1};  // the guest's defaults (scripts/testvm/init)
  for (auto word : split(cmdline, ' ')) {
    auto eq = word.find('=');
    if (eq == std::string_view::npos) continue;
    auto key = word.substr(0, eq);
    auto value = word.substr(eq + 1);
    if (key == "cinergy.profile") {
      p.pct.clear();
      for (auto item : split(value, ',')) {
        auto v = parse_int(item);
        if (!v) return fail(fmt::format("bad cinergy.profile '{}'", value));
        p.pct.push_back(*v);
      }
    } else if (key == "cinergy.step" || key == "cinergy.cycles") {
      auto v = parse_int(value);
      if (!v) return fail(fmt::format("bad {} '{}'", key, value));
      (key == "cinergy.step" ? p.step_seconds : p.cycles) = *v;
    }
  }
  return p;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string testvm_domain_xml(const VmOptions& o, std::string_view name, const TestVmFiles& f,
                              bool kvm) {
  return fmt::format(
      "<domain type='{}'>\n"
      "  <name>{}</name>\n"
      "  <memory unit='MiB'>{}</memory>\n"
      "  <vcpu placement='static'>{}</vcpu>\n"
      "  <os>\n"
      "    <type arch='x86_64' machine='pc'>hvm</type>\n"
      "    <kernel>{}</kernel>\n"
      "    <initrd>{}</initrd>\n"
      "    <cmdline>{}</cmdline>\n"
      "  </os>\n"
      "  <features><acpi/></features>\n"
      "  "
      "<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</"
      "on_crash>\n"
      "  <devices>\n"
      "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
      "    <controller type='usb' model='none'/>\n"
      "    <serial type='file'><source path='{}'/><target port='0'/></serial>\n"
      "    <memballoon model='none'/>\n"
      "  </devices>\n"
      "</domain>\n",
      kvm ? "kvm" : "qemu", xml_escape(name), o.testvm_memory_mib, o.testvm_vcpus,
      xml_escape(f.kernel.string()), xml_escape(f.initrd.string()), xml_escape(testvm_cmdline(o)),
      xml_escape(f.serial_log.string()));
}

std::vector<std::string> testvm_qemu_argv(const VmOptions& o, std::string_view name,
                                          const TestVmFiles& f, bool kvm) {
  return {"qemu-system-x86_64",
          "-name",
          fmt::format("{},debug-threads=on", name),
          "-machine",
          kvm ? "pc,accel=kvm" : "pc,accel=tcg",
          "-smp",
          std::to_string(o.testvm_vcpus),
          "-m",
          std::to_string(o.testvm_memory_mib),
          "-nodefaults",
          "-no-user-config",
          "-display",
          "none",
          "-serial",
          "file:" + f.serial_log.string(),
          "-kernel",
          f.kernel.string(),
          "-initrd",
          f.initrd.string(),
          "-append",
          testvm_cmdline(o),
          "-no-reboot",
          "-pidfile",
          f.pid_file.string()};
}

}  // namespace cinergy::vm::detail
