#include "cinergy/common/command_line.hpp"

#include <gtest/gtest.h>

namespace cinergy {
namespace {

using V = std::vector<std::string>;

TEST(SplitCommand, Table) {
  const std::vector<std::pair<std::string, V>> cases = {
      {"stress-ng -c 1", {"stress-ng", "-c", "1"}},
      {"  a   b\tc  ", {"a", "b", "c"}},
      {"sh -c 'echo hi; rm -rf /'", {"sh", "-c", "echo hi; rm -rf /"}},
      {R"(say "a \"quoted\" word")", {"say", R"(a "quoted" word)"}},
      {R"(x "back\\slash" "\n")", {"x", R"(back\slash)", R"(\n)"}},
      {R"(a\ b c)", {"a b", "c"}},
      {R"(a'b c'"d")", {"ab cd"}},
      {"empty '' arg", {"empty", "", "arg"}},
      {"no $HOME `expansion` *", {"no", "$HOME", "`expansion`", "*"}},
      {"semi;colon > file", {"semi;colon", ">", "file"}},
  };
  for (const auto& [in, want] : cases) {
    auto got = split_command(in);
    ASSERT_TRUE(got) << in << ": " << got.error().message;
    EXPECT_EQ(*got, want) << in;
  }
}

TEST(SplitCommand, Errors) {
  for (const char* bad : {"", "   ", "a 'unterminated", "a \"unterminated", "trailing\\"}) {
    auto r = split_command(bad);
    EXPECT_FALSE(r) << "'" << bad << "'";
  }
  EXPECT_NE(split_command("x 'y").error().message.find("unterminated quote"), std::string::npos);
}

}  // namespace
}  // namespace cinergy
