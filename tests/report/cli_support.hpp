// What the report tests share: a file's bytes, and `cinergy ARGS` run as a
// user runs it (exit code, stdout, stderr; the streams go through files in
// `dir`).
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "temp_dir.hpp"

namespace cinergy::test {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CliRun {
  int code;  // exit status, -1 when it did not exit
  std::string out, err;
};

inline CliRun run_cli(const std::string& args, const TempDir& dir) {
  const auto o = dir.path() / "stdout.txt", e = dir.path() / "stderr.txt";
  const std::string cmd =
      std::string(CINERGY_BINARY_DIR) + "/cinergy " + args + " >" + o.string() + " 2>" + e.string();
  const int rc = std::system(cmd.c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(o), slurp(e)};
}

}  // namespace cinergy::test
