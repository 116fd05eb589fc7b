// Placeholder registration: the owning issue replaces this file.
#include "commands.hpp"

namespace cinergy::cli {
void register_model(CLI::App& /*app*/, int& /*exit_code*/) {}
}  // namespace cinergy::cli
