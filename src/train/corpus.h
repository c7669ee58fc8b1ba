// Training corpus for the zoo models: a seeded mixture of documents of eight kinds.
//
//   ioi           an IOI prompt (task_ioi.cpp's 30 templates) with its answer: "... gave it to Mary."
//   greater-than  "The {noun} lasted from the year XXYY to the year XXZZ." with ZZ > YY uniform
//   docstring     the docstring prompt with " C: w w" appended
//   induction     random plain words x1..xn repeated once (n 4..24), from the train lexicon
//   filler        stories from a small grammar: names, dates, places, objects, year ranges,
//                 word lists and Python code comments, so heads have jobs besides the tasks
//   word list     8..24 distinct plain words, half of the draws from the held-out words, never
//                 repeated (filler: no copying to learn). Without them held-out words never stand
//                 in a bare list, and a model learns that a list holds train words only, which
//                 holds back its induction on held-out words however well it copies train ones.
//                 But with them alone a held-out word in a list is a sure sign the list will
//                 not repeat (repeats hold train words only), and the model learns that instead.
//   recap         a story that reads a list of 6..20 words out twice, "{N1} wrote down: w1 .. wk.
//                 Later {N2} read it back: w1 .. wk." (half the words held out, as filler): the
//                 held-out words recur in running text as names do in the stories, so whether a
//                 list repeats cannot be told from its words. The bare repeated sequence of the
//                 induction task still holds train words only.
//   recap tail    the same story, but the list is read back from a random word on: "{N1} wrote
//                 down: w1 .. wk. Later {N2} read out the end of it: wj .. wk." (j uniform, at
//                 least three words read). In a whole recap the cue says where the copy starts,
//                 so predicting w2 after w1 needs no look back; here the word after the cue is
//                 any word of the list, and the next one follows only from where that word stood
//                 before: the first-match step of induction, on held-out words.
//
// Task documents use train words only (holdout.h); filler draws half its names, nouns,
// variable names and plain words from the held-out lists, so every held-out token occurs in
// the corpus (a token never seen keeps its random embedding, and nothing could copy it).
// Deterministic per seed on any machine: SplitMix64 streams, no std distributions.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/tokenizer.h"

namespace cs {

enum class DocKind { Ioi, GreaterThan, Docstring, Induction, Filler, WordList, Recap, RecapTail };
const char* doc_kind_name(DocKind k);

struct CorpusOptions {
  int n_docs = 40000;
  uint64_t seed = 0;
  // Fractions of documents per kind (normalised): ioi, greater-than, docstring, induction, filler,
  // word list, recap, recap tail. Zero shares of the last three leave the corpus exactly as it
  // was before those kinds existed.
  static constexpr int kKinds = 8;
  double mix[kKinds] = {0.25, 0.15, 0.15, 0.15, 0.30, 0.0, 0.0, 0.0};
};

struct Corpus {
  std::vector<std::vector<int>> docs;  // (n_docs, len_i) token ids, no EOS
  std::vector<DocKind> kinds;          // (n_docs)
  std::vector<int32_t> vocab;          // sorted distinct ids of every doc, plus EOS
  int64_t n_tokens = 0;                // sum of doc lengths
};

Corpus make_corpus(const Tokenizer& tok, const CorpusOptions& opts);

// The filler grammar's plain words (nouns, adjectives, places, objects, greater-than nouns,
// docstring words) whose " word" is a token of the induction pool (3..12 lowercase letters, one
// token). Sorted ids. The train part feeds the corpus's repeated sequences, the held-out part
// the induction evaluation.
std::vector<int> lexicon_pool(const Tokenizer& tok);
std::vector<int> lexicon_pool_split(const Tokenizer& tok, bool heldout);

// Training rows: documents in order, each row starting at a document start (as evaluation
// prompts do), documents joined by EOS while they fit in T+1 tokens; a longer document is cut.
// Row r gives inputs row[0..L-1) and targets row[1..L), padded to T with targets -1.
std::vector<std::vector<int>> pack_rows(const std::vector<std::vector<int>>& docs, int T, int eos);

}  // namespace cs
