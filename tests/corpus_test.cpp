// Training corpus: determinism, the held-out split (never in task documents, always in the
// corpus), the mixture, and row packing.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "interp/task.h"
#include "train/corpus.h"
#include "train/holdout.h"

namespace cs {
namespace {

const Tokenizer& gpt2_tok() {
  static const Tokenizer t = Tokenizer::from_gpt2_files(CS_SOURCE_DIR "/data/gpt2-tokenizer/vocab.json",
                                                         CS_SOURCE_DIR "/data/gpt2-tokenizer/merges.txt");
  return t;
}

std::set<int> ids_of(const std::vector<std::string>& words) {
  std::set<int> s;
  for (const auto& w : words) s.insert(gpt2_tok().single_token(" " + w));
  return s;
}

const Corpus& corpus() {
  static const Corpus c = [] {
    CorpusOptions o;
    o.n_docs = 4000;
    o.seed = 7;
    return make_corpus(gpt2_tok(), o);
  }();
  return c;
}

TEST(Holdout, FixedSplitAboutAQuarter) {
  const auto names = ioi_names(gpt2_tok());
  const size_t h = heldout_words(names).size();
  EXPECT_EQ(h + train_words(names).size(), names.size());
  EXPECT_GE(h, names.size() / 8);
  EXPECT_LE(h, names.size() / 2);
  EXPECT_EQ(is_heldout("Mary"), is_heldout(std::string("Mary")));
  EXPECT_GE(heldout_words(greater_than_nouns(gpt2_tok())).size(), 10u);
  EXPECT_GE(heldout_words(docstring_names(gpt2_tok())).size(), 10u);
  EXPECT_GE(lexicon_pool_split(gpt2_tok(), true).size(), 41u);  // induction_len 20 + wrong
}

TEST(Corpus, DeterministicPerSeed) {
  CorpusOptions o;
  o.n_docs = 300;
  o.seed = 7;
  const Corpus a = make_corpus(gpt2_tok(), o), b = make_corpus(gpt2_tok(), o);
  EXPECT_EQ(a.docs, b.docs);
  o.seed = 8;
  EXPECT_NE(make_corpus(gpt2_tok(), o).docs, a.docs);
}

TEST(Corpus, MixtureAndVocab) {
  const Corpus& c = corpus();
  ASSERT_EQ(c.docs.size(), 4000u);
  int per_kind[5] = {};
  for (DocKind k : c.kinds) ++per_kind[static_cast<int>(k)];
  EXPECT_EQ(per_kind[0], 1000);  // 25% ioi
  for (int k = 0; k < 5; ++k) EXPECT_GT(per_kind[k], 0) << doc_kind_name(static_cast<DocKind>(k));
  EXPECT_TRUE(std::is_sorted(c.vocab.begin(), c.vocab.end()));
  std::set<int> seen(c.vocab.begin(), c.vocab.end());
  for (const auto& d : c.docs)
    for (int id : d) ASSERT_TRUE(seen.count(id));
  EXPECT_TRUE(seen.count(gpt2_tok().eos_id()));
  EXPECT_LT(c.vocab.size(), 3000u);  // a small subset of the 50257 ids
}

TEST(Corpus, HeldOutNeverInTaskDocsButInCorpus) {
  const Tokenizer& tok = gpt2_tok();
  const Corpus& c = corpus();
  const std::set<int> names = ids_of(heldout_words(ioi_names(tok)));
  const std::set<int> nouns = ids_of(heldout_words(greater_than_nouns(tok)));
  const std::set<int> vars = ids_of(heldout_words(docstring_names(tok)));
  const std::vector<int> lex = lexicon_pool_split(tok, true);
  const std::set<int> words(lex.begin(), lex.end());
  auto banned = [&](DocKind k) -> const std::set<int>* {
    switch (k) {
      case DocKind::Ioi: return &names;
      case DocKind::GreaterThan: return &nouns;
      case DocKind::Docstring: return &vars;
      case DocKind::Induction: return &words;
      default: return nullptr;
    }
  };
  for (size_t i = 0; i < c.docs.size(); ++i) {
    const std::set<int>* b = banned(c.kinds[i]);
    if (!b) continue;
    for (int id : c.docs[i]) ASSERT_FALSE(b->count(id)) << doc_kind_name(c.kinds[i]) << " doc " << i
                                                        << " has held-out " << tok.token_text(id);
  }
  std::set<int> seen(c.vocab.begin(), c.vocab.end());
  for (const auto* s : {&names, &nouns, &vars, &words})
    for (int id : *s) EXPECT_TRUE(seen.count(id)) << "held-out " << tok.token_text(id) << " never in the corpus";
}

TEST(Corpus, PackRowsStartAtDocumentsAndFit) {
  const std::vector<std::vector<int>> docs = {{1, 2, 3}, {4, 5}, {6, 7, 8, 9, 10, 11, 12}, {13}};
  const auto rows = pack_rows(docs, 6, 0);
  ASSERT_EQ(rows.size(), 2u);  // the last row, {13} alone, has no target and is dropped
  EXPECT_EQ(rows[0], (std::vector<int>{1, 2, 3, 0, 4, 5}));
  EXPECT_EQ(rows[1], (std::vector<int>{6, 7, 8, 9, 10, 11, 12}));  // T+1 tokens: T inputs, T targets
  for (const auto& r : rows) EXPECT_LE(r.size(), 7u);
}


// Word lists (the sixth kind): plain words without repeats, about half of them held out, and a
// zero share (the default) leaves the five-kind corpus exactly as it was.
TEST(Corpus, WordListsHoldHeldOutWordsWithoutRepeats) {
  const Tokenizer& tok = gpt2_tok();
  CorpusOptions o;
  o.n_docs = 400;
  o.seed = 3;
  const Corpus base = make_corpus(tok, o);
  o.mix[5] = 0.0;
  EXPECT_EQ(make_corpus(tok, o).docs, base.docs);
  o.mix[5] = 0.5;
  const Corpus c = make_corpus(tok, o);
  const std::vector<int> held = lexicon_pool_split(tok, true), train = lexicon_pool_split(tok, false);
  int lists = 0, n_held = 0, n_all = 0;
  for (size_t i = 0; i < c.docs.size(); ++i) {
    if (c.kinds[i] != DocKind::WordList) continue;
    ++lists;
    const auto& d = c.docs[i];
    EXPECT_GE(d.size(), 8u);
    EXPECT_LE(d.size(), 24u);
    EXPECT_EQ(std::set<int>(d.begin(), d.end()).size(), d.size()) << "a word list repeats a word";
    for (int id : d) {
      const bool h = std::binary_search(held.begin(), held.end(), id);
      ASSERT_TRUE(h || std::binary_search(train.begin(), train.end(), id)) << tok.token_text(id);
      n_held += h, ++n_all;
    }
  }
  EXPECT_GT(lists, 100);
  EXPECT_NEAR(static_cast<double>(n_held) / n_all, 0.5, 0.05);
}

// A recap's lists: the tokens after each ':' up to the next '.'.
std::vector<std::vector<int>> lists_after_colons(const std::vector<int>& d) {
  const int colon = gpt2_tok().single_token(":"), dot = gpt2_tok().single_token(".");
  std::vector<std::vector<int>> lists;
  for (size_t p = 0; p < d.size(); ++p)
    if (d[p] == colon) {
      lists.emplace_back();
      for (size_t q = p + 1; q < d.size() && d[q] != dot; ++q) lists.back().push_back(d[q]);
    }
  return lists;
}

bool holds_any(const std::vector<int>& ids, const std::vector<int>& sorted) {
  return std::any_of(ids.begin(), ids.end(),
                     [&](int id) { return std::binary_search(sorted.begin(), sorted.end(), id); });
}

// 400 documents (seed 3) with share 0.1 of kind `other` and 0.5 of kind `kind`, after checking
// that a zero share of `kind` leaves the corpus as it is without it.
Corpus with_half_share(const Tokenizer& tok, int other, int kind) {
  CorpusOptions o;
  o.n_docs = 400;
  o.seed = 3;
  o.mix[other] = 0.1;
  const Corpus base = make_corpus(tok, o);
  o.mix[kind] = 0.0;
  EXPECT_EQ(make_corpus(tok, o).docs, base.docs) << "a zero share of kind " << kind;
  o.mix[kind] = 0.5;
  return make_corpus(tok, o);
}

// Recaps (the seventh kind): running text that reads the same list of distinct words out twice,
// with held-out words among them, so held-out words recur in lists; a zero share changes nothing.
TEST(Corpus, RecapsReadTheSameListTwiceWithHeldOutWords) {
  const Tokenizer& tok = gpt2_tok();
  const Corpus c = with_half_share(tok, 5, 6);
  const std::vector<int> held = lexicon_pool_split(tok, true);
  int recaps = 0, with_held = 0;
  for (size_t i = 0; i < c.docs.size(); ++i) {
    if (c.kinds[i] != DocKind::Recap) continue;
    ++recaps;
    const auto& d = c.docs[i];
    const std::vector<std::vector<int>> lists = lists_after_colons(d);
    ASSERT_EQ(lists.size(), 2u) << tok.decode(d);
    EXPECT_EQ(lists[0], lists[1]) << tok.decode(d);
    EXPECT_GE(lists[0].size(), 6u);
    EXPECT_LE(lists[0].size(), 20u);
    EXPECT_EQ(std::set<int>(lists[0].begin(), lists[0].end()).size(), lists[0].size());
    with_held += holds_any(lists[0], held);
  }
  EXPECT_EQ(recaps, 125);  // 400 x 0.5 / 1.6
  EXPECT_GT(with_held, recaps * 9 / 10);
  // The induction task's bare repeats still hold train words only.
  for (size_t i = 0; i < c.docs.size(); ++i)
    if (c.kinds[i] == DocKind::Induction) {
      EXPECT_FALSE(holds_any(c.docs[i], held)) << tok.decode(c.docs[i]);
    }
}

// Recap tails (the eighth kind): the list is read back from a random word on, at least three
// words, the first word read back not always the list's first; a zero share changes nothing.
TEST(Corpus, RecapTailsReadBackTheEndOfTheListFromAnyWord) {
  const Tokenizer& tok = gpt2_tok();
  const Corpus c = with_half_share(tok, 6, 7);
  const std::vector<int> held = lexicon_pool_split(tok, true);
  int tails = 0, mid_start = 0, with_held = 0;
  for (size_t i = 0; i < c.docs.size(); ++i) {
    if (c.kinds[i] != DocKind::RecapTail) continue;
    ++tails;
    const auto& d = c.docs[i];
    const std::vector<std::vector<int>> lists = lists_after_colons(d);
    ASSERT_EQ(lists.size(), 2u) << tok.decode(d);
    const auto& all = lists[0];
    const auto& tail = lists[1];
    ASSERT_GE(tail.size(), 3u) << tok.decode(d);
    ASSERT_LE(tail.size(), all.size());
    EXPECT_TRUE(std::equal(tail.begin(), tail.end(), all.end() - static_cast<long>(tail.size()))) << tok.decode(d);
    EXPECT_EQ(std::set<int>(all.begin(), all.end()).size(), all.size());
    mid_start += tail.size() < all.size();
    with_held += holds_any(all, held);
  }
  EXPECT_EQ(tails, 125);  // 400 x 0.5 / 1.6
  EXPECT_GT(mid_start, tails * 3 / 4);
  EXPECT_GT(with_held, tails * 9 / 10);
}

}  // namespace
}  // namespace cs
