// Running the built circuitscan binary (CS_BINARY) as a user does, for the CLI tests: its stdout,
// stderr and exit code, in a fresh temporary directory per test.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/cli_run.h"

namespace cs::cli_test {

namespace fs = std::filesystem;

struct Result {
  int rc;
  std::string out, err;
};

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("cs_cli_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
};

// Runs `circuitscan ARGS`; stderr goes to a file so the two streams stay apart.
inline Result run(const std::string& args, const TempDir& tmp) {
  const cs_test::CliResult r = cs_test::run_cli_with_stderr_at(args, tmp.path / "stderr.txt");
  return {r.rc, r.out, r.err};
}

}  // namespace cs::cli_test
