// ops/files.h: inputs are regular files of bounded size (never a FIFO, a device or a directory),
// outputs appear complete or not at all.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "ops/error.h"
#include "ops/files.h"

namespace fs = std::filesystem;

namespace cs {
namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("cs_files_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
    return (path / name).string();
  }
  std::set<std::string> listing() const {
    std::set<std::string> s;
    for (const auto& e : fs::recursive_directory_iterator(path)) s.insert(fs::relative(e.path(), path).string());
    return s;
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The call throws cs::Error whose message holds every needle.
template <class F>
void expect_error(F f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const std::string& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

TEST(InputFiles, ReadsARegularFileWhole) {
  TempDir d;
  const std::string text(100000, 'x');
  const std::string p = d.file("a.txt", text);
  EXPECT_EQ(read_input_file(p, 1 << 20), text);
  EXPECT_EQ(check_input_file(p, 1 << 20), text.size());
  fs::create_symlink(p, d.path / "link.txt");  // a link to a file is that file
  EXPECT_EQ(read_input_file((d.path / "link.txt").string(), 1 << 20), text);
}

TEST(InputFiles, RefusesWhatIsNotARegularFileOfBoundedSize) {
  TempDir d;
  const std::string fifo = (d.path / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error([&] { read_input_file(fifo, 1 << 20); }, {fifo, "not a regular file", "FIFO"});  // returns at once
  expect_error([&] { read_input_file(d.path.string(), 1 << 20); }, {d.path.string(), "directory"});
  expect_error([&] { read_input_file("/dev/zero", 1 << 20); }, {"/dev/zero", "not a regular file", "device"});
  fs::create_symlink("/dev/zero", d.path / "zero.json");
  expect_error([&] { read_input_file((d.path / "zero.json").string(), 1 << 20); }, {"zero.json", "not a regular file"});
  expect_error([&] { read_input_file((d.path / "absent").string(), 1 << 20); }, {"absent", "no such file"});
  const std::string big = d.file("big", std::string(2000, 'x'));
  expect_error([&] { read_input_file(big, 1000); }, {big, "1000 bytes", "the right file"});
}

TEST(OutputFiles, AtomicWriteReplacesOrLeavesNothing) {
  TempDir d;
  const std::string p = (d.path / "out.json").string();
  write_file_atomic(p, "one");
  write_file_atomic(p, "two");
  EXPECT_EQ(slurp(p), "two");
  EXPECT_EQ(d.listing(), std::set<std::string>{"out.json"});
  fs::create_directories(d.path / "taken");
  expect_error([&] { write_file_atomic((d.path / "taken").string(), "x"); }, {"taken", "directory"});
  expect_error([&] { write_file_atomic((d.path / "no" / "dir.json").string(), "x"); }, {"dir.json", "cannot write"});
  EXPECT_EQ(d.listing(), (std::set<std::string>{"out.json", "taken"}));
}

TEST(OutputFiles, ChecksBeforeTheWork) {
  TempDir d;
  const std::string f = d.file("f", "x");
  check_output_file((d.path / "new.json").string(), "--out");
  check_output_dir((d.path / "a" / "b" / "c").string(), "--out");  // parents are created at commit
  expect_error([&] { check_output_file(d.path.string(), "--out"); }, {"--out", "is a directory"});
  expect_error([&] { check_output_file((d.path / "no" / "x.json").string(), "--out"); }, {"--out", "does not exist"});
  expect_error([&] { check_output_dir(f, "--out"); }, {"--out", "not a directory"});
  expect_error([&] { check_output_dir((fs::path(f) / "sub").string(), "--out"); }, {"--out", "not a directory"});
  fs::create_directories(d.path / "o" / "report.html");
  expect_error([&] { check_output_dir((d.path / "o").string(), "--out", {"circuit.json", "report.html"}); },
               {"report.html", "directory"});
  EXPECT_EQ(d.listing(), (std::set<std::string>{"f", "o", "o/report.html"}));  // checks create nothing
}

TEST(StagedDir, NewDirectoryAppearsWholeOnCommit) {
  TempDir d;
  const fs::path target = d.path / "a" / "b" / "out";
  {
    StagedDir s(target.string());
    write_file_atomic(s.path("x.json"), "x");
    write_file_atomic(s.path("y.html"), "y");
    EXPECT_FALSE(fs::exists(target));
    EXPECT_FALSE(fs::exists(d.path / "a"));  // the staging sits in the nearest existing ancestor
    s.commit();
  }
  EXPECT_EQ(slurp(target / "x.json"), "x");
  EXPECT_EQ(slurp(target / "y.html"), "y");
  EXPECT_EQ(d.listing(), (std::set<std::string>{"a", "a/b", "a/b/out", "a/b/out/x.json", "a/b/out/y.html"}));
}

TEST(StagedDir, ExistingDirectoryKeepsOtherFilesAndGetsTheNewOnes) {
  TempDir d;
  const fs::path target = d.path / "out";
  fs::create_directories(target / "checkpoint");
  std::ofstream(target / "keep.txt") << "k";
  std::ofstream(target / "x.json") << "old";
  StagedDir s(target.string());
  write_file_atomic(s.path("x.json"), "new");
  s.commit();
  EXPECT_EQ(slurp(target / "x.json"), "new");
  EXPECT_EQ(d.listing(), (std::set<std::string>{"out", "out/checkpoint", "out/keep.txt", "out/x.json"}));
}

TEST(StagedDir, FailureBeforeOrAtCommitLeavesNothingNew) {
  TempDir d;
  const fs::path target = d.path / "out";
  {  // an error between the writes: the destructor removes the staging
    StagedDir s(target.string());
    write_file_atomic(s.path("x.json"), "x");
  }
  EXPECT_TRUE(d.listing().empty());
  // A name that is a directory in the target refuses the commit before anything moves.
  fs::create_directories(target / "report.html");
  std::ofstream(target / "x.json") << "old";
  const std::set<std::string> before = d.listing();
  {
    StagedDir s(target.string());
    write_file_atomic(s.path("x.json"), "new");
    write_file_atomic(s.path("report.html"), "html");
    expect_error([&] { s.commit(); }, {"report.html", "directory"});
  }
  EXPECT_EQ(slurp(target / "x.json"), "old");
  EXPECT_EQ(d.listing(), before);
  // A target that is a file is refused at once.
  const std::string f = d.file("file", "x");
  expect_error([&] { StagedDir s(f); }, {"file", "not a directory"});
}

}  // namespace
}  // namespace cs
