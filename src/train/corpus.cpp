#include "train/corpus.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "interp/task.h"
#include "ops/error.h"
#include "train/holdout.h"

namespace cs {
namespace {


// Filler lexicon: common concrete nouns and adjectives (none of them a task word list).
constexpr const char* kNouns[] = {
    "apple", "river", "window", "letter", "garden", "bridge", "candle", "mountain", "forest",
    "horse", "boat", "chair", "table", "bottle", "clock", "door", "field", "flower", "island",
    "kitchen", "lamp", "market", "mirror", "paper", "pencil", "picture", "pocket", "road",
    "rock", "roof", "shirt", "shoe", "song", "stone", "street", "sugar", "tree", "village",
    "wall", "water", "wheel", "winter", "summer", "morning", "evening", "dinner", "breakfast",
    "bread", "butter", "cheese", "coffee", "milk", "salt", "soup", "tea", "animal", "bird",
    "cat", "dog", "fish", "mouse", "sheep", "cow", "wolf", "bear", "lion", "tiger", "snake",
    "king", "queen", "doctor", "teacher", "farmer", "soldier", "captain", "driver", "painter",
    "writer", "singer", "student", "child", "friend", "neighbor", "brother", "sister", "mother",
    "father", "uncle", "cousin", "guitar", "piano", "camera", "phone", "ticket", "wallet",
    "jacket", "blanket", "pillow", "basket", "bucket", "hammer", "ladder", "rope", "knife",
    "spoon", "plate", "glass", "box", "bag", "card", "coin", "key", "map", "book", "story",
    "poem", "movie", "game", "ball", "kite", "train", "plane", "car", "truck", "bike", "ship",
    "castle", "tower", "church", "temple", "museum", "library", "park", "beach", "lake", "sea",
    "desert", "valley", "hill", "cloud", "rain", "snow", "wind", "storm", "sun", "moon", "star",
};
constexpr const char* kAdjectives[] = {
    "red", "blue", "green", "yellow", "black", "white", "small", "large", "old", "new", "young",
    "happy", "sad", "quiet", "loud", "bright", "dark", "warm", "cold", "soft", "hard", "heavy",
    "light", "fast", "slow", "strange", "simple", "famous", "beautiful", "empty", "full",
    "clean", "dirty", "tall", "short", "sweet", "bitter", "fresh", "broken", "golden", "wooden",
};
constexpr const char* kPlaces[] = {"store", "garden", "restaurant", "school", "hospital", "office",
                                   "house", "station", "park", "library", "beach", "market"};
constexpr const char* kObjects[] = {"ring", "kiss", "bone", "basketball", "computer", "necklace",
                                    "drink", "snack", "book", "letter", "ticket", "flower"};

std::vector<std::string> to_strings(const char* const* b, const char* const* e) {
  return std::vector<std::string>(b, e);
}

// Words whose " word" is a plain induction-pool token: 3..12 lowercase letters, one token.
bool plain_token(const Tokenizer& tok, const std::string& w, int* id) {
  if (w.size() < 3 || w.size() > 12) return false;
  if (!std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; })) return false;
  *id = tok.single_token(" " + w);
  return *id >= 0;
}

std::vector<std::string> lexicon_words(const Tokenizer& tok) {
  std::set<std::string> s;
  for (const char* w : kNouns) s.insert(w);
  for (const char* w : kAdjectives) s.insert(w);
  for (const char* w : kPlaces) s.insert(w);
  for (const char* w : kObjects) s.insert(w);
  for (const auto& w : greater_than_nouns(tok)) s.insert(w);
  for (const auto& w : docstring_words(tok)) s.insert(w);
  std::vector<std::string> out;
  for (const auto& w : s) {
    int id;
    if (plain_token(tok, w, &id)) out.push_back(w);
  }
  return out;
}

// Half the draws from the held-out list (so each held-out word is seen often), half from all.
struct Mixed {
  std::vector<std::string> all, held;
  const std::string& draw(SplitMix64& r) const {
    return (!held.empty() && r.below(2) == 0) ? r.pick(held) : r.pick(all);
  }
  // n distinct draws in draw order (a repeat is drawn again).
  std::vector<std::string> distinct(SplitMix64& r, int n) const {
    std::vector<std::string> out;
    while (static_cast<int>(out.size()) < n) {
      const std::string& w = draw(r);
      if (std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
    }
    return out;
  }
};


// Task prompts from a generator, keeping those that use train words only; asks for more
// prompts (new seed stream) until `need` are kept.
std::vector<TaskPrompt> train_prompts(
    const std::function<std::vector<TaskPrompt>(const TaskOptions&)>& gen, int need,
    uint64_t seed, const std::function<bool(const TaskPrompt&)>& train_only) {
  std::vector<TaskPrompt> kept;
  for (uint64_t round = 0; static_cast<int>(kept.size()) < need; ++round) {
    if (round > 20) throw Error("corpus: too few task prompts use train words only");
    TaskOptions o;
    o.seed = seed * 1000003ull + round;
    o.n = std::max(64, 3 * (need - static_cast<int>(kept.size())));
    for (auto& p : gen(o)) {
      if (train_only(p) && static_cast<int>(kept.size()) < need) kept.push_back(std::move(p));
    }
  }
  return kept;
}

}  // namespace

const char* doc_kind_name(DocKind k) {
  switch (k) {
    case DocKind::Ioi: return "ioi";
    case DocKind::GreaterThan: return "greater-than";
    case DocKind::Docstring: return "docstring";
    case DocKind::Induction: return "induction";
    case DocKind::Filler: return "filler";
    case DocKind::WordList: return "word-list";
    case DocKind::Recap: return "recap";
    case DocKind::RecapTail: return "recap-tail";
  }
  return "?";
}

std::vector<int> lexicon_pool(const Tokenizer& tok) {
  std::vector<int> ids;
  for (const auto& w : lexicon_words(tok)) ids.push_back(tok.single_token(" " + w));
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<int> lexicon_pool_split(const Tokenizer& tok, bool heldout) {
  std::vector<int> ids;
  for (const auto& w : lexicon_words(tok))
    if (is_heldout(w) == heldout) ids.push_back(tok.single_token(" " + w));
  std::sort(ids.begin(), ids.end());
  return ids;
}

namespace {

using Docs = std::vector<std::pair<DocKind, std::vector<int>>>;

// How many documents of each kind: floor of each share, filler taking the rounding (as before
// word lists existed).
std::array<int, CorpusOptions::kKinds> doc_counts(const CorpusOptions& opts) {
  double total = 0;
  for (double f : opts.mix) {
    if (f < 0) throw Error("corpus: mixture fractions must be >= 0");
    total += f;
  }
  if (total <= 0) throw Error("corpus: mixture fractions sum to 0");
  std::array<int, CorpusOptions::kKinds> count{};
  int assigned = 0;
  for (int k : {0, 1, 2, 3, 5, 6, 7}) assigned += count[k] = static_cast<int>(std::floor(opts.n_docs * opts.mix[k] / total));
  count[4] = opts.n_docs - assigned;
  return count;
}

// The word lists the documents draw from: names, nouns, variable names, plain words, each with
// its held-out part.
struct Words {
  const Tokenizer& tok;
  std::vector<std::string> names, gt_nouns, vars, dwords, lex;
  Mixed m_names, m_nouns, m_vars, m_words;
  std::vector<std::string> adjs, places, objects;
  std::vector<int> ind_pool, year_tok;
  explicit Words(const Tokenizer& t)
      : tok(t), names(ioi_names(t)), gt_nouns(greater_than_nouns(t)), vars(docstring_names(t)),
        dwords(docstring_words(t)), lex(lexicon_words(t)), m_names{names, heldout_words(names)},
        m_nouns{gt_nouns, heldout_words(gt_nouns)}, m_vars{vars, heldout_words(vars)},
        m_words{lex, heldout_words(lex)}, adjs(to_strings(std::begin(kAdjectives), std::end(kAdjectives))),
        places(to_strings(std::begin(kPlaces), std::end(kPlaces))),
        objects(to_strings(std::begin(kObjects), std::end(kObjects))), ind_pool(lexicon_pool_split(t, false)),
        year_tok(greater_than_year_tokens(t)) {
    if (ind_pool.size() < 30) throw Error("corpus: fewer than 30 train words for repeated sequences");
  }
  void add_text(Docs& docs, DocKind k, const std::string& s) const { docs.emplace_back(k, tok.encode(s)); }
};

void ioi_docs(const Words& w, int n, uint64_t seed, Docs& docs) {
  for (const auto& p : train_prompts([&](const TaskOptions& o) { return ioi_prompts(w.tok, o); }, n, seed ^ 0x101,
                                     [](const TaskPrompt& p) {
                                       return !is_heldout(p.fields.at("IO")) && !is_heldout(p.fields.at("S"));
                                     }))
    w.add_text(docs, DocKind::Ioi, p.clean + p.answer + ".");
}

void greater_than_docs(const Words& w, int n, uint64_t seed, Docs& docs) {
  SplitMix64 r(seed, 0x67);
  for (const auto& p : train_prompts([&](const TaskOptions& o) { return greater_than_prompts(w.tok, o); }, n,
                                     seed ^ 0x102, [](const TaskPrompt& p) { return !is_heldout(p.fields.at("noun")); })) {
    const int yy = std::stoi(p.fields.at("YY"));
    const int zz = yy + 1 + r.below(99 - yy);  // uniform in (YY, 99]
    std::vector<int> ids = w.tok.encode(p.clean);
    ids.push_back(w.year_tok[static_cast<size_t>(zz)]);
    const std::vector<int> dot = w.tok.encode(".");
    ids.insert(ids.end(), dot.begin(), dot.end());
    docs.emplace_back(DocKind::GreaterThan, std::move(ids));
  }
}

void docstring_docs(const Words& w, int n, uint64_t seed, Docs& docs) {
  // Some description words are also variable names: a held-out name may not appear as one.
  const std::vector<std::string> hv = heldout_words(w.vars);
  const std::set<std::string> held_vars(hv.begin(), hv.end());
  std::vector<std::string> dwords_train;
  for (const auto& d : w.dwords)
    if (!held_vars.count(d)) dwords_train.push_back(d);
  SplitMix64 r(seed, 0xd5);
  auto train_only = [&](const TaskPrompt& p) {
    for (const char* k : {"met", "p1", "p2", "A", "B", "C", "s1", "w1", "w2", "w3", "a1", "a2", "b1", "b2"})
      if (held_vars.count(p.fields.at(k))) return false;
    return true;
  };
  for (const auto& p : train_prompts([&](const TaskOptions& o) { return docstring_prompts(w.tok, o); }, n,
                                     seed ^ 0x103, train_only))
    w.add_text(docs, DocKind::Docstring, p.clean + p.answer + ": " + r.pick(dwords_train) + " " + r.pick(dwords_train));
}

// A random sequence of 4-24 distinct train words, then the same sequence again.
void induction_docs(const Words& w, int n_docs, uint64_t seed, Docs& docs) {
  SplitMix64 r(seed, 0x1d);
  for (int i = 0; i < n_docs; ++i) {
    const int n = 4 + r.below(21);
    std::vector<int> seq;
    for (int j : r.distinct(static_cast<int>(w.ind_pool.size()), n)) seq.push_back(w.ind_pool[static_cast<size_t>(j)]);
    std::vector<int> ids = seq;
    ids.insert(ids.end(), seq.begin(), seq.end());
    docs.emplace_back(DocKind::Induction, std::move(ids));
  }
}

void filler_docs(const Words& w, int n, uint64_t seed, Docs& docs) {
  // Filler: 14 story/code templates; {N1} {N2} distinct names, {Y1} < {Y2} years.
  static const char* kFiller[] = {
      "One day, {N1} went to the {PLACE} with {N2}. {N1} bought a {ADJ} {W1} there.",
      "In {Y1}, {N1} met {N2} at the {PLACE}. {N2} had a {ADJ} {W1} and a {W2}.",
      "Later, {N1} and {N2} talked about the {NOUN} for a long time, and {N2} called {N1} again.",
      "The {NOUN} lasted a long time, and {N1} wrote about it in {Y1}.",
      "Yesterday {N1} gave {N2} a {ADJ} {OBJECT}. {N2} thanked {N1} and smiled.",
      "From {Y1} until {Y2}, {N1} lived near the {PLACE} and worked on the {NOUN}.",
      "The {ADJ} {W1} was near the {PLACE}, said {N1}. {N2} did not see the {W2}.",
      "Everyone knows that {N1} likes the {W1} and the {W2}, but {N2} likes the {W3}.",
      "The {NOUN} of {Y1} changed everything for {N1}, who moved to the {PLACE} in {Y2}.",
      "A {W1}, a {W2}, a {W3} and a {W4} were on the table. {N1} took the {W2}.",
      "# {DW1} the {DW2} of {V1}\n{V1} = {V2}.{DW3}({V3})\n",
      "def {V1}({V2}, {V3}):\n    # {DW1} {DW2} {DW3}\n    return {V2} + {V3}\n",
      "class {DW1}:\n    def {V1}(self, {V2}):\n        # the {DW2} {DW3}\n        self.{V2} = {V2}\n",
      "When {N1} was young, {N1} had a {W1}. Now {N2} has the {W1} and {N1} has a {W2}.",
  };
  constexpr int kN = sizeof(kFiller) / sizeof(kFiller[0]);
  SplitMix64 r(seed, 0xf1);
  for (int i = 0; i < n; ++i) {
    std::map<std::string, std::string> v;
    const std::vector<std::string> nn = w.m_names.distinct(r, 2);
    v["N1"] = nn[0], v["N2"] = nn[1];
    const int y1 = 1100 + r.below(800), y2 = y1 + 1 + r.below(99 - y1 % 100 + 1);
    v["Y1"] = std::to_string(y1);
    v["Y2"] = std::to_string(std::min(y2, 1999));
    v["PLACE"] = r.pick(w.places);
    v["OBJECT"] = r.pick(w.objects);
    v["ADJ"] = r.pick(w.adjs);
    v["NOUN"] = w.m_nouns.draw(r);
    for (const char* k : {"W1", "W2", "W3", "W4"}) v[k] = w.m_words.draw(r);
    const std::vector<std::string> vv = w.m_vars.distinct(r, 3);
    v["V1"] = vv[0], v["V2"] = vv[1], v["V3"] = vv[2];
    for (const char* k : {"DW1", "DW2", "DW3"}) v[k] = r.pick(w.dwords);
    w.add_text(docs, DocKind::Filler, task_detail::render(kFiller[r.below(kN)], v).text);
  }
}

// 8-24 distinct words, half the draws from the held-out words.
void word_list_docs(const Words& w, int n_docs, uint64_t seed, Docs& docs) {
  const std::vector<int> train_pool = lexicon_pool_split(w.tok, false), held_pool = lexicon_pool_split(w.tok, true);
  SplitMix64 r(seed, 0x71);
  for (int i = 0; i < n_docs; ++i) {
    const int n = 8 + r.below(17);
    std::vector<int> ids;
    while (static_cast<int>(ids.size()) < n) {
      const std::vector<int>& pool = (!held_pool.empty() && r.below(2) == 0) ? held_pool : train_pool;
      const int id = pool[static_cast<size_t>(r.below(static_cast<int>(pool.size())))];
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    docs.emplace_back(DocKind::WordList, std::move(ids));
  }
}

// A list of words written down, then read back whole.
void recap_docs(const Words& w, int n, uint64_t seed, Docs& docs) {
  SplitMix64 r(seed, 0x7ec);
  for (int i = 0; i < n; ++i) {
    const std::vector<std::string> words = w.m_words.distinct(r, 6 + r.below(15));
    std::string list;
    for (const auto& word : words) list += " " + word;
    const std::vector<std::string> nn = w.m_names.distinct(r, 2);
    w.add_text(docs, DocKind::Recap, nn[0] + " wrote down:" + list + ". Later " + nn[1] + " read it back:" + list + ".");
  }
}

// A list of words written down, then its end (at least three words) read back.
void recap_tail_docs(const Words& w, int n_docs, uint64_t seed, Docs& docs) {
  SplitMix64 r(seed, 0x7ed);
  for (int i = 0; i < n_docs; ++i) {
    const int n = 6 + r.below(15);
    const std::vector<std::string> words = w.m_words.distinct(r, n);
    const int from = r.below(n - 2);  // at least three words read back
    std::string list, tail;
    for (int j = 0; j < n; ++j) (j >= from ? tail : list) += " " + words[static_cast<size_t>(j)];
    const std::vector<std::string> nn = w.m_names.distinct(r, 2);
    w.add_text(docs, DocKind::RecapTail, nn[0] + " wrote down:" + list + tail + ". Later " + nn[1] + " read out the end of it:" + tail + ".");
  }
}

}  // namespace

Corpus make_corpus(const Tokenizer& tok, const CorpusOptions& opts) {
  if (opts.n_docs < 1) throw Error("corpus: n_docs must be at least 1");
  if (tok.eos_id() < 0) throw Error("corpus: the tokenizer has no <|endoftext|> token");
  const std::array<int, CorpusOptions::kKinds> count = doc_counts(opts);
  const Words w(tok);
  Docs docs;  // generated kind by kind in this order, then shuffled
  ioi_docs(w, count[0], opts.seed, docs);
  greater_than_docs(w, count[1], opts.seed, docs);
  docstring_docs(w, count[2], opts.seed, docs);
  induction_docs(w, count[3], opts.seed, docs);
  filler_docs(w, count[4], opts.seed, docs);
  word_list_docs(w, count[5], opts.seed, docs);
  recap_docs(w, count[6], opts.seed, docs);
  recap_tail_docs(w, count[7], opts.seed, docs);

  Corpus c;
  // Seeded shuffle (Fisher-Yates with our own bounded draw).
  SplitMix64 r(opts.seed, 0x5f);
  for (size_t i = docs.size(); i > 1; --i) std::swap(docs[i - 1], docs[static_cast<size_t>(r.below(static_cast<int>(i)))]);
  std::set<int32_t> vocab = {tok.eos_id()};
  for (auto& [k, ids] : docs) {
    c.n_tokens += static_cast<int64_t>(ids.size());
    vocab.insert(ids.begin(), ids.end());
    c.kinds.push_back(k);
    c.docs.push_back(std::move(ids));
  }
  c.vocab.assign(vocab.begin(), vocab.end());
  return c;
}

std::vector<std::vector<int>> pack_rows(const std::vector<std::vector<int>>& docs, int T, int eos) {
  if (T < 2) throw Error("pack_rows: sequence length must be at least 2");
  std::vector<std::vector<int>> rows;
  std::vector<int> cur;
  for (const auto& d : docs) {
    if (d.empty()) continue;
    const size_t need = d.size() + (cur.empty() ? 0 : 1);
    if (!cur.empty() && cur.size() + need > static_cast<size_t>(T) + 1) {
      rows.push_back(std::move(cur));
      cur.clear();
    }
    if (!cur.empty()) cur.push_back(eos);
    cur.insert(cur.end(), d.begin(), d.end());
    if (cur.size() > static_cast<size_t>(T) + 1) cur.resize(static_cast<size_t>(T) + 1);
  }
  if (cur.size() >= 2) rows.push_back(std::move(cur));
  return rows;
}

}  // namespace cs
