// Routes libbpf's messages (verifier log included) to spdlog at debug level
// and keeps the last warning lines so a load failure can say why in one line.
#pragma once

#include <string>

namespace cinergy::bpf::detail {

// Installs the print callback (idempotent) and clears the kept lines.
void route_libbpf_logs_to_spdlog();
// The most relevant line libbpf warned about since the last route call
// (e.g. the verifier's final complaint), or empty.
std::string last_libbpf_warning();

}  // namespace cinergy::bpf::detail
