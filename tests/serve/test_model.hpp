// A model.json for serve's tests: three increasing step curves (idle 55 W),
// fitted "on" a host with `host_threads` threads, p(x) = c0 + c1 u + c2 u^2
// with u = (x - 50) / 50 (method "paper": the step-50 curve alone), and the
// host's own background load (% of the host; the VM alone is the curves at
// share + it) when not 0.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

namespace cinergy::test {

inline void write_test_model(const std::filesystem::path& file, int host_threads,
                             bool simulated = false, const std::string& method = "cinergy",
                             double background_pct = 0) {
  std::ofstream out(file);
  out << R"({"format":"cinergy-model-1","method":")" << method << R"(","host_threads":)"
      << host_threads << R"(,"vm_vcpus":2,"fit_range_pct":[0,100],"background_pct":)"
      << background_pct << ",";
  out << R"("simulated_power":)" << (simulated ? "true" : "false") << R"(,"curves":[)";
  // A paper model holds the step-50 curve only (as the notebook fits it).
  if (method == "paper")
    out << R"({"step_pct":50,"coef":[95,35,-5],"x_center":50,"x_scale":50,"x_range_pct":[0,100]}]})";
  else
    out << R"({"step_pct":25,"coef":[100,40,-5],"x_center":50,"x_scale":50,"x_range_pct":[0,100]},)"
        << R"({"step_pct":50,"coef":[95,35,-5],"x_center":50,"x_scale":50,"x_range_pct":[0,100]},)"
        << R"({"step_pct":100,"coef":[90,30,-5],"x_center":50,"x_scale":50,"x_range_pct":[0,100]}]})";
}

}  // namespace cinergy::test
