#include "cinergy/orchestrator/manifest.hpp"

#include <fmt/format.h>

#include <ctime>

namespace cinergy::orchestrator {

std::string utc_iso(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t s = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&s, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

nlohmann::json initial_manifest(const ManifestInputs& in) {
  nlohmann::json m;
  m["cinergy"] = {{"version", in.versions.value("cinergy", "unknown")}, {"run_id", in.run_id}};
  m["command_line"] = in.command_line;
  m["host"] = {{"name", in.host_name},
               {"threads", in.topology.threads()},
               {"sockets", in.topology.sockets()},
               {"cores", in.topology.cores}};
  m["topology"] = in.topology.to_json();
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
  m["libvirt_connected"] = in.libvirt_connected;
  m["start_utc"] = utc_iso(in.start);
  m["end_utc"] = nullptr;
  m["status"] = "running";
  m["interrupted"] = false;
  m["phases"] = nlohmann::json::array();
  return m;
}

void finish_manifest(nlohmann::json& m, const ManifestEnd& end) {
  m["end_utc"] = utc_iso(end.end);
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
