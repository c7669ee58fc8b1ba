// Hostile and careless input at the command line (issue 15): every case ends in a one-line error
// on stderr that says what is wrong (exit 1; 2 for usage errors), within seconds (a FIFO or
// /dev/zero never blocks or eats memory), and leaves no new file behind. Each test names the
// defect of the issue it reproduces.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Result {
  int rc;  // exit code; 124: killed by the timeout (a hang); -1: killed by a signal (a crash)
  std::string out, err;
  int err_lines() const { return static_cast<int>(std::count(err.begin(), err.end(), '\n')); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// A fresh directory for one test, removed at its end.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("cs_hostile_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path file(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
    return path / name;
  }
  // Every path under the directory, for "nothing new was written".
  std::set<std::string> listing() const {
    std::set<std::string> s;
    for (const auto& e : fs::recursive_directory_iterator(path)) s.insert(fs::relative(e.path(), path).string());
    return s;
  }
};

// Runs `circuitscan ARGS` under a wall-clock limit and (without AddressSanitizer) a 4 GB
// address-space cap (so a runaway allocation shows as an error, not as a machine out of memory), in the test's directory (so a
// relative --out lands there). stdout and stderr are kept apart.
Result run(const std::string& args, const TempDir& tmp, int seconds = 60) {
  const fs::path out = tmp.path / ".stdout", err = tmp.path / ".stderr";
#if defined(__SANITIZE_ADDRESS__)
  const std::string limit = "";  // AddressSanitizer reserves terabytes of address space up front
#else
  const std::string limit = "ulimit -v 4000000; ";
#endif
  const std::string cmd = "cd " + q(tmp.path) + " && " + limit + "timeout -s KILL " + std::to_string(seconds) + " '" +
                          CS_BINARY + "' " + args + " >" + q(out) + " 2>" + q(err);
  const int st = std::system(("bash -c \"" + cmd + "\"").c_str());
  Result r{WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(out), slurp(err)};
  if (r.rc == 137) r.rc = 124;  // SIGKILL from timeout
  if (r.rc >= 128) r.rc = -1;   // any other signal: a crash
  fs::remove(out);
  fs::remove(err);
  return r;
}

// One line on stderr, "error: ..." containing `phrase`, exit code `code`.
void expect_error(const Result& r, int code, const std::string& phrase, const std::string& what = "") {
  EXPECT_EQ(r.rc, code) << what << "\nstderr: " << r.err;
  EXPECT_EQ(r.err_lines(), 1) << what << "\nstderr: " << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << what << "\nstderr: " << r.err;
  EXPECT_NE(r.err.find(phrase), std::string::npos) << what << ": wanted '" << phrase << "'\nstderr: " << r.err;
}

const fs::path kTiny = fs::path(CS_TEST_DATA) / "gpt2-tiny";
const fs::path kZoo = fs::path(CS_SOURCE_DIR) / "models" / "toy-gpt2-4l";

// A copy of gpt2-tiny (config.json copied, weights linked) whose files a test may replace.
fs::path tiny_copy(const TempDir& tmp, const std::string& name = "m") {
  const fs::path d = tmp.path / name;
  fs::create_directories(d);
  fs::copy_file(kTiny / "config.json", d / "config.json");
  fs::create_symlink(kTiny / "model.safetensors", d / "model.safetensors");
  return d;
}

void set_config(const fs::path& dir, const std::string& key, const nlohmann::json& value) {
  nlohmann::json j = nlohmann::json::parse(slurp(dir / "config.json"));
  j[key] = value;
  fs::remove(dir / "config.json");
  std::ofstream(dir / "config.json") << j.dump(2);
}

void make_fifo(const fs::path& p) {
  fs::remove(p);
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0) << p;
}

// A user task with corrupt and negative prompts on every line, all of the same token length.
std::string jsonl_task(int n, bool negatives_longer = false) {
  const char* names[] = {" Mary", " John", " Anna", " Paul", " Tom", " Kate", " Mark", " Sarah"};
  std::string s;
  for (int i = 0; i < n; ++i) {
    const std::string a = names[i % 8], b = names[(i + 3) % 8];
    nlohmann::json j = {{"prompt", "When" + a + " and" + b + " went to the shop," + b + " gave it to"},
                        {"answer", a},
                        {"wrong", b},
                        {"corrupt", "When" + a + " and" + b + " went to the shop," + a + " gave it to"},
                        {"negative", negatives_longer ? "Then" + a + " and" + b + " went home, and later on the day" + b + " said hello to"
                                                      : "When" + a + " and" + b + " went to the shop, they gave it to"}};
    s += j.dump() + "\n";
  }
  return s;
}

}  // namespace

// ---- 1. eval: layers x heads overflowing an int --------------------------------------------

TEST(Hostile, D01_EvalHeadIndicesTooLargeAreAnErrorNotACrash) {
  TempDir tmp;
  const fs::path s1 = tmp.file("s1.json", R"({"scores": {"65535.65536": 0.5, "1.1": 0.7}})");
  expect_error(run("eval --scores " + q(s1) + " --truth gpt2-small-ioi", tmp, 30), 1, "65535.65536");
  const fs::path s2 = tmp.file("s2.json", R"({"scores": {"100000.100000": 0.5}})");
  const Result r = run("eval --scores " + q(s2) + " --truth gpt2-small-ioi", tmp, 30);
  expect_error(r, 1, "100000.100000");
  EXPECT_EQ(r.err.find("out of memory"), std::string::npos) << r.err;
  // The same limits on a circuit.json's model shape and on --layers/--heads.
  const fs::path c = tmp.file("c.json", R"({"model": {"n_layers": 70000, "n_heads": 70000}, "heads": [{"layer": 0, "head": 0, "score": 1}]})");
  expect_error(run("eval --scores " + q(c) + " --truth gpt2-small-ioi", tmp, 30), 1, "n_layers");
  const fs::path ok = tmp.file("ok.json", R"({"scores": {"9.9": 0.5, "1.1": 0.7}})");
  expect_error(run("eval --scores " + q(ok) + " --truth gpt2-small-ioi --layers 70000 --heads 70000", tmp, 30), 2, "--layers");
}

// ---- 2. train --resume from a checkpoint with a hostile step field --------------------------

TEST(Hostile, D02_TrainResumeRejectsABadStepField) {
  TempDir tmp;
  const std::string common = " --preset gpt2-tiny --docs 100 --seq-len 16 --batch 2 --steps 2 --eval-n 2 --eval-every 0 --save-every 0";
  const Result first = run("train" + common + " --out " + q(tmp.path / "a"), tmp, 300);
  ASSERT_EQ(first.rc, 0) << first.err;
  const fs::path state = tmp.path / "a" / "checkpoint" / "trainer_state.bin";
  std::string bytes = slurp(state);
  ASSERT_GT(bytes.size(), 32u);
  for (int64_t step : {int64_t{-1000000}, int64_t{-3}, int64_t{2147483647}, int64_t{5}}) {
    std::memcpy(bytes.data() + 8, &step, 8);
    fs::remove(state);
    std::ofstream(state, std::ios::binary) << bytes;
    const fs::path out = tmp.path / ("b" + std::to_string(step));
    const Result r = run("train" + common + " --resume " + q(tmp.path / "a" / "checkpoint") + " --out " + q(out), tmp, 300);
    expect_error(r, 1, "trainer_state.bin", "step " + std::to_string(step));
    EXPECT_NE(r.err.find("step"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out)) << "step " << step;
  }
  // A state file cut short or padded is refused before any training.
  const std::string good = slurp(state);
  for (const std::string& bad : {good.substr(0, good.size() - 4), good + "xxxx", std::string("CSTRAIN1")}) {
    fs::remove(state);
    std::ofstream(state, std::ios::binary) << bad;
    expect_error(run("train" + common + " --resume " + q(tmp.path / "a" / "checkpoint") + " --out " + q(tmp.path / "c"), tmp, 300),
                 1, "trainer_state.bin");
    EXPECT_FALSE(fs::exists(tmp.path / "c"));
  }
}

// ---- 3. FIFOs and /dev/zero as input files --------------------------------------------------

TEST(Hostile, D03_FifoInModelDirectoryDoesNotBlock) {
  TempDir tmp;
  for (const char* name : {"model.safetensors", "config.json", "vocab.json", "tokenizer.model", "tokenizer.json",
                           "model.safetensors.index.json"}) {
    const fs::path d = tiny_copy(tmp, std::string("fifo_") + name);
    if (std::string(name) == "vocab.json") fs::copy_file(fs::path(CS_SOURCE_DIR) / "data/gpt2-tokenizer/merges.txt", d / "merges.txt");
    if (std::string(name) == "model.safetensors.index.json") fs::remove(d / "model.safetensors");
    make_fifo(d / name);
    const std::string cmd = std::string(name).find("safetensors") != std::string::npos || std::string(name) == "config.json"
                                ? "info " + q(d)
                                : "run " + q(d) + " hello";
    expect_error(run(cmd, tmp, 20), 1, "not a regular file", name);
  }
}

TEST(Hostile, D03_DevZeroAsAnInputFileIsRefusedAtOnce) {
  TempDir tmp;
  const fs::path d = tiny_copy(tmp);
  fs::create_symlink("/dev/zero", d / "vocab.json");
  fs::copy_file(fs::path(CS_SOURCE_DIR) / "data/gpt2-tokenizer/merges.txt", d / "merges.txt");
  expect_error(run("run " + q(d) + " hello", tmp, 20), 1, "not a regular file", "vocab.json");
  fs::remove(d / "vocab.json");
  fs::remove(d / "merges.txt");
  fs::copy_file(fs::path(CS_SOURCE_DIR) / "data/gpt2-tokenizer/vocab.json", d / "vocab.json");
  fs::create_symlink("/dev/zero", d / "merges.txt");
  expect_error(run("run " + q(d) + " hello", tmp, 20), 1, "not a regular file", "merges.txt");
  fs::create_symlink("/dev/zero", tmp.path / "task.jsonl");
  expect_error(run("tasks show " + q(tmp.path / "task.jsonl"), tmp, 20), 1, "not a regular file", "task");
  expect_error(run("eval --scores /dev/zero --truth gpt2-small-ioi", tmp, 20), 1, "not a regular file", "--scores");
  fs::create_symlink("/dev/zero", tmp.path / "truth.json");
  const fs::path s = tmp.file("s.json", R"({"scores": {"9.9": 0.5, "1.1": 0.7}})");
  expect_error(run("eval --scores " + q(s) + " --truth " + q(tmp.path / "truth.json"), tmp, 20), 1, "not a regular file", "--truth");
  expect_error(run("tasks show induction --induction-words /dev/zero", tmp, 20), 1, "not a regular file", "words");
}

// ---- 4. counts without an upper bound ------------------------------------------------------

TEST(Hostile, D04_CountsHaveAnUpperBound) {
  TempDir tmp;
  expect_error(run("tasks show ioi --n 100000000", tmp, 20), 2, "--n");
  expect_error(run("discover " + q(kTiny) + " --prompts 100000000", tmp, 20), 2, "--prompts");
  expect_error(run("discover " + q(kTiny) + " --features 1e8", tmp, 20), 2, "--features");
  expect_error(run("discover " + q(kTiny) + " --features 100000000", tmp, 20), 2, "--features");
}

// ---- 5. half-written output ----------------------------------------------------------------

TEST(Hostile, D05_DiscoverLeavesNothingWhenAnOutputCannotBeWritten) {
  TempDir tmp;
  const fs::path out = tmp.path / "out";
  fs::create_directories(out / "report.html");  // a directory where a file must go
  const std::set<std::string> before = tmp.listing();
  const Result r = run("discover " + q(kTiny) + " --prompts 20 --features 20 --epochs 20 --no-faithfulness --truth none --out " + q(out), tmp, 120);
  expect_error(r, 1, "report.html");
  EXPECT_EQ(tmp.listing(), before);
}

TEST(Hostile, D05_EvalReferenceCompareInitRandomLeaveNothingOnFailure) {
  TempDir tmp;
  const fs::path s = tmp.file("s.json", R"({"scores": {"9.9": 0.5, "1.1": 0.7}})");
  fs::create_directories(tmp.path / "taken");  // --out names an existing directory
  fs::create_directories(tmp.path / "cmp" / "compare.html");
  fs::create_directories(tmp.path / "rnd" / "config.json");
  const std::set<std::string> before = tmp.listing();
  expect_error(run("eval --scores " + q(s) + " --truth gpt2-small-ioi --out " + q(tmp.path / "taken"), tmp), 1, "taken");
  EXPECT_EQ(tmp.listing(), before);
  expect_error(run("reference-circuit " + q(kTiny) + " --prompts 20 --edge-prompts 10 --out " + q(tmp.path / "taken"), tmp, 120), 1,
               "taken");
  EXPECT_EQ(tmp.listing(), before);
  expect_error(run("compare " + q(kTiny) + " --methods hisp --prompts 20 --method-prompts 10 --faith-prompts 10 --truth none --out " +
                       q(tmp.path / "cmp"),
                   tmp, 120),
               1, "compare.html");
  EXPECT_EQ(tmp.listing(), before);
  expect_error(run("init-random --preset gpt2-tiny --out " + q(tmp.path / "rnd"), tmp), 1, "config.json");
  EXPECT_EQ(tmp.listing(), before);
  // A --out below a file is refused before any work, and nothing is created.
  const Result early = run("discover " + q(kTiny) + " --prompts 20 --out " + q(tmp.path / "s.json" / "x"), tmp, 60);
  expect_error(early, 1, "s.json");
  EXPECT_EQ(early.out.find("time:"), std::string::npos) << early.out;
  EXPECT_EQ(tmp.listing(), before);
}

// ---- 6. integers of 2^32 and more ----------------------------------------------------------

TEST(Hostile, D06_LargeIntegersAreRangeCheckedNotWrapped) {
  TempDir tmp;
  const fs::path d = tiny_copy(tmp);
  set_config(d, "n_layer", 4294967300LL);
  expect_error(run("info " + q(d), tmp, 20), 1, "n_layer");
  expect_error(run("discover " + q(kTiny) + " --prompts 4294967316", tmp, 20), 2, "--prompts");
  expect_error(run("run " + q(kTiny) + " hello --cache blocks.4294967296.attn.hook_z", tmp, 20), 1, "blocks.4294967296");
  const fs::path f = tmp.path / "acts.safetensors";
  expect_error(run("run " + q(kTiny) + " hello --cache blocks.2147483648.attn.hook_z --save " + q(f), tmp, 20), 1,
               "blocks.2147483648");
  EXPECT_FALSE(fs::exists(f));
  // A seed beyond 32 bits is used and recorded exactly.
  const fs::path out = tmp.path / "out";
  const Result r = run("discover " + q(kTiny) + " --prompts 20 --features 20 --epochs 20 --no-faithfulness --truth none --seed 99999999999999 --out " +
                           q(out),
                       tmp, 120);
  ASSERT_EQ(r.rc, 0) << r.err;
  nlohmann::json c = nlohmann::json::parse(slurp(out / "circuit.json"));
  EXPECT_EQ(c["seed"].get<uint64_t>(), 99999999999999ull);
  EXPECT_NE(c["settings"]["task"].get<std::string>().find("seed 99999999999999)"), std::string::npos) << c["settings"];
  expect_error(run("discover " + q(kTiny) + " --seed 99999999999999999999", tmp, 20), 2, "--seed");
}

// ---- 7. zero or negative sizes in config.json ----------------------------------------------

TEST(Hostile, D07_ZeroOrNegativeSizesAreRefused) {
  TempDir tmp;
  for (const char* key : {"n_layer", "n_head", "n_embd", "n_positions", "vocab_size"})
    for (int v : {0, -1}) {
      const fs::path d = tiny_copy(tmp, std::string(key) + std::to_string(v));
      set_config(d, key, v);
      expect_error(run("info " + q(d), tmp, 20), 1, key, std::string(key) + " = " + std::to_string(v));
    }
  const fs::path d = tiny_copy(tmp, "n_inner");
  set_config(d, "n_inner", -5);
  expect_error(run("info " + q(d), tmp, 20), 1, "n_inner");
}

// ---- 8. run --json with non-ASCII text ------------------------------------------------------

TEST(Hostile, D08_RunJsonCopesWithNonAsciiAndPartialUtf8Tokens) {
  TempDir tmp;
  for (const char* prompt : {"caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC", "\xF0\x9F\x98\x80 smile"}) {
    const Result r = run("run " + q(kTiny) + " '" + std::string(prompt) + "' --json --top-k 50", tmp, 30);
    ASSERT_EQ(r.rc, 0) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["tokens"].size(), j["token_text"].size());
    EXPECT_EQ(j["top"].size(), 50u);
  }
}

// ---- 9. --position end on negative prompts of another length -------------------------------

TEST(Hostile, D09_PositionEndIsEachPromptsOwnLastToken) {
  TempDir tmp;
  const fs::path task = tmp.file("t.jsonl", jsonl_task(24, /*negatives_longer=*/true));
  auto scores = [&](const std::string& pos) {
    const fs::path out = tmp.path / ("out_" + pos);
    const Result r = run("discover " + q(kTiny) + " --task " + q(task) + " --score paper --features 20 --epochs 30 --train-prompts 6 " +
                             "--no-faithfulness --truth none --position " + pos + " --out " + q(out),
                         tmp, 120);
    EXPECT_EQ(r.rc, 0) << pos << ": " << r.err;
    std::vector<double> s;
    if (r.rc != 0) return s;
    const nlohmann::json c = nlohmann::json::parse(slurp(out / "circuit.json"));
    for (const auto& h : c["heads"]) s.push_back(h["score"].get<double>());
    return s;
  };
  const std::vector<double> end = scores("end"), last = scores("last");
  ASSERT_FALSE(end.empty());
  EXPECT_EQ(end, last);
}

// ---- 10. JSON values of the wrong type -----------------------------------------------------

TEST(Hostile, D10_WrongJsonTypesNameTheFileAndKey) {
  TempDir tmp;
  const std::vector<std::pair<std::string, nlohmann::json>> cases = {
      {"tie_word_embeddings", "yes"}, {"activation_function", 3}, {"layer_norm_epsilon", "small"},
      {"n_inner", "big"},             {"scale_attn_by_inverse_layer_idx", "no"}};
  for (const auto& [key, value] : cases) {
    const fs::path d = tiny_copy(tmp, key);
    set_config(d, key, value);
    const Result r = run("info " + q(d), tmp, 20);
    expect_error(r, 1, key, key);
    EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("type_error"), std::string::npos) << r.err;
  }
  // tokenizer.json fields of the wrong type.
  const std::string base = slurp(fs::path(CS_SOURCE_DIR) / "data/gpt2-tokenizer/vocab.json");
  nlohmann::json vocab = nlohmann::json::parse(base);
  auto tokjson = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json t = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}},
                        {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
                        {"added_tokens", nlohmann::json::array()}};
    edit(t);
    return t.dump();
  };
  const std::vector<std::pair<std::string, std::function<void(nlohmann::json&)>>> tcases = {
      {"model.type", [](nlohmann::json& t) { t["model"]["type"] = 5; }},
      {"add_prefix_space", [](nlohmann::json& t) { t["pre_tokenizer"]["add_prefix_space"] = "no"; }},
      {"ignore_merges", [](nlohmann::json& t) { t["model"]["ignore_merges"] = "yes"; }},
      {"content", [](nlohmann::json& t) { t["added_tokens"] = {{{"id", 5}, {"content", 7}}}; }},
      {"Regex", [](nlohmann::json& t) {
         t["pre_tokenizer"] = {{"type", "Sequence"},
                               {"pretokenizers", {{{"type", "Split"}, {"behavior", "Isolated"}, {"pattern", {{"Regex", 5}}}},
                                                  {{"type", "ByteLevel"}}}}};
       }},
      {"pretokenizers", [](nlohmann::json& t) { t["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", 5}}; }},
      {"normalizer", [](nlohmann::json& t) { t["normalizer"] = {{"type", 5}}; }},
  };
  for (const auto& [what, edit] : tcases) {
    const fs::path d = tiny_copy(tmp, "tok_" + what);
    std::ofstream(d / "tokenizer.json") << tokjson(edit);
    const Result r = run("run " + q(d) + " hello", tmp, 20);
    expect_error(r, 1, "tokenizer.json", what);
    EXPECT_EQ(r.err.find("type_error"), std::string::npos) << what << ": " << r.err;
    EXPECT_EQ(r.err.find("[json.exception"), std::string::npos) << what << ": " << r.err;
  }
}

// ---- 11. wrong or unclear messages ---------------------------------------------------------

TEST(Hostile, D11_MessagesBlameTheRightThing) {
  TempDir tmp;
  // A duplicate id in vocab.json is vocab.json's fault, not merges.txt's.
  const fs::path d = tiny_copy(tmp, "dup");
  std::ofstream(d / "vocab.json") << R"({"a": 0, "b": 0})";
  std::ofstream(d / "merges.txt") << "#version: 0.2\n";
  Result r = run("run " + q(d) + " a", tmp, 20);
  expect_error(r, 1, "vocab.json");
  EXPECT_EQ(r.err.find("merges.txt"), std::string::npos) << r.err;
  // A directory as tokenizer.model names the path, not basic_filebuf.
  const fs::path e = tiny_copy(tmp, "spdir");
  fs::create_directories(e / "tokenizer.model");
  r = run("run " + q(e) + " a", tmp, 20);
  expect_error(r, 1, "tokenizer.model");
  EXPECT_EQ(r.err.find("basic_filebuf"), std::string::npos) << r.err;
  // A file given as the model directory is not "does not exist".
  r = run("info /etc/passwd", tmp, 20);
  expect_error(r, 1, "not a directory");
  EXPECT_EQ(r.err.find("does not exist"), std::string::npos) << r.err;
  // No internal function names in the messages.
  fs::path f = tiny_copy(tmp, "int");
  fs::remove(f / "model.safetensors");
  {
    std::string b = slurp(kTiny / "model.safetensors");
    const size_t p = b.find("\"F32\"");
    b.replace(p, 5, "\"I32\"");
    std::ofstream(f / "model.safetensors", std::ios::binary) << b;
  }
  r = run("info " + q(f), tmp, 20);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_EQ(r.err.find("read_i64"), std::string::npos) << r.err;
  // The default score's errors speak of what the user asked for.
  const fs::path one = tmp.file("one.jsonl", jsonl_task(1));
  r = run("discover " + q(kTiny) + " --task " + q(one) + " --truth none", tmp, 60);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_EQ(r.err_lines(), 1) << r.err;
  EXPECT_EQ(r.err.find("null-corrected"), std::string::npos) << r.err;
  std::string uneven = jsonl_task(8);
  uneven += nlohmann::json({{"prompt", "When Mary and John went to the shop, John gave it to"}, {"answer", " Mary"}, {"wrong", " John"},
                            {"corrupt", "When Mary and John went to the big old shop, Mary gave it to"},
                            {"negative", "When Mary and John went to the shop, they gave it to"}})
                .dump() +
            "\n";
  const fs::path un = tmp.file("uneven.jsonl", uneven);
  r = run("discover " + q(kTiny) + " --task " + q(un) + " --truth none --features 20 --epochs 20 --train-prompts 4", tmp, 60);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_EQ(r.err.find("EAP"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--score"), std::string::npos) << r.err;
}

// ---- 12. one line on stderr -----------------------------------------------------------------

TEST(Hostile, D12_WarningsAreOneLineAndBareCommandIsOneLine) {
  TempDir tmp;
  std::string s;
  for (int i = 0; i < 30; ++i)
    s += nlohmann::json({{"prompt", "When Mary and John went to the shop, John gave it to"}, {"answer", " Mary"},
                         {"corrupt", "When Mary and John went to the big old shop, Mary gave it to"}})
             .dump() +
         "\n";
  const fs::path t = tmp.file("t.jsonl", s);
  const Result r = run("tasks show " + q(t) + " --n 2", tmp, 30);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err_lines(), 1) << r.err;
  EXPECT_NE(r.err.find("30"), std::string::npos) << r.err;  // how many, in one line
  const Result bare = run("", tmp, 10);
  EXPECT_EQ(bare.rc, 2);
  EXPECT_LE(bare.err_lines(), 1) << bare.err;
  const Result unknown = run("frobnicate", tmp, 10);
  expect_error(unknown, 2, "frobnicate");
}

// ---- 13. NaN from a config or a flag --------------------------------------------------------

TEST(Hostile, D13_NonPositiveRopeThetaAndNanLearningRateAreRefused) {
  TempDir tmp;
  const fs::path neox = fs::path(CS_TEST_DATA) / "neox-tiny";
  for (double theta : {0.0, -10000.0}) {
    const fs::path d = tmp.path / ("neox" + std::to_string(static_cast<int>(theta)));
    fs::create_directories(d);
    fs::copy_file(neox / "config.json", d / "config.json");
    fs::create_symlink(neox / "model.safetensors", d / "model.safetensors");
    nlohmann::json rp = nlohmann::json::parse(slurp(d / "config.json"))["rope_parameters"];
    rp["rope_theta"] = theta;
    set_config(d, "rope_parameters", rp);
    expect_error(run("info " + q(d), tmp, 20), 1, "rope_theta", std::to_string(theta));
  }
  for (const char* lr : {"nan", "inf", "-1", "0"}) {
    const Result r = run(std::string("train --preset gpt2-tiny --steps 2 --out ") + q(tmp.path / "t") + " --lr " + lr, tmp, 20);
    expect_error(r, 2, "--lr", lr);
    EXPECT_FALSE(fs::exists(tmp.path / "t"));
  }
}

// ---- 14. bad values silently ignored --------------------------------------------------------

TEST(Hostile, D14_BadFlagValuesAreUsageErrors) {
  TempDir tmp;
  const std::string d = "discover " + q(kTiny);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {d + " --top-k -1", "--top-k"},
      {d + " --threshold nan", "--threshold"},
      {d + " --threshold -1", "--threshold"},
      {d + " --threshold -inf", "--threshold"},
      {d + " --faith-prompts -1", "--faith-prompts"},
      {d + " --position bogus", "--position"},
      {d + " --ablation bogus", "--ablation"},
      {d + " --score bogus", "--score"},
      {d + " --lr nan", "--lr"},
      {d + " --trials 0", "--trials"},
      {"compare " + q(kTiny) + " --trials 0", "--trials"},
      {"compare " + q(kTiny) + " --acdc-sweep -1", "--acdc-sweep"},
      {"compare " + q(kTiny) + " --acdc-sweep 1", "--acdc-sweep"},
      {"compare " + q(kTiny) + " --tau nan", "--tau"},
      {"compare " + q(kTiny) + " --ablation bogus", "--ablation"},
      {"reference-circuit " + q(kTiny) + " --keep 1.5 --out x.json", "--keep"},
      {"run " + q(kTiny) + " hi --top-k 0", "--top-k"},
      {"init-random --preset bogus --out x", "--preset"},
      {"init-random --dtype f8 --out x", "--dtype"},
      {"eval --scores x --truth y --top-k -3", "--top-k"},
      {"tasks show ioi --seed -1", "--seed"},
      {"tasks show ioi --variant bogus", "--variant"},
      {"train --out x --batch 0", "--batch"},
      {"train --out x --clip nan", "--clip"},
      {"train --out x --mix inf,1,1,1,1", "--mix"},
      {"train --out x --docs 100000000", "--docs"},
  };
  for (const auto& [args, flag] : cases) expect_error(run(args, tmp, 20), 2, flag, args);
  // Every numeric flag shows its range in --help.
  const Result h = run("discover --help", tmp, 10);
  EXPECT_NE(h.out.find("--prompts"), std::string::npos);
  EXPECT_NE(h.out.find("1 to 100000"), std::string::npos) << h.out;
  // --prompts is honoured for .jsonl tasks: the first N prompts.
  const fs::path t = tmp.file("t.jsonl", jsonl_task(12));
  const Result show = run("tasks show " + q(t) + " --n 3", tmp, 20);
  EXPECT_NE(show.out.find("showing 3 of 12"), std::string::npos) << show.out;
  const fs::path out = tmp.path / "o";
  const Result part = run("discover " + q(kTiny) + " --task " + q(t) + " --prompts 8 --score paper --features 20 --epochs 20 --train-prompts 4 --no-faithfulness --truth none --out " + q(out), tmp, 120);
  ASSERT_EQ(part.rc, 0) << part.err;
  EXPECT_NE(part.out.find("8 positive / 8 negative"), std::string::npos) << part.out;
  // --out is checked before the computation: an existing file in its place fails at once.
  const fs::path file = tmp.file("afile", "x");
  const Result early = run(d + " --out " + q(file), tmp, 20);
  expect_error(early, 1, "afile");
  EXPECT_EQ(early.out.find("time:"), std::string::npos) << "ran the computation first:\n" << early.out;
}

// ---- found by fuzzing ------------------------------------------------------------------------

TEST(Hostile, FuzzFound_NumberBeyondDoubleNamesTheFile) {
  // nlohmann's parser throws out_of_range (not parse_error) for 1e400: it reached the user as
  // "[json.exception.out_of_range.406] number overflow ..." without the file (safetensors_fuzz).
  TempDir tmp;
  const fs::path d = tiny_copy(tmp);
  fs::remove(d / "config.json");
  std::ofstream(d / "config.json") << R"({"model_type": "gpt2", "n_layer": 1e400})";
  expect_error(run("info " + q(d), tmp, 20), 1, "config.json: not valid JSON");
  const fs::path s = tmp.file("s.json", R"({"scores": {"9.9": 1e400}})");
  expect_error(run("eval --scores " + q(s) + " --truth gpt2-small-ioi", tmp, 20), 1, "s.json: not valid JSON");
  const fs::path t = tmp.file("t.jsonl", R"({"prompt": "a", "answer": " b", "x": 1e400})");
  expect_error(run("tasks show " + q(t), tmp, 20), 1, "t.jsonl:1: not valid JSON");
}
