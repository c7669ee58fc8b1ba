// Task generators under the GPT-2 tokenizer: determinism per seed, one-token answers, the
// shape of positive / corrupt / negative prompts, named positions, the "00".."99" ids of
// docs/tasks.md, and JSONL error messages.
#include "interp/task.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "ops/error.h"

namespace fs = std::filesystem;
using cs::MetricKind;
using cs::TaskOptions;
using cs::TokenizedTask;
using cs::Tokenizer;

static const Tokenizer& gpt2() {
  static const std::string dir = CS_SOURCE_DIR "/data/gpt2-tokenizer";
  static const Tokenizer t = Tokenizer::from_gpt2_files(dir + "/vocab.json", dir + "/merges.txt");
  return t;
}

static TaskOptions opts(int n, uint64_t seed, bool bos = false) {
  TaskOptions o;
  o.n = n;
  o.seed = seed;
  o.prepend_bos = bos;
  return o;
}

template <typename Fn>
static void expect_error_naming(Fn&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected cs::Error mentioning " << needle;
  } catch (const cs::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Checks shared by every builtin task: sizes agree, answers are one token and match their
// text, corrupt/negative prompts have the clean token length, positions are in range.
static void check_common(const TokenizedTask& t, int n, bool bos) {
  const Tokenizer& tok = gpt2();
  ASSERT_EQ(t.size(), static_cast<size_t>(n));
  ASSERT_EQ(t.prompts.size(), t.size());
  ASSERT_EQ(t.answer.size(), t.size());
  ASSERT_EQ(t.wrong.size(), t.size());
  ASSERT_EQ(t.corrupt.size(), t.size());
  ASSERT_EQ(t.negative.size(), t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    const auto& p = t.prompts[i];
    EXPECT_EQ(tok.single_token(p.answer), t.answer[i]) << t.name << " answer " << p.answer;
    ASSERT_EQ(p.wrong.size(), t.wrong[i].size());
    ASSERT_FALSE(p.wrong.empty());
    for (size_t j = 0; j < p.wrong.size(); ++j) {
      EXPECT_EQ(tok.single_token(p.wrong[j]), t.wrong[i][j]) << t.name << " wrong " << p.wrong[j];
      EXPECT_NE(t.wrong[i][j], t.answer[i]);
    }
    EXPECT_EQ(t.corrupt[i].size(), t.clean[i].size()) << p.clean << " | " << p.corrupt;
    EXPECT_EQ(t.negative[i].size(), t.clean[i].size()) << p.clean << " | " << p.negative;
    std::vector<int> expect = tok.encode(p.clean);
    if (bos) expect.insert(expect.begin(), tok.bos_id());
    EXPECT_EQ(t.clean[i], expect);
    EXPECT_EQ(t.clean[i].front() == tok.bos_id(), bos);
    for (const auto& [name, pos] : t.positions) {
      ASSERT_EQ(pos.size(), t.size()) << name;
      EXPECT_GE(pos[i], bos ? 1 : 0) << name;
      EXPECT_LT(pos[i], static_cast<int>(t.clean[i].size())) << name;
    }
    EXPECT_EQ(t.positions.at("end")[i], static_cast<int>(t.clean[i].size()) - 1);
  }
}

TEST(Tasks, BuiltinsAreDeterministicPerSeed) {
  for (const auto& name : cs::builtin_task_names()) {
    const TokenizedTask a = cs::make_task(name, gpt2(), opts(40, 7));
    const TokenizedTask b = cs::make_task(name, gpt2(), opts(40, 7));
    const TokenizedTask c = cs::make_task(name, gpt2(), opts(40, 8));
    EXPECT_EQ(a.name, name);
    EXPECT_EQ(a.clean, b.clean) << name;
    EXPECT_EQ(a.corrupt, b.corrupt) << name;
    EXPECT_EQ(a.negative, b.negative) << name;
    EXPECT_EQ(a.answer, b.answer) << name;
    EXPECT_NE(a.clean, c.clean) << name;
    // A longer run starts with the same prompts: n only decides where the stream stops.
    const TokenizedTask longer = cs::make_task(name, gpt2(), opts(60, 7));
    EXPECT_TRUE(std::equal(a.clean.begin(), a.clean.end(), longer.clean.begin())) << name;
  }
}

TEST(Tasks, BuiltinsPassCommonChecks) {
  for (bool bos : {false, true})
    for (const auto& name : cs::builtin_task_names()) {
      SCOPED_TRACE(name + (bos ? " +bos" : ""));
      check_common(cs::make_task(name, gpt2(), opts(100, 3, bos)), 100, bos);
    }
}

TEST(Tasks, BosShiftsPositionsByOne) {
  const TokenizedTask a = cs::ioi_task(gpt2(), opts(20, 1, false));
  const TokenizedTask b = cs::ioi_task(gpt2(), opts(20, 1, true));
  for (const auto& [name, pos] : a.positions)
    for (size_t i = 0; i < pos.size(); ++i) EXPECT_EQ(b.positions.at(name)[i], pos[i] + 1) << name;
}

TEST(Ioi, NamesSurviveTheTokenizer) {
  const auto names = cs::ioi_names(gpt2());
  std::cout << "[ info ] IOI names that are one token under GPT-2: " << names.size() << " of 99\n";
  EXPECT_GE(names.size(), 90u);
  EXPECT_LE(names.size(), 99u);
}

// Counts how often each IOI name token occurs in ids.
static std::map<int, int> name_counts(const std::vector<int>& ids) {
  static const std::set<int> name_ids = [] {
    std::set<int> s;
    for (const auto& n : cs::ioi_names(gpt2())) s.insert(gpt2().single_token(" " + n));
    return s;
  }();
  std::map<int, int> c;
  for (int id : ids)
    if (name_ids.count(id)) ++c[id];
  return c;
}

TEST(Ioi, PositivesRepeatTheSubjectNegativesRepeatNothing) {
  const TokenizedTask t = cs::ioi_task(gpt2(), opts(250, 0));
  std::set<std::string> templates;
  for (size_t i = 0; i < t.size(); ++i) {
    const auto& p = t.prompts[i];
    templates.insert(p.fields.at("order") + p.fields.at("template"));
    const auto clean = name_counts(t.clean[i]);
    ASSERT_EQ(clean.size(), 2u) << p.clean;
    EXPECT_EQ(clean.at(t.answer[i]), 1) << p.clean;
    EXPECT_EQ(clean.at(t.wrong[i][0]), 2) << p.clean;
    for (const auto* v : {&t.negative[i], &t.corrupt[i]}) {
      const auto c = name_counts(*v);
      EXPECT_EQ(c.size(), 3u) << p.negative << " | " << p.corrupt;
      for (const auto& [id, k] : c) EXPECT_EQ(k, 1) << p.negative << " | " << p.corrupt;
    }
    EXPECT_EQ(t.clean[i][t.positions.at("IO")[i]], t.answer[i]);
    EXPECT_EQ(t.clean[i][t.positions.at("S1")[i]], t.wrong[i][0]);
    EXPECT_EQ(t.clean[i][t.positions.at("S2")[i]], t.wrong[i][0]);
    EXPECT_LT(t.positions.at("S1")[i], t.positions.at("S2")[i]);
    EXPECT_EQ(p.answer, " " + p.fields.at("IO"));
    EXPECT_EQ(p.clean.find(p.answer + ","), std::string::npos);  // the prompt stops before IO
  }
  EXPECT_EQ(t.metric, MetricKind::LogitDiff);
  EXPECT_GE(templates.size(), 28u);  // 30 templates, 250 draws
  EXPECT_EQ(t.prompts[0].clean.substr(t.prompts[0].clean.size() - 3), " to");
}

TEST(Ioi, AcdcVariantIsTemplateOneAbba) {
  TaskOptions o = opts(30, 0);
  o.variant = "acdc";
  const TokenizedTask t = cs::ioi_task(gpt2(), o);
  for (const auto& p : t.prompts) {
    EXPECT_EQ(p.fields.at("template"), "1");
    EXPECT_EQ(p.fields.at("order"), "ABBA");
    EXPECT_EQ(p.clean, "Then, " + p.fields.at("IO") + " and " + p.fields.at("S") + " went to the " +
                           p.fields.at("PLACE") + ". " + p.fields.at("S") + " gave a " +
                           p.fields.at("OBJECT") + " to");
    EXPECT_EQ(p.corrupt, "Then, " + p.fields.at("X") + " and " + p.fields.at("Z") + " went to the " +
                             p.fields.at("PLACE") + ". " + p.fields.at("Y") + " gave a " +
                             p.fields.at("OBJECT") + " to");
  }
  o.variant = "bogus";
  expect_error_naming([&] { cs::ioi_task(gpt2(), o); }, "acdc");
}

// GPT-2 ids of "00".."99", copied from docs/tasks.md.
static const std::vector<int> kYearIds = {
    405,  486,  2999, 3070, 3023, 2713, 3312, 2998, 2919, 2931, 940,  1157, 1065, 1485, 1415,
    1314, 1433, 1558, 1507, 1129, 1238, 2481, 1828, 1954, 1731, 1495, 2075, 1983, 2078, 1959,
    1270, 3132, 2624, 2091, 2682, 2327, 2623, 2718, 2548, 2670, 1821, 3901, 3682, 3559, 2598,
    2231, 3510, 2857, 2780, 2920, 1120, 4349, 4309, 4310, 4051, 2816, 3980, 3553, 3365, 3270,
    1899, 5333, 5237, 5066, 2414, 2996, 2791, 3134, 3104, 3388, 2154, 4869, 4761, 4790, 4524,
    2425, 4304, 3324, 3695, 3720, 1795, 6659, 6469, 5999, 5705, 5332, 4521, 5774, 3459, 4531,
    3829, 6420, 5892, 6052, 5824, 3865, 4846, 5607, 4089, 2079};

TEST(GreaterThan, YearTokensMatchTheSpec) {
  ASSERT_EQ(kYearIds.size(), 100u);
  EXPECT_EQ(cs::greater_than_year_tokens(gpt2()), kYearIds);
  EXPECT_EQ(cs::greater_than_task(gpt2(), opts(5, 0)).year_tokens, kYearIds);
}

TEST(GreaterThan, YearsAndNouns) {
  const auto years = cs::greater_than_years(gpt2());
  const auto nouns = cs::greater_than_nouns(gpt2());
  std::map<int, int> per_century;
  for (const auto& [xx, yy] : years) {
    EXPECT_GE(xx, 11);
    EXPECT_LE(xx, 17);
    EXPECT_GE(yy, 3);  // 02 is the first candidate; the first valid year is dropped
    EXPECT_LE(yy, 97);
    const std::string s = std::string(" ") += std::to_string(xx * 100 + yy);
    EXPECT_EQ(gpt2().encode(s).size(), 2u) << s;
    ++per_century[xx];
  }
  std::cout << "[ info ] greater-than: " << years.size() << " valid years (";
  for (const auto& [xx, k] : per_century) std::cout << xx << "xx:" << k << " ";
  std::cout << "), " << nouns.size() << " of 120 nouns one token\n";
  EXPECT_EQ(per_century.size(), 7u);
  EXPECT_GT(years.size(), 300u);
  EXPECT_GE(nouns.size(), 100u);
}

TEST(GreaterThan, NegativesUseYear01) {
  const TokenizedTask t = cs::greater_than_task(gpt2(), opts(200, 0));
  EXPECT_EQ(t.metric, MetricKind::ProbDiff);
  ASSERT_EQ(t.threshold.size(), t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    const auto& p = t.prompts[i];
    const std::string xx = p.fields.at("XX"), yy = p.fields.at("YY");
    EXPECT_EQ(p.clean, "The " + p.fields.at("noun") + " lasted from the year " + xx + yy +
                           " to the year " + xx);
    EXPECT_EQ(p.negative, "The " + p.fields.at("noun") + " lasted from the year " + xx + "01" +
                              " to the year " + xx);
    EXPECT_EQ(p.corrupt, p.negative);
    EXPECT_EQ(std::stoi(yy), t.threshold[i]);
    EXPECT_EQ(t.clean[i][t.positions.at("YY")[i]], kYearIds[t.threshold[i]]);
    EXPECT_EQ(t.negative[i][t.positions.at("YY")[i]], kYearIds[1]);
    EXPECT_EQ(t.answer[i], kYearIds[t.threshold[i] + 1]);
    EXPECT_EQ(t.clean[i][t.positions.at("XX")[i]], t.clean[i].back());
    EXPECT_EQ(t.clean[i].size(), t.clean[0].size());
  }
}

TEST(Docstring, TokenLengthsMatch) {
  const auto names = cs::docstring_names(gpt2());
  const auto words = cs::docstring_words(gpt2());
  std::cout << "[ info ] docstring: " << names.size() << " of 111 variable names, " << words.size()
            << " of 687 description words one token under GPT-2\n";
  EXPECT_GE(names.size(), 15u);
  const TokenizedTask t = cs::docstring_task(gpt2(), opts(150, 0, true));
  std::cout << "[ info ] docstring prompt: " << t.clean[0].size() << " tokens with BOS (GPT-2)\n";
  EXPECT_EQ(t.metric, MetricKind::LogitDiff);
  for (size_t i = 0; i < t.size(); ++i) {
    const auto& p = t.prompts[i];
    EXPECT_EQ(t.clean[i].size(), t.clean[0].size()) << p.clean;
    EXPECT_EQ(t.corrupt[i].size(), t.clean[i].size()) << p.corrupt;
    EXPECT_EQ(p.negative, p.corrupt);
    EXPECT_EQ(p.wrong.size(), 13u);
    EXPECT_EQ(t.clean[i][t.positions.at("C")[i]], t.answer[i]);
    EXPECT_EQ(t.clean[i][t.positions.at("A")[i]], t.clean[i][t.positions.at("docA")[i]]);
    EXPECT_EQ(t.clean[i][t.positions.at("B")[i]], t.clean[i][t.positions.at("docB")[i]]);
    EXPECT_LT(t.positions.at("C")[i], t.positions.at("docA")[i]);
    // random_random: every argument name in the def and the docstring differs from clean,
    // p1, p2, s1 and the descriptions do not.
    for (const char* slot : {"A", "B", "C", "docA", "docB"})
      EXPECT_NE(t.corrupt[i][t.positions.at(slot)[i]], t.clean[i][t.positions.at(slot)[i]]) << slot;
    size_t diffs = 0;
    for (size_t j = 0; j < t.clean[i].size(); ++j) diffs += t.clean[i][j] != t.corrupt[i][j];
    EXPECT_EQ(diffs, 5u);
    EXPECT_EQ(p.clean.rfind("    :param"), p.clean.size() - 10);
    EXPECT_EQ(p.clean.find("\ndef " + p.fields.at("met") + "(self, "), 0u);
  }
}

TEST(Induction, RepeatsAndNegatives) {
  TaskOptions o = opts(50, 0);
  o.induction_len = 12;
  const TokenizedTask t = cs::induction_task(gpt2(), o);
  EXPECT_EQ(t.metric, MetricKind::Accuracy);
  EXPECT_GT(cs::induction_token_pool(gpt2()).size(), 5000u);
  for (size_t i = 0; i < t.size(); ++i) {
    const auto& c = t.clean[i];
    ASSERT_EQ(c.size(), 24u);
    EXPECT_TRUE(std::equal(c.begin(), c.begin() + 12, c.begin() + 12));
    EXPECT_EQ(std::set<int>(c.begin(), c.end()).size(), 12u);
    EXPECT_EQ(std::set<int>(t.negative[i].begin(), t.negative[i].end()).size(), 24u);
    EXPECT_EQ(t.answer[i], c[t.positions.at("first")[i]]);
    EXPECT_EQ(t.positions.at("second")[i], 12);
  }
}

// A word file restricts the induction task to its words (a small trained model knows only its
// corpus's words); bad files name the file and line.
TEST(Induction, WordFileRestrictsThePool) {
  const fs::path dir = fs::temp_directory_path() / ("cs_words_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::vector<std::string> words = {"apple", "river", "lamp", "coin", "table", "garden", "window",
                                          "mountain", "paper", "silver", "orange", "bridge"};
  {
    std::ofstream f(dir / "w.txt");
    for (const auto& w : words) f << w << "\n\n";  // blank lines are skipped
  }
  TaskOptions o = opts(20, 1);
  o.induction_len = 5;
  o.induction_pool = cs::read_induction_words((dir / "w.txt").string(), gpt2());
  ASSERT_EQ(o.induction_pool.size(), words.size());
  std::set<int> allowed(o.induction_pool.begin(), o.induction_pool.end());
  for (const auto& w : words) EXPECT_TRUE(allowed.count(gpt2().single_token(" " + w))) << w;
  const TokenizedTask t = cs::induction_task(gpt2(), o);
  ASSERT_EQ(t.size(), 20u);
  for (size_t i = 0; i < t.size(); ++i) {
    for (int id : t.clean[i]) EXPECT_TRUE(allowed.count(id)) << id;
    for (int id : t.negative[i]) EXPECT_TRUE(allowed.count(id)) << id;
  }
  std::ofstream(dir / "multi.txt") << "apple\nextraordinarilyweird\n";
  try {
    cs::read_induction_words((dir / "multi.txt").string(), gpt2());
    ADD_FAILURE() << "a multi-token word was accepted";
  } catch (const cs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("multi.txt:2"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "dup.txt") << "apple\napple\n";
  EXPECT_THROW(cs::read_induction_words((dir / "dup.txt").string(), gpt2()), cs::Error);
  EXPECT_THROW(cs::read_induction_words((dir / "none.txt").string(), gpt2()), cs::Error);
  o.induction_len = 6;  // 13 distinct words needed, 12 given
  EXPECT_THROW(cs::induction_task(gpt2(), o), cs::Error);
  fs::remove_all(dir);
}

// A fresh directory under /tmp, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("cs_tasks_test_" + std::to_string(getpid()));
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

TEST(Jsonl, ReadsPromptsAndWarnsOnMultiTokenAnswers) {
  TempDir d;
  const std::string path = d.write(
      "tasks.jsonl",
      "{\"prompt\": \"When Mary and John went to the store, John gave a drink to\", \"answer\": \" Mary\", "
      "\"wrong\": \" John\", \"corrupt\": \"When Amy and Paul went to the store, Lisa gave a drink to\"}\n"
      "\n"
      "{\"prompt\": \"The capital of France is\", \"answer\": \" Paris, France\", \"wrong\": [\" Lyon\", \" Nice\"], "
      "\"corrupt\": \"The capital of Italy is\"}\r\n");
  const TokenizedTask t = cs::make_task(path, gpt2(), opts(250, 0));
  EXPECT_EQ(t.name, "tasks.jsonl");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t.metric, MetricKind::LogitDiff);
  EXPECT_EQ(t.answer[0], gpt2().single_token(" Mary"));
  EXPECT_EQ(t.answer[1], gpt2().single_token(" Paris"));
  EXPECT_EQ(t.wrong[1].size(), 2u);
  EXPECT_EQ(t.corrupt.size(), 2u);
  EXPECT_TRUE(t.negative.empty());
  ASSERT_EQ(t.warnings.size(), 2u);  // multi-token answer, mixed prompt lengths
  EXPECT_NE(t.warnings[0].find("tasks.jsonl:3: answer"), std::string::npos) << t.warnings[0];
  EXPECT_EQ(t.positions.at("end")[1], static_cast<int>(t.clean[1].size()) - 1);
}

TEST(Jsonl, ErrorsNameFileAndLine) {
  TempDir d;
  const std::string ok = "{\"prompt\": \"a b\", \"answer\": \" c\"}\n";
  auto bad = [&](const std::string& text, const std::string& needle) {
    const std::string path = d.write("tasks.jsonl", text);
    expect_error_naming([&] { cs::make_task(path, gpt2(), opts(10, 0)); }, needle);
  };
  bad(ok + "\n" + ok + ok + ok + ok + "{\"prompt\": \"x\"}\n", "tasks.jsonl:7: missing \"answer\"");
  bad(ok + "{\"prompt\": \"x\", \"answer\": 3}\n", "tasks.jsonl:2: \"answer\" must be a string");
  bad(ok + "{\"prompt\": \"x\", \n", "tasks.jsonl:2: not valid JSON");
  bad("[1, 2]\n", "tasks.jsonl:1: expected a JSON object");
  bad(ok + "{\"prompt\": \"x\", \"answer\": \" y\", \"wrong\": [1]}\n", "tasks.jsonl:2: \"wrong\"");
  bad(ok + "{\"prompt\": \"x\", \"answer\": \" y\", \"corrupt\": \"z\"}\n",
      "tasks.jsonl:2: \"corrupt\" given but line 1 has none");
  bad(ok + "{\"prompt\": \"x\", \"answr\": \" y\"}\n", "tasks.jsonl:2: unknown key \"answr\"");
  bad("\n\n", "no prompts");
  // A prompt longer than any context is refused before it is tokenized.
  bad(ok + "{\"prompt\": \"" + std::string(2 << 20, 'a') + "\", \"answer\": \" b\"}\n", "tasks.jsonl:2: \"prompt\" is 2048 KB");
  expect_error_naming([&] { cs::make_task((d.path / "missing.jsonl").string(), gpt2(), opts(10, 0)); },
                      "missing.jsonl: cannot open");
}

TEST(Tasks, UnknownNameListsBuiltins) {
  expect_error_naming([] { cs::make_task("iot", gpt2(), opts(10, 0)); },
                      "unknown task \"iot\": builtin tasks are ioi, greater-than, docstring, induction");
  TaskOptions o = opts(10, 0);
  o.variant = "acdc";
  expect_error_naming([&] { cs::make_task("docstring", gpt2(), o); }, "unknown variant");
  expect_error_naming([] { cs::make_task("ioi", gpt2(), opts(0, 0)); }, "number of prompts must be from 1");
  expect_error_naming([] { cs::make_task("ioi", gpt2(), opts(cs::kMaxTaskPrompts + 1, 0)); }, "number of prompts must be from 1");
}
