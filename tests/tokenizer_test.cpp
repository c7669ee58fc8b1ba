// Tokenizer tests: golden ids from Hugging Face (data/gpt2-tokenizer/reference.json), round
// trips on random UTF-8, a naive reference BPE, many threads at once, errors, tokenizer.json.
#include "model/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "ops/error.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using cs::Tokenizer;

static const std::string kDir = CS_SOURCE_DIR "/data/gpt2-tokenizer";

static const Tokenizer& gpt2() {
  static const Tokenizer t = Tokenizer::from_gpt2_files(kDir + "/vocab.json", kDir + "/merges.txt");
  return t;
}

static json reference_cases() {
  std::ifstream f(kDir + "/reference.json");
  return json::parse(f)["cases"];
}

// A fresh directory under /tmp, removed at the end of the test.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) {
    path = fs::temp_directory_path() / ("cs_tokenizer_" + name + "_" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& file, const std::string& text) const {
    std::ofstream f(path / file, std::ios::binary);
    f << text;
    return (path / file).string();
  }
};

// Runs fn, expects a cs::Error whose message contains `needle`.
template <typename Fn>
static void expect_error_naming(Fn&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected cs::Error mentioning " << needle;
  } catch (const cs::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

static void append_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) { s += char(cp); return; }
  if (cp < 0x800) { s += char(0xC0 | (cp >> 6)); }
  else if (cp < 0x10000) { s += char(0xE0 | (cp >> 12)); s += char(0x80 | ((cp >> 6) & 0x3F)); }
  else {
    s += char(0xF0 | (cp >> 18));
    s += char(0x80 | ((cp >> 12) & 0x3F));
    s += char(0x80 | ((cp >> 6) & 0x3F));
  }
  s += char(0x80 | (cp & 0x3F));
}

// Random valid UTF-8: mostly ASCII, plus Unicode spaces, accents, CJK, emoji, combining marks.
static std::string random_utf8(std::mt19937& rng) {
  static const uint32_t spaces[] = {' ', '\t', '\n', '\r', 0xA0, 0x2003, 0x3000, 0x200B};
  std::uniform_int_distribution<int> len_d(0, 40), pct(0, 99);
  int len = len_d(rng);
  std::string s;
  for (int i = 0; i < len; i++) {
    int p = pct(rng);
    uint32_t cp;
    if (p < 50) cp = std::uniform_int_distribution<uint32_t>(0x20, 0x7E)(rng);
    else if (p < 62) cp = spaces[rng() % 8];
    else if (p < 72) cp = std::uniform_int_distribution<uint32_t>(0xC0, 0x24F)(rng);
    else if (p < 80) cp = std::uniform_int_distribution<uint32_t>(0x4E00, 0x9FFF)(rng);
    else if (p < 85) cp = std::uniform_int_distribution<uint32_t>(0x1F300, 0x1FAFF)(rng);
    else if (p < 90) cp = std::uniform_int_distribution<uint32_t>(0x300, 0x36F)(rng);
    else {
      do cp = std::uniform_int_distribution<uint32_t>(1, 0x10FFFF)(rng);
      while (cp >= 0xD800 && cp <= 0xDFFF);
    }
    append_utf8(s, cp);
  }
  return s;
}

static std::vector<std::string> random_strings(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> v;
  for (int i = 0; i < n; i++) v.push_back(random_utf8(rng));
  return v;
}

TEST(Tokenizer, ReferenceCasesMatchHuggingFace) {
  json cases = reference_cases();
  ASSERT_EQ(cases.size(), 33u);
  for (const json& c : cases) {
    std::string text = c["text"];
    std::vector<int> ids = gpt2().encode(text);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int>>()) << "text: " << text;
    EXPECT_EQ(gpt2().decode(ids), c["decoded"].get<std::string>()) << "text: " << text;
    EXPECT_EQ(gpt2().decode(ids), text);
  }
}

TEST(Tokenizer, RoundTripsRandomUtf8) {
  for (const std::string& s : random_strings(2000, 1234))
    ASSERT_EQ(gpt2().decode(gpt2().encode(s)), s);
}

TEST(Tokenizer, RoundTripsInvalidUtf8AndLongInputs) {
  for (std::string s : {std::string("\xff\xfe abc \xc3"), std::string("ok\x80\x80 \xe2\x82"),
                        std::string(1 << 20, ' '), std::string(200000, 'a'),
                        std::string(100000, ' ') + "x" + std::string(100000, '\n')})
    EXPECT_EQ(gpt2().decode(gpt2().encode(s)), s) << "length " << s.size();
}

// The textbook BPE (openai/gpt-2 encoder.py): repeatedly merge every occurrence of the
// lowest-ranked pair. Works on byte-level strings; for ASCII letters and digits the
// byte-level form is the text itself, with ' ' shown as "Ġ".
static std::vector<int> naive_bpe(const std::string& word) {
  static const auto tables = [] {
    std::map<std::pair<std::string, std::string>, int> ranks;
    std::ifstream f(kDir + "/merges.txt");
    std::string line;
    std::getline(f, line);  // #version
    int r = 0;
    while (std::getline(f, line)) {
      size_t sp = line.find(' ');
      if (sp != std::string::npos) ranks.emplace(std::make_pair(line.substr(0, sp), line.substr(sp + 1)), r++);
    }
    std::ifstream vf(kDir + "/vocab.json");
    return std::make_pair(ranks, json::parse(vf).get<std::map<std::string, int>>());
  }();
  const auto& [ranks, vocab] = tables;
  std::vector<std::string> parts;
  for (char c : word) parts.push_back(c == ' ' ? "\xC4\xA0" : std::string(1, c));
  while (parts.size() > 1) {
    int best = INT32_MAX;
    std::pair<std::string, std::string> best_pair;
    for (size_t i = 0; i + 1 < parts.size(); i++) {
      auto it = ranks.find({parts[i], parts[i + 1]});
      if (it != ranks.end() && it->second < best) { best = it->second; best_pair = it->first; }
    }
    if (best == INT32_MAX) break;
    std::vector<std::string> merged;
    for (size_t i = 0; i < parts.size(); i++) {
      if (i + 1 < parts.size() && parts[i] == best_pair.first && parts[i + 1] == best_pair.second) {
        merged.push_back(parts[i] + parts[i + 1]);
        i++;
      } else {
        merged.push_back(parts[i]);
      }
    }
    parts = merged;
  }
  std::vector<int> ids;
  for (const auto& p : parts) ids.push_back(vocab.at(p));
  return ids;
}

TEST(Tokenizer, BpeMatchesNaiveReference) {
  // Single pre-tokens: " ?[a-z]+" and " ?[0-9]+", with skewed letters so repeats and
  // overlapping pairs ("aaaa", "eee") are common.
  std::mt19937 rng(7);
  const std::string letters = "aaaeeeeiioonnrrsstttlmhdcxyzq", digits = "0123456789";
  for (int i = 0; i < 3000; i++) {
    const std::string& alphabet = i % 5 == 4 ? digits : letters;
    std::string w = rng() % 2 ? " " : "";
    int len = 1 + rng() % 18;
    for (int k = 0; k < len; k++) w += alphabet[rng() % alphabet.size()];
    ASSERT_EQ(gpt2().encode(w), naive_bpe(w)) << "word: '" << w << "'";
  }
}

TEST(Tokenizer, EncodeIsThreadSafe) {
  std::vector<std::string> inputs = random_strings(500, 99);
  for (const json& c : reference_cases()) inputs.push_back(c["text"]);
  std::vector<std::vector<int>> expected;
  for (const auto& s : inputs) expected.push_back(gpt2().encode(s));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++)
    threads.emplace_back([&, t] {
      for (size_t k = 0; k < inputs.size(); k++) {
        size_t i = (k + t * 61) % inputs.size();  // threads walk the inputs out of step
        if (gpt2().encode(inputs[i]) != expected[i]) mismatches++;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Tokenizer, SingleTokensAndSpecials) {
  const Tokenizer& t = gpt2();
  EXPECT_EQ(t.vocab_size(), 50257);
  EXPECT_EQ(t.eos_id(), 50256);
  EXPECT_EQ(t.bos_id(), 50256);
  int mary = t.single_token(" Mary");
  ASSERT_GE(mary, 0);
  EXPECT_EQ(t.token_text(mary), " Mary");
  EXPECT_EQ(t.single_token(" Marybeth"), -1);
  EXPECT_EQ(t.single_token(""), -1);
  EXPECT_EQ(t.single_token("<|endoftext|>"), 50256);
  EXPECT_EQ(t.encode("a<|endoftext|>b"), (std::vector<int>{64, 50256, 65}));
  EXPECT_EQ(t.token_text(50256), "<|endoftext|>");
  // Two-digit year tokens "00".."99" (greater-than task), ids from docs/tasks.md.
  const int two_digit[100] = {
      405, 486, 2999, 3070, 3023, 2713, 3312, 2998, 2919, 2931, 940, 1157, 1065, 1485, 1415,
      1314, 1433, 1558, 1507, 1129, 1238, 2481, 1828, 1954, 1731, 1495, 2075, 1983, 2078, 1959,
      1270, 3132, 2624, 2091, 2682, 2327, 2623, 2718, 2548, 2670, 1821, 3901, 3682, 3559, 2598,
      2231, 3510, 2857, 2780, 2920, 1120, 4349, 4309, 4310, 4051, 2816, 3980, 3553, 3365, 3270,
      1899, 5333, 5237, 5066, 2414, 2996, 2791, 3134, 3104, 3388, 2154, 4869, 4761, 4790, 4524,
      2425, 4304, 3324, 3695, 3720, 1795, 6659, 6469, 5999, 5705, 5332, 4521, 5774, 3459, 4531,
      3829, 6420, 5892, 6052, 5824, 3865, 4846, 5607, 4089, 2079};
  for (int n = 0; n < 100; n++) {
    char s[3] = {char('0' + n / 10), char('0' + n % 10), 0};
    EXPECT_EQ(t.single_token(s), two_digit[n]) << s;
  }
}

TEST(Tokenizer, ErrorsNameTheFile) {
  TempDir tmp("errors");
  std::string merges = kDir + "/merges.txt", vocab = kDir + "/vocab.json";
  std::string missing = (tmp.path / "nope.json").string();
  expect_error_naming([&] { Tokenizer::from_gpt2_files(missing, merges); }, missing);
  std::string bad_json = tmp.write("bad_vocab.json", "{\"a\": 0, \"b\": ");
  expect_error_naming([&] { Tokenizer::from_gpt2_files(bad_json, merges); }, bad_json);
  std::string not_ids = tmp.write("str_vocab.json", "{\"a\": \"zero\"}");
  expect_error_naming([&] { Tokenizer::from_gpt2_files(not_ids, merges); }, not_ids);
  std::string bad_merges = tmp.write("bad_merges.txt", "#version: 0.2\n\xC4\xA0 t\nthree parts here\n");
  expect_error_naming([&] { Tokenizer::from_gpt2_files(vocab, bad_merges); }, bad_merges + ":3");
  std::string unknown = tmp.write("unknown_merges.txt", "#version: 0.2\nfoo\xE2\x82\xAC bar\n");
  expect_error_naming([&] { Tokenizer::from_gpt2_files(vocab, unknown); }, unknown + ":2");
  expect_error_naming([&] { gpt2().decode({15496, 50257}); }, "50257");
  expect_error_naming([&] { gpt2().token_text(-1); }, "-1");
  std::string no_dir = (tmp.path / "no_such_model").string();
  expect_error_naming([&] { Tokenizer::for_model_dir(no_dir); }, no_dir);
  TempDir half("half");
  half.write("vocab.json", "{}");
  expect_error_naming([&] { Tokenizer::for_model_dir(half.path.string()); }, half.path.string());
}

// --- tokenizer.json -------------------------------------------------------------------

// GPT-2's byte -> printable code point table, written out independently of the library.
static std::string byte_token(int b) {
  std::vector<int> printable;
  for (int c = '!'; c <= '~'; c++) printable.push_back(c);
  for (int c = 0xA1; c <= 0xAC; c++) printable.push_back(c);
  for (int c = 0xAE; c <= 0xFF; c++) printable.push_back(c);
  int cp = b, extra = 0;
  if (std::find(printable.begin(), printable.end(), b) == printable.end()) {
    for (int c = 0; c < b; c++)
      if (std::find(printable.begin(), printable.end(), c) == printable.end()) extra++;
    cp = 256 + extra;
  }
  std::string s;
  append_utf8(s, uint32_t(cp));
  return s;
}

// Byte tokens are ids 0..255; merges make he(256) ll(257) hell(258) hello(259) Ġw(260)
// or(261) Ġwor(262) 12(263); added tokens <|endoftext|>(264) and <sep>(265, not in vocab).
static json tiny_tokenizer(const json& pre_tokenizer) {
  json vocab = json::object();
  for (int b = 0; b < 256; b++) vocab[byte_token(b)] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"\xC4\xA0", "w"}, {"o", "r"}, {"\xC4\xA0w", "or"}, {"1", "2"}};
  json merge_list = json::array();
  int id = 256;
  for (const auto& [a, b] : merges) {
    vocab[a + b] = id++;
    merge_list.push_back(a + " " + b);
  }
  vocab["<|endoftext|>"] = 264;
  return {
      {"version", "1.0"},
      {"added_tokens", {{{"id", 264}, {"content", "<|endoftext|>"}, {"special", true}},
                        {{"id", 265}, {"content", "<sep>"}, {"special", true}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", pre_tokenizer},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}},
  };
}

TEST(Tokenizer, FromTokenizerJson) {
  TempDir tmp("json");
  json pre = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  std::string path = tmp.write("tokenizer.json", tiny_tokenizer(pre).dump());
  Tokenizer t = Tokenizer::from_tokenizer_json(path);
  EXPECT_EQ(t.vocab_size(), 266);
  EXPECT_EQ(t.eos_id(), 264);
  std::string text = "hello world<sep>hello<|endoftext|> 12";
  // Byte tokens have the byte's value as id, so 'l' is 108 and ' ' ("Ġ") is 32.
  std::vector<int> expect = {259, 262, 'l', 'd', 265, 259, 264, ' ', 263};
  EXPECT_EQ(t.encode(text), expect);
  EXPECT_EQ(t.decode(t.encode(text)), text);
  EXPECT_EQ(t.token_text(262), " wor");
  EXPECT_EQ(t.single_token("hello"), 259);

  // The same directory as a model dir picks up tokenizer.json.
  EXPECT_EQ(Tokenizer::for_model_dir(tmp.path.string()).vocab_size(), 266);
}

TEST(Tokenizer, FromTokenizerJsonWithSplitRegex) {
  // Llama 3 layout: Split(regex) then ByteLevel without its own regex. Splitting every
  // digit apart means the "1 2" merge can never apply.
  TempDir tmp("split");
  json pre = {{"type", "Sequence"},
              {"pretokenizers",
               {{{"type", "Split"}, {"pattern", {{"Regex", "\\p{N}| ?\\p{L}+|\\s+|[^\\s\\p{L}\\p{N}]+"}}},
                 {"behavior", "Isolated"}, {"invert", false}},
                {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  Tokenizer t = Tokenizer::from_tokenizer_json(tmp.write("tokenizer.json", tiny_tokenizer(pre).dump()));
  EXPECT_EQ(t.encode("hello 12"), (std::vector<int>{259, ' ', '1', '2'}));
  EXPECT_EQ(t.encode(" world"), (std::vector<int>{262, 'l', 'd'}));
  EXPECT_EQ(t.encode(" xyz"), (std::vector<int>{' ', 'x', 'y', 'z'}));

  // ignore_merges (Llama 3): a piece that is itself in the vocab is one token, even when
  // no chain of merges reaches it.
  json j = tiny_tokenizer(pre);
  j["model"]["vocab"]["\xC4\xA0xyz"] = 266;
  j["model"]["ignore_merges"] = true;
  Tokenizer im = Tokenizer::from_tokenizer_json(tmp.write("ignore_merges.json", j.dump()));
  EXPECT_EQ(im.encode(" xyz"), (std::vector<int>{266}));
  EXPECT_EQ(im.encode("hello xy"), (std::vector<int>{259, ' ', 'x', 'y'}));

  json bad = tiny_tokenizer({{"type", "Whitespace"}});
  std::string bad_path = tmp.write("bad.json", bad.dump());
  expect_error_naming([&] { Tokenizer::from_tokenizer_json(bad_path); }, bad_path);
}

TEST(Tokenizer, TwoRegexStagesKeepTheirOwnMatches) {
  // Digits, then ByteLevel with its own regex: each piece of the first stage is split again by
  // the second. The second stage must not disturb the first's place in the text: it once reused
  // the first's match data, so a gap before a match ("hello " before "1") sent the first stage
  // back in the text and encode never returned (found by fuzz/tokenizer_json_fuzz).
  TempDir tmp("stages");
  json pre = {{"type", "Sequence"},
              {"pretokenizers",
               {{{"type", "Digits"}, {"individual_digits", true}},
                {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}}}};
  Tokenizer t = Tokenizer::from_tokenizer_json(tmp.write("tokenizer.json", tiny_tokenizer(pre).dump()));
  EXPECT_EQ(t.encode("hello 12"), (std::vector<int>{259, ' ', '1', '2'}));
  for (const std::string text : {"hello 12", "a1b2 c3", "2024 hello 1999"}) EXPECT_EQ(t.decode(t.encode(text)), text);
  json three = {{"type", "Sequence"},
                {"pretokenizers",
                 {{{"type", "Split"}, {"pattern", {{"Regex", "\\p{N}{1,3}"}}}, {"behavior", "Isolated"}},
                  {{"type", "Digits"}, {"individual_digits", true}},
                  {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  Tokenizer t3 = Tokenizer::from_tokenizer_json(tmp.write("three.json", tiny_tokenizer(three).dump()));
  EXPECT_EQ(t3.encode("hello 2024"), (std::vector<int>{259, ' ', '2', '0', '2', '4'}));
}

TEST(Tokenizer, ForModelDirFallsBackToBundledGpt2) {
  Tokenizer t = Tokenizer::for_model_dir(CS_TEST_DATA "/gpt2-tiny");
  EXPECT_EQ(t.vocab_size(), 50257);
  EXPECT_EQ(t.encode("Hello world"), (std::vector<int>{15496, 995}));
}

// ---- SentencePiece (tokenizer.model) through libsentencepiece ----------------------------------

static const std::string kSpm = CS_TEST_DATA "/sentencepiece";

TEST(SentencePiece, MatchesSpmEncodeAndRoundTrips) {
  const Tokenizer t = Tokenizer::from_sentencepiece(kSpm + "/tokenizer.model");
  EXPECT_EQ(t.vocab_size(), 600);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  std::ifstream f(kSpm + "/reference.json");
  const json cases = json::parse(f)["cases"];
  ASSERT_EQ(cases.size(), 4u);
  for (const auto& c : cases) {
    const std::string text = c["text"];
    EXPECT_EQ(t.encode(text), c["ids"].get<std::vector<int>>()) << text;
    EXPECT_EQ(t.decode(t.encode(text)), text);
  }
}

TEST(SentencePiece, TokenTextAndSingleTokensUseSpaces) {
  const Tokenizer t = Tokenizer::from_sentencepiece(kSpm + "/tokenizer.model");
  const std::vector<int> ids = t.encode("When Mary and John went");
  ASSERT_EQ(ids.size(), 5u);
  EXPECT_EQ(t.token_text(ids[1]), " Mary");           // "\u2581Mary"
  EXPECT_EQ(t.single_token(" Mary"), ids[1]);          // a task's answer lookup
  EXPECT_EQ(t.single_token(" Mary and"), -1);          // two pieces
  EXPECT_EQ(t.single_token(" Zyx"), -1);               // no such piece
  EXPECT_EQ(t.single_token("</s>"), -1);               // control pieces are not text
  const std::vector<int> bytes = t.encode("\xC3\xAF");  // byte fallback: <0xC3> <0xAF> after "\u2581"
  ASSERT_EQ(bytes.size(), 3u);
  EXPECT_EQ(t.token_text(bytes[1]), "\xC3");
  EXPECT_THROW(t.decode({600}), cs::Error);
}

TEST(SentencePiece, ModelDirPrefersTokenizerModelAndBadFilesSayWhatIsWrong) {
  TempDir tmp("spm");
  fs::copy_file(kSpm + "/tokenizer.model", tmp.path / "tokenizer.model");
  fs::copy_file(kDir + "/vocab.json", tmp.path / "vocab.json");  // would be GPT-2's otherwise
  fs::copy_file(kDir + "/merges.txt", tmp.path / "merges.txt");
  EXPECT_EQ(Tokenizer::for_model_dir(tmp.path.string()).vocab_size(), 600);
  { std::ofstream(tmp.path / "tokenizer.model", std::ios::trunc) << "not a model"; }
  try {
    Tokenizer::for_model_dir(tmp.path.string());
    FAIL() << "a corrupt tokenizer.model must be refused";
  } catch (const cs::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tokenizer.model: not a readable SentencePiece model"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  // A model with an empty piece: libsentencepiece's trie builder throws its own exception type,
  // which reached the user as "./third_party/darts_clone/darts.h:1143: ..." with no file named
  // (found by fuzz/sentencepiece_fuzz).
  fs::copy_file(kSpm + "/bad_empty_piece.model", tmp.path / "tokenizer.model", fs::copy_options::overwrite_existing);
  try {
    Tokenizer::for_model_dir(tmp.path.string());
    FAIL() << "a model with an empty piece must be refused";
  } catch (const cs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.model: not a readable SentencePiece model"), std::string::npos) << e.what();
  }
}

// Llama 3 and Qwen2.5 tokenizer.json layouts (their published split regexes, ignore_merges,
// specials at their real ids, Llama 3's BOS template), with ids derived independently by
// tests/data/tokenizers/make_tokenizer_fixtures.py from the documented algorithm.
static void expect_reference_ids(const std::string& dir) {
  std::ifstream in(dir + "/reference.json");
  ASSERT_TRUE(in) << dir << "/reference.json is missing";
  const json ref = json::parse(in);
  const Tokenizer t = Tokenizer::for_model_dir(dir);
  EXPECT_EQ(t.adds_bos(), ref["adds_bos"].get<bool>()) << dir;
  if (t.adds_bos()) {
    EXPECT_EQ(t.bos_id(), ref["bos_id"].get<int>()) << dir;
  }
  ASSERT_GE(ref["cases"].size(), 10u);
  for (const json& c : ref["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(t.encode_for_model(text), c["ids"].get<std::vector<int>>()) << dir << ": \"" << text << "\"";
    std::vector<int> ids = t.encode(text);
    EXPECT_EQ(t.decode(ids), text) << dir;
  }
}

TEST(Tokenizer, Llama3TokenizerJsonMatchesIndependentIds) {
  expect_reference_ids(CS_TEST_DATA "/tokenizers/llama3");
}

TEST(Tokenizer, Qwen25TokenizerJsonMatchesIndependentIds) {
  expect_reference_ids(CS_TEST_DATA "/tokenizers/qwen2.5");
}

TEST(Tokenizer, AddBosTokenInTokenizerConfigOverridesTheTemplate) {
  TempDir tmp("addbos");
  std::ifstream src(CS_TEST_DATA "/tokenizers/llama3/tokenizer.json");
  std::stringstream ss;
  ss << src.rdbuf();
  tmp.write("tokenizer.json", ss.str());
  tmp.write("tokenizer_config.json", R"({"add_bos_token": false, "bos_token": "<|begin_of_text|>"})");
  const Tokenizer off = Tokenizer::for_model_dir(tmp.path.string());
  EXPECT_FALSE(off.adds_bos());
  EXPECT_EQ(off.bos_id(), 128000);
  EXPECT_EQ(off.encode_for_model("Hello"), off.encode("Hello"));
}
