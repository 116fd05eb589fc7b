// Splitting a user's command string ("--cmd", "--ready-cmd") into an argument
// vector, without a shell: the result is exec'ed directly, so no expansion,
// globbing, redirection or `;` ever happens.
//
// Rules (documented in docs/orchestrator.md):
//  * unquoted whitespace separates arguments;
//  * '...' keeps everything literally up to the next ';
//  * "..." keeps everything, except that \" and \\ stand for " and \;
//  * outside quotes, a backslash makes the next character literal;
//  * adjacent pieces join: a'b c'"d" is one argument "ab cd".
// An unterminated quote, a trailing backslash or an empty command is an error.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy {

Result<std::vector<std::string>> split_command(std::string_view command);

}  // namespace cinergy
