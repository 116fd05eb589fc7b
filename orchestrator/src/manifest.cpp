#include "cinergy/orchestrator/manifest.hpp"

#include <fmt/format.h>

#include "cinergy/common/files.hpp"
#include "cinergy/common/time_format.hpp"

namespace cinergy::orchestrator {

nlohmann::json initial_manifest(const ManifestInputs& in) {
  nlohmann::json m;
  m["cinergy"] = {{"version", in.versions.value("cinergy", "unknown")}, {"run_id", in.run_id}};
  m["command_line"] = in.command_line;
  m["host"] = {{"name", in.host_name},
               {"threads", in.topology.threads()},
               {"sockets", in.topology.sockets()},
               {"cores", in.topology.cores}};
  m["topology"] = topology_json(in.topology);
  m["rapl"] = in.rapl;
  m["simulated"] = in.simulated;
  m["cpu_accounting"] = in.cpu_accounting;
  m["csv_prefix"] = in.csv_prefix;
  m["settings"] = in.settings;
  m["plan"] = in.plan;
  m["planned_seconds"] = in.planned_seconds;
  m["vm"] = in.vm;
  m["versions"] = in.versions;
  m["cgroups"] = in.cgroups;
  m["noise"] = in.noise;
  m["libvirt_connected"] = in.libvirt_connected;
  m["start_utc"] = utc_iso8601_ms(in.start);
  m["end_utc"] = nullptr;
  m["status"] = "running";
  m["interrupted"] = false;
  m["phases"] = nlohmann::json::array();
  return m;
}

void finish_manifest(nlohmann::json& m, const ManifestEnd& end) {
  m["end_utc"] = utc_iso8601_ms(end.end);
  const bool interrupted = end.interrupted || !end.error.empty();
  m["interrupted"] = interrupted;
  m["status"] = !end.error.empty() ? "failed" : interrupted ? "interrupted" : "completed";
  if (!end.error.empty()) m["error"] = end.error;
  if (interrupted) {
    m["interrupted_at"] = {
        {"scenario", end.scenario}, {"level", end.level}, {"window", end.window}};
    m["interrupted_by"] = end.by.empty() ? (end.error.empty() ? "stop request" : "error") : end.by;
  }
}

}  // namespace cinergy::orchestrator

namespace cinergy::orchestrator {

Result<void> write_manifest(const std::filesystem::path& run_dir, const nlohmann::json& manifest) {
  return write_atomic(run_dir / "manifest.json", manifest.dump(2) + "\n");
}

}  // namespace cinergy::orchestrator
