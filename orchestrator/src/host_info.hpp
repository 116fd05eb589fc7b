// Facts about the host a run records (manifest) or samples per window. Not public.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cinergy/common/topology.hpp"

namespace cinergy::orchestrator::detail {

std::string host_name();       // gethostname(), "localhost" when unset
std::string kernel_release();  // uname -r
// The first line a command prints (a version string), "unavailable" when it
// cannot run or fails within 5 s.
std::string first_line_of(const std::vector<std::string>& argv);
// Mean scaling_cur_freq (kHz) of each socket's CPUs; 0 where cpufreq is absent.
std::vector<double> socket_freq_khz(const std::filesystem::path& sysfs_cpu_root,
                                    const Topology& topology);

}  // namespace cinergy::orchestrator::detail
