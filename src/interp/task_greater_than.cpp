// Greater-than, Hanna et al. 2023 "How does GPT-2 compute greater-than?". docs/tasks.md, section 2.
//
//   clean    "The {noun} lasted from the year {XX}{YY} to the year {XX}"
//   corrupt  the same with YY = 01 (the paper's "01" baseline); negative = corrupt
//   metric   prob diff: sum p(ZZ > YY) - sum p(ZZ <= YY) over the 100 tokens "00".."99"
// answer is the token "YY+1" (the smallest correct year) and wrong the token "YY" (the largest
// incorrect one), so accuracy/logit-diff metrics have something to use; the task's own
// metric reads year_tokens and threshold instead.
#include <cstdio>

#include "interp/task.h"
#include "ops/error.h"

namespace cs {
namespace {

constexpr const char* kNouns[] = {
    "abduction", "accord", "affair", "agreement", "appraisal", "assaults", "assessment",
    "attack", "attempts", "campaign", "captivity", "case", "challenge", "chaos", "clash",
    "collaboration", "coma", "competition", "confrontation", "consequence", "conspiracy",
    "construction", "consultation", "contact", "contract", "convention", "cooperation",
    "custody", "deal", "decline", "decrease", "demonstrations", "development", "disagreement",
    "disorder", "dispute", "domination", "dynasty", "effect", "effort", "employment",
    "endeavor", "engagement", "epidemic", "evaluation", "exchange", "existence", "expansion",
    "expedition", "experiments", "fall", "fame", "flights", "friendship", "growth", "hardship",
    "hostility", "illness", "impact", "imprisonment", "improvement", "incarceration",
    "increase", "insurgency", "invasion", "investigation", "journey", "kingdom", "marriage",
    "modernization", "negotiation", "notoriety", "obstruction", "operation", "order",
    "outbreak", "outcome", "overhaul", "patrols", "pilgrimage", "plague", "plan", "practice",
    "process", "program", "progress", "project", "pursuit", "quest", "raids", "reforms",
    "reign", "relationship", "retaliation", "riot", "rise", "rivalry", "romance", "rule",
    "sanctions", "shift", "siege", "slump", "stature", "stint", "strikes", "study", "test",
    "testing", "tests", "therapy", "tour", "tradition", "treaty", "trial", "trip",
    "unemployment", "voyage", "warfare", "work",
};

std::string two_digits(int v) {
  char buf[4];
  std::snprintf(buf, sizeof buf, "%02d", v);
  return buf;
}

const char* kTemplate = "The {noun} lasted from the year {XX}{YY} to the year {XX}";

}  // namespace

std::vector<std::string> greater_than_nouns(const Tokenizer& tok) {
  std::vector<std::string> out;
  for (const char* n : kNouns)
    if (tok.single_token(std::string(" ") + n) >= 0) out.push_back(n);
  return out;
}

std::vector<int> greater_than_year_tokens(const Tokenizer& tok) {
  std::vector<int> ids;
  for (int v = 0; v < 100; ++v) {
    const int id = tok.single_token(two_digits(v));
    if (id < 0)
      throw Error("task greater-than: \"" + two_digits(v) +
                  "\" is not one token under this tokenizer; the task needs all of 00..99");
    ids.push_back(id);
  }
  return ids;
}

std::vector<std::pair<int, int>> greater_than_years(const Tokenizer& tok) {
  std::vector<std::pair<int, int>> out;
  for (int xx = 11; xx <= 17; ++xx) {
    const std::string sxx = std::string(" ") += std::to_string(xx);  // " XX"
    const int xx_id = tok.single_token(sxx);
    if (xx_id < 0) continue;
    std::vector<std::pair<int, int>> century;
    for (int yy = 2; yy <= 98; ++yy) {
      const int yy_id = tok.single_token(two_digits(yy));
      const std::vector<int> ids = tok.encode(sxx + two_digits(yy));
      if (yy_id >= 0 && ids == std::vector<int>{xx_id, yy_id}) century.emplace_back(xx, yy);
    }
    // Hanna et al. drop the first and last valid year of each century.
    for (size_t i = 1; i + 1 < century.size(); ++i) out.push_back(century[i]);
  }
  return out;
}

TokenizedTask greater_than_task(const Tokenizer& tok, const TaskOptions& opts) {
  task_detail::check_n("greater-than", opts);
  const std::vector<std::string> nouns = greater_than_nouns(tok);
  const std::vector<std::pair<int, int>> years = greater_than_years(tok);
  if (nouns.empty()) throw Error("task greater-than: no noun of the list is one token (\" noun\")");
  if (years.empty())
    throw Error("task greater-than: no year 1102..1798 tokenizes as [\" XX\", \"YY\"] under this tokenizer");

  TokenizedTask t = task_detail::begin_task("greater-than", MetricKind::ProbDiff, tok, opts);
  t.year_tokens = greater_than_year_tokens(tok);
  SplitMix64 rng(opts.seed, 0x67747468ull);
  long attempts = 0;
  const long max_attempts = 100L * opts.n + 1000;
  while (static_cast<int>(t.size()) < opts.n) {
    task_detail::check_attempts("greater-than", ++attempts, max_attempts, static_cast<int>(t.size()), opts.n);
    const std::string& noun = rng.pick(nouns);
    const auto [xx, yy] = rng.pick(years);
    const std::string xs = std::to_string(xx);
    const task_detail::Rendered clean =
        task_detail::render(kTemplate, {{"noun", noun}, {"XX", xs}, {"YY", two_digits(yy)}});
    const task_detail::Rendered corrupt =
        task_detail::render(kTemplate, {{"noun", noun}, {"XX", xs}, {"YY", "01"}});
    std::vector<int> clean_ids = tok.encode(clean.text);
    std::vector<int> corrupt_ids = tok.encode(corrupt.text);
    // Patching compares positions: " XX01" must split like " XXYY" (same token length).
    if (corrupt_ids.size() != clean_ids.size()) continue;
    const int xx_id = tok.single_token(" " + xs);
    const int pos_noun = task_detail::slot_position(tok, clean, clean_ids, "noun", 0,
                                                    tok.single_token(" " + noun));
    const int pos_xx = task_detail::slot_position(tok, clean, clean_ids, "XX", 0, xx_id);
    const int pos_yy = task_detail::slot_position(tok, clean, clean_ids, "YY", 0,
                                                  t.year_tokens[static_cast<size_t>(yy)], false);
    if (pos_noun < 0 || pos_xx < 0 || pos_yy < 0 || clean_ids.back() != xx_id) continue;
    TaskPrompt p;
    p.clean = clean.text;
    p.corrupt = corrupt.text;
    p.negative = corrupt.text;
    p.answer = two_digits(yy + 1);
    p.wrong = {two_digits(yy)};
    p.fields = {{"noun", noun}, {"XX", xs}, {"YY", two_digits(yy)}};
    std::vector<int> negative_ids = corrupt_ids;
    task_detail::add_prompt(t, tok, opts, std::move(p), std::move(clean_ids), std::move(corrupt_ids),
                            std::move(negative_ids), t.year_tokens[static_cast<size_t>(yy + 1)],
                            {t.year_tokens[static_cast<size_t>(yy)]},
                            {{"noun", pos_noun}, {"XX", pos_xx}, {"YY", pos_yy}});
    t.threshold.push_back(yy);
  }
  return t;
}

std::vector<TaskPrompt> greater_than_prompts(const Tokenizer& tok, const TaskOptions& opts) {
  return greater_than_task(tok, opts).prompts;
}

}  // namespace cs
