// Subjects of B and C that are not VMs, behind the same vm::Vm interface:
// an existing cgroup (never started nor stopped by us) and a command run in
// its own cgroup (started and killed through that cgroup). Not public.
#pragma once

#include <filesystem>
#include <memory>

#include "cinergy/orchestrator/noise.hpp"
#include "cinergy/orchestrator/run.hpp"
#include "cinergy/vm/vm.hpp"

namespace cinergy::orchestrator::detail {

std::unique_ptr<vm::Vm> make_cgroup_subject(const std::filesystem::path& cgroup2_root,
                                            const SubjectOptions& options);
std::unique_ptr<vm::Vm> make_command_subject(const std::filesystem::path& cgroup2_root,
                                             const std::filesystem::path& relative_cgroup,
                                             const SubjectOptions& options, ProcessRunner& runner,
                                             const std::filesystem::path& log_file);

}  // namespace cinergy::orchestrator::detail
