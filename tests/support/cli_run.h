// Running the built `circuitscan` (CS_BINARY) as a user does, for the command-line tests: a
// per-test temporary directory, the exit code and both output streams kept apart.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace cs_test {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh directory under the system temp dir named after the test (and `tag`), removed at the end.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag = "") {
    const auto* t = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("cs_test_") + std::to_string(::getpid()) + "_" + t->test_suite_name() + "_" + t->name() + tag;
    for (char& c : name)
      if (c == '/') c = '_';
    path = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

struct CliResult {
  int rc;
  std::string out, err;
};

// Runs `circuitscan ARGS`; stdout through a pipe, stderr through a file (not a terminal, as in
// a batch job).
inline CliResult run_cli_with_stderr_at(const std::string& args, const std::filesystem::path& err) {
  const std::string cmd = std::string("'") + CS_BINARY + "' " + args + " 2>'" + err.string() + "'";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, "", "popen failed"};
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, slurp(err)};
}
inline CliResult run_cli(const std::string& args, const TempDir& tmp) {
  return run_cli_with_stderr_at(args, tmp.path / "stderr.txt");
}

}  // namespace cs_test
