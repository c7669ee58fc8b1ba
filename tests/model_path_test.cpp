// Model arguments: a directory as given, or a hub id found in a Hugging Face cache laid out as
// huggingface_hub writes it (models--ORG--NAME/refs/REV -> snapshots/COMMIT). The cache here is
// built by hand around the gpt2-tiny fixture; the CLI is run on a hub id as a user would.
#include <gtest/gtest.h>

#include <unistd.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "model/model.h"
#include "model/model_path.h"
#include "model/tokenizer.h"
#include "ops/error.h"

namespace fs = std::filesystem;
using namespace cs;

namespace {

const fs::path kTiny = fs::path(CS_TEST_DATA) / "gpt2-tiny";
const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";
const std::string kOther = "fedcba9876543210fedcba9876543210fedcba98";

class HubCache : public ::testing::Test {
 protected:
  fs::path root = fs::temp_directory_path() / ("cs_hub_" + std::to_string(::getpid()));
  fs::path cache = root / "hub";
  fs::path repo = cache / "models--tiny-org--gpt2-tiny";
  void SetUp() override {
    fs::remove_all(root);
    // A snapshot holds links into blobs/ in a real cache; links to the fixture's files here.
    fs::create_directories(repo / "snapshots" / kCommit);
    for (const char* f : {"config.json", "model.safetensors"})
      fs::create_symlink(kTiny / f, repo / "snapshots" / kCommit / f);
    fs::create_directories(repo / "refs");
    std::ofstream(repo / "refs" / "main") << kCommit;  // no newline, as huggingface_hub writes it
    for (const char* v : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"}) unsetenv(v);
    setenv("HF_HUB_CACHE", cache.c_str(), 1);
  }
  void TearDown() override { fs::remove_all(root); }
  static std::string error_of(const std::string& arg) {
    try {
      resolve_model_path(arg);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
};

}  // namespace

TEST_F(HubCache, DirectoryIsReturnedUnchanged) {
  EXPECT_EQ(resolve_model_path(kTiny.string()), kTiny.string());
}

TEST_F(HubCache, HubIdResolvesThroughRefsMain) {
  EXPECT_EQ(resolve_model_path("tiny-org/gpt2-tiny"), (repo / "snapshots" / kCommit).string());
  Model m = load_model("tiny-org/gpt2-tiny");
  EXPECT_EQ(m.dir, (repo / "snapshots" / kCommit).string());
  EXPECT_EQ(m.cfg.n_layers, 3);
  // The tokenizer resolves the same way (this snapshot has none: the bundled GPT-2 files).
  EXPECT_EQ(Tokenizer::for_model_dir("tiny-org/gpt2-tiny").encode("Hello world"), (std::vector<int>{15496, 995}));
}

TEST_F(HubCache, RevisionByBranchOrCommit) {
  fs::create_directories(repo / "snapshots" / kOther);
  std::ofstream(repo / "refs" / "v2") << kOther << "\n";
  EXPECT_EQ(resolve_model_path("tiny-org/gpt2-tiny@v2"), (repo / "snapshots" / kOther).string());
  EXPECT_EQ(resolve_model_path("tiny-org/gpt2-tiny@" + kOther), (repo / "snapshots" / kOther).string());
  EXPECT_EQ(resolve_model_path("tiny-org/gpt2-tiny"), (repo / "snapshots" / kCommit).string());
  const std::string err = error_of("tiny-org/gpt2-tiny@v3");
  EXPECT_NE(err.find("no snapshot for revision 'v3'"), std::string::npos) << err;
  EXPECT_NE(err.find(kOther), std::string::npos) << err;
}

TEST_F(HubCache, SingleSnapshotWithoutRefsIsUsed) {
  fs::remove_all(repo / "refs");
  EXPECT_EQ(resolve_model_path("tiny-org/gpt2-tiny"), (repo / "snapshots" / kCommit).string());
  fs::create_directories(repo / "snapshots" / kOther);  // two and no refs/main: ambiguous
  const std::string err = error_of("tiny-org/gpt2-tiny");
  EXPECT_NE(err.find("tiny-org/gpt2-tiny@COMMIT"), std::string::npos) << err;
}

TEST_F(HubCache, CacheLocationFollowsHuggingFaceHub) {
  unsetenv("HF_HUB_CACHE");
  setenv("HF_HOME", root.c_str(), 1);  // HF_HOME/hub
  EXPECT_EQ(hf_hub_cache_dir(), cache.string());
  EXPECT_EQ(resolve_model_path("tiny-org/gpt2-tiny"), (repo / "snapshots" / kCommit).string());
  unsetenv("HF_HOME");
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(hf_hub_cache_dir(), "/xdg/huggingface/hub");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(hf_hub_cache_dir(), "/home/u/.cache/huggingface/hub");
  setenv("HF_HUB_CACHE", "/explicit", 1);
  setenv("HF_HOME", "/ignored", 1);
  EXPECT_EQ(hf_hub_cache_dir(), "/explicit");
}

TEST_F(HubCache, MissingModelNamesWhereItLooked) {
  std::string err = error_of("tiny-org/absent");
  EXPECT_NE(err.find("does not exist"), std::string::npos) << err;
  EXPECT_NE(err.find((cache / "models--tiny-org--absent").string()), std::string::npos) << err;
  err = error_of("/no/such/dir");  // a path, not an id: no cache lookup
  EXPECT_NE(err.find("'/no/such/dir' does not exist"), std::string::npos) << err;
  err = error_of((kTiny / "config.json").string());
  EXPECT_NE(err.find("not a directory"), std::string::npos) << err;
}

TEST_F(HubCache, CliTakesHubIds) {
  const std::string out = (root / "out.txt").string();
  const int st = std::system((std::string(CS_BINARY) + " info tiny-org/gpt2-tiny >" + out + " 2>&1").c_str());
  std::ifstream in(out);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << text;
  EXPECT_NE(text.find("model: tiny-org/gpt2-tiny (" + (repo / "snapshots" / kCommit).string() + ")"), std::string::npos)
      << text;
}
