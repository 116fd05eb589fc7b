#include "cinergy/common/command_line.hpp"

#include <fmt/format.h>

namespace cinergy {

Result<std::vector<std::string>> split_command(std::string_view command) {
  std::vector<std::string> args;
  std::string current;
  bool in_arg = false;
  enum class Q { none, single, dbl } quote = Q::none;
  for (std::size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    switch (quote) {
      case Q::single:
        if (c == '\'')
          quote = Q::none;
        else
          current += c;
        break;
      case Q::dbl:
        if (c == '"') {
          quote = Q::none;
        } else if (c == '\\' && i + 1 < command.size() &&
                   (command[i + 1] == '"' || command[i + 1] == '\\')) {
          current += command[++i];
        } else {
          current += c;
        }
        break;
      case Q::none:
        if (c == ' ' || c == '\t' || c == '\n') {
          if (in_arg) args.push_back(std::move(current));
          current.clear();
          in_arg = false;
        } else if (c == '\'') {
          quote = Q::single;
          in_arg = true;
        } else if (c == '"') {
          quote = Q::dbl;
          in_arg = true;
        } else if (c == '\\') {
          if (i + 1 >= command.size())
            return fail(fmt::format("trailing backslash in command '{}'", command));
          current += command[++i];
          in_arg = true;
        } else {
          current += c;
          in_arg = true;
        }
        break;
    }
  }
  if (quote != Q::none) return fail(fmt::format("unterminated quote in command '{}'", command));
  if (in_arg) args.push_back(std::move(current));
  if (args.empty()) return fail("empty command");
  return args;
}

}  // namespace cinergy
