// The held-out split shared by the training corpus and the evaluation: a word (a name, a noun,
// a variable name, a plain word, written without its leading space) is held out when its
// FNV-1a 64-bit hash is 0 mod 4, about a quarter of every list. Held-out words never occur in
// the task sentences of the corpus (IOI, greater-than, docstring, repeated sequences), only in
// its filler text; the trainer's evaluation builds its task prompts from held-out words, so a
// task score measures a general mechanism (move a name, compare two years, copy a token)
// rather than memorised word pairs. Fixed forever: changing it changes what "held out" means
// for every model in the zoo.
#pragma once
#include <string>
#include <vector>

namespace cs {

bool is_heldout(const std::string& word);  // word without leading space: "Mary", "trial"

// A list split by is_heldout, order kept.
std::vector<std::string> heldout_words(const std::vector<std::string>& words);
std::vector<std::string> train_words(const std::vector<std::string>& words);

}  // namespace cs
