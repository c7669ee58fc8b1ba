// Bad input at the command line: each case gives a one-line error on stderr that says what is
// wrong, exit code 1 (2 for usage errors), no crash, and no half-written output file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>

namespace fs = std::filesystem;

namespace {

struct Outcome {
  int code;
  std::string err;
};

Outcome run(const std::string& args) {
  const std::string errf = (fs::temp_directory_path() / ("cs_err_" + std::to_string(::getpid()))).string();
  int st = std::system((std::string(CS_BINARY) + " " + args + " >/dev/null 2>" + errf).c_str());
  std::ifstream in(errf);
  std::string err((std::istreambuf_iterator<char>(in)), {});
  fs::remove(errf);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, err};
}

class BadModelDir : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("cs_bad_" + std::to_string(::getpid()));
  const fs::path good = fs::path(CS_TEST_DATA) / "gpt2-tiny";
  void SetUp() override {
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(good / "config.json", dir / "config.json");
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
  void write(const fs::path& p, const std::string& s) {
    std::ofstream(p, std::ios::binary) << s;
  }
  // One line, names the problem, exit 1.
  void expect_error(const std::string& phrase) {
    Outcome r = run("info " + dir.string());
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(phrase), std::string::npos) << r.err;
  }
};

}  // namespace

TEST_F(BadModelDir, TruncatedSafetensors) {
  std::string b = bytes(good / "model.safetensors");
  write(dir / "model.safetensors", b.substr(0, b.size() / 2));
  expect_error("model.safetensors");
}

TEST_F(BadModelDir, HeaderLengthPastEndOfFile) {
  std::string b = bytes(good / "model.safetensors");
  uint64_t huge = b.size() * 4;
  std::memcpy(b.data(), &huge, 8);
  write(dir / "model.safetensors", b);
  expect_error("model.safetensors");
}

TEST_F(BadModelDir, UnknownDtype) {
  std::string b = bytes(good / "model.safetensors");
  size_t p = b.find("\"F32\"");
  ASSERT_NE(p, std::string::npos);
  b.replace(p, 5, "\"Q7x\"");
  write(dir / "model.safetensors", b);
  expect_error("Q7x");
}

TEST_F(BadModelDir, ShapeContradictsConfig) {
  fs::copy_file(good / "model.safetensors", dir / "model.safetensors");
  std::string c = bytes(dir / "config.json");
  size_t p = c.find("\"n_embd\": 64");
  ASSERT_NE(p, std::string::npos);
  c.replace(p, 12, "\"n_embd\": 32");
  write(dir / "config.json", c);
  expect_error("config.json");
}

TEST_F(BadModelDir, MissingConfig) {
  fs::copy_file(good / "model.safetensors", dir / "model.safetensors");
  fs::remove(dir / "config.json");
  expect_error("config.json");
}

TEST_F(BadModelDir, UnknownModelTypeListsSupported) {
  fs::copy_file(good / "model.safetensors", dir / "model.safetensors");
  std::string c = bytes(dir / "config.json");
  size_t p = c.find("\"gpt2\"");
  c.replace(p, 6, "\"mamba\"");
  write(dir / "config.json", c);
  expect_error("gpt_neox");
}

TEST_F(BadModelDir, MissingDirectory) {
  fs::remove_all(dir);
  expect_error("does not exist");
}

TEST(CliErrors, MalformedTaskFileNamesTheLineAndWritesNoOutput) {
  fs::path tmp = fs::temp_directory_path() / ("cs_task_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  std::ofstream(tmp / "t.jsonl") << "{\"prompt\": \"a b\", \"answer\": \" c\"}\n{\"prompt\": \"x\"}\n";
  Outcome r = run("discover " + std::string(CS_TEST_DATA) + "/gpt2-tiny --task " + (tmp / "t.jsonl").string() +
              " --out " + (tmp / "out").string());
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("t.jsonl:2"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "out" / "circuit.json"));
  fs::remove_all(tmp);
}

TEST(CliErrors, InductionWordFileWithAMultiTokenWordNamesTheLine) {
  fs::path tmp = fs::temp_directory_path() / ("cs_words_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  std::ofstream(tmp / "w.txt") << "apple\nriver\nqwzxkjvbn\n";
  Outcome r = run("reference-circuit " + std::string(CS_TEST_DATA) + "/gpt2-tiny --task induction --induction-words " +
                  (tmp / "w.txt").string() + " --out " + (tmp / "c.json").string());
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("w.txt:3"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "c.json"));
  fs::remove_all(tmp);
}

TEST(CliErrors, UsageErrorsExitTwo) {
  EXPECT_EQ(run("discover").code, 2);
  EXPECT_EQ(run("info --bogus x").code, 2);
  EXPECT_EQ(run("frobnicate").code, 2);
  // train's corpus mixture and weight average: one line naming the flag, before any work.
  for (const char* bad : {"--mix 0.25,0.1", "--mix 1,1,1,1,1,1,1,1,1", "--mix 1,x,1,1,1", "--ema 1", "--ema -0.5"}) {
    Outcome t = run(std::string("train --out ") + (fs::temp_directory_path() / "cs_never").string() + " " + bad);
    EXPECT_EQ(t.code, 2) << bad << ": " << t.err;
    EXPECT_EQ(std::count(t.err.begin(), t.err.end(), '\n'), 1) << bad << ": " << t.err;
    EXPECT_NE(t.err.find(std::string(bad).substr(2, 3)), std::string::npos) << bad << ": " << t.err;
  }
  EXPECT_FALSE(fs::exists(fs::temp_directory_path() / "cs_never"));
  Outcome r = run("run " + std::string(CS_TEST_DATA) + "/gpt2-tiny hi --cache blocks.0.attn.hook_zz");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("unknown hook point"), std::string::npos) << r.err;
}

TEST(CliErrors, RunAblateTakesAHeadOfTheModel) {
  const std::string tiny = std::string(CS_TEST_DATA) + "/gpt2-tiny";
  Outcome r = run("run " + tiny + " hi --ablate 1");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--ablate takes LAYER.HEAD"), std::string::npos) << r.err;
  r = run("run " + tiny + " hi --ablate 3.0");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("head 3.0 is not in the model"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}
