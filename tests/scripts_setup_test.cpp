// The README's first command, `scripts/setup.sh && scripts/demo.sh`, must work as root on a fresh
// Debian (which has no sudo) and as a user with sudo. scripts/setup.sh runs here in a sandbox: a
// PATH of stand-ins for dpkg-query (one package missing, or none), id (root or a user), apt-get
// and sudo (both log their arguments and succeed), so nothing is installed and no root is needed.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Sandbox {
  fs::path dir, bin, log;
  Sandbox(bool root, bool has_sudo, bool missing) {
    dir = fs::temp_directory_path() / ("cs_setup_test_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    bin = dir / "bin";
    log = dir / "log.txt";
    fs::create_directories(bin);
    // Real tools the script needs besides the stand-ins.
    for (const char* t : {"bash", "grep", "env", "cat"}) {
      for (const char* d : {"/usr/bin/", "/bin/"})
        if (fs::exists(std::string(d) + t)) {
          fs::create_symlink(std::string(d) + t, bin / t);
          break;
        }
    }
    script("dpkg-query", missing ? "case \"$*\" in *cmake*) exit 1;; esac; printf 'install ok installed'"
                                 : "printf 'install ok installed'");
    script("id", root ? "echo 0" : "echo 1000");
    script("apt-get", "echo \"apt-get $*\" >> '" + log.string() + "'");
    if (has_sudo) script("sudo", "echo \"sudo $*\" >> '" + log.string() + "'; exec \"$@\"");
  }
  ~Sandbox() { fs::remove_all(dir); }
  void script(const std::string& name, const std::string& body) {
    std::ofstream(bin / name) << "#!" << (bin / "bash").string() << "\n" << body << "\n";
    fs::permissions(bin / name, fs::perms::owner_all);
  }
  // Runs `command` with bash in the repository root, PATH = the sandbox only; exit code.
  int run(const std::string& command, std::string* err) const {
    const fs::path e = dir / "stderr.txt";
    const std::string cmd = "cd '" CS_SOURCE_DIR "' && env -i PATH='" + bin.string() + "' '" + (bin / "bash").string() +
                            "' -c '" + command + "' >/dev/null 2>'" + e.string() + "'";
    const int status = std::system(cmd.c_str());
    *err = slurp(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

// The README's first command: the first indented line after "## The two commands".
std::string readme_first_command() {
  const std::string readme = slurp(CS_SOURCE_DIR "/README.md");
  const size_t at = readme.find("## The two commands");
  EXPECT_NE(at, std::string::npos);
  std::smatch m;
  const std::string rest = readme.substr(at);
  EXPECT_TRUE(std::regex_search(rest, m, std::regex("\n    ([^\n]+)\n")));
  return m[1];
}

}  // namespace

// Today's README said `sudo scripts/setup.sh && ...`: on a fresh root Debian that is
// "sudo: command not found" before anything runs.
TEST(ReadmeFirstCommand, SetupPartRunsAsRootWithoutSudo) {
  const std::string cmd = readme_first_command();
  const size_t amp = cmd.find(" && ");
  ASSERT_NE(amp, std::string::npos) << cmd;
  EXPECT_NE(cmd.substr(amp + 4).find("scripts/demo.sh"), std::string::npos) << cmd;
  Sandbox s(/*root=*/true, /*has_sudo=*/false, /*missing=*/true);
  std::string err;
  EXPECT_EQ(s.run(cmd.substr(0, amp), &err), 0) << err;
  const std::string log = slurp(s.log);
  EXPECT_NE(log.find("apt-get install"), std::string::npos) << log;
  EXPECT_NE(log.find("cmake"), std::string::npos) << log;
  EXPECT_EQ(log.find("sudo"), std::string::npos) << log;
}

TEST(SetupScript, UserWithSudoInstallsThroughSudo) {
  Sandbox s(/*root=*/false, /*has_sudo=*/true, /*missing=*/true);
  std::string err;
  EXPECT_EQ(s.run("scripts/setup.sh", &err), 0) << err;
  const std::string log = slurp(s.log);
  EXPECT_NE(log.find("sudo env DEBIAN_FRONTEND=noninteractive apt-get install"), std::string::npos) << log;
  EXPECT_NE(log.find("apt-get install -y -qq --no-install-recommends cmake"), std::string::npos) << log;
}

TEST(SetupScript, UserWithoutSudoGetsOneLineAndExit1) {
  Sandbox s(/*root=*/false, /*has_sudo=*/false, /*missing=*/true);
  std::string err;
  EXPECT_EQ(s.run("scripts/setup.sh", &err), 1);
  EXPECT_NE(err.find("run this script as root"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_FALSE(fs::exists(s.log));
}

TEST(SetupScript, NothingMissingNeedsNoPrivileges) {
  Sandbox s(/*root=*/false, /*has_sudo=*/false, /*missing=*/false);
  std::string err;
  EXPECT_EQ(s.run("scripts/setup.sh", &err), 0) << err;
  EXPECT_FALSE(fs::exists(s.log));
}
