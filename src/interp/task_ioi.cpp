// IOI (indirect object identification), Wang et al. 2022 "Interpretability in the Wild".
// The 15 templates are written below; names, places and objects are Wang et al.'s (docs/tasks.md, section 1).
//
// Each template is written with its first clause as "{N1} and {N2}" and the subject as {S}:
// BABA fills N1 = S, N2 = IO; ABBA fills N1 = IO, N2 = S. The prompt stops before the final
// IO; the answer is " IO", the wrong answer " S".
//   corrupt  ("ABC"): same template, place, object; N1 = X, N2 = Z, S = Y, three distinct
//                     random names, so the IO is undetermined and nothing repeats.
//   negative (SAE):   the clean prompt with the first-clause S replaced by a third name C
//                     (distinct from IO and S): "Then, C and A went ... B gave a O to".
#include "interp/task.h"
#include "ops/error.h"

namespace cs {
namespace {

constexpr const char* kTemplates[15] = {
    "Then, {N1} and {N2} went to the {PLACE}. {S} gave a {OBJECT} to",
    "Then, {N1} and {N2} had a lot of fun at the {PLACE}. {S} gave a {OBJECT} to",
    "Then, {N1} and {N2} were working at the {PLACE}. {S} decided to give a {OBJECT} to",
    "Then, {N1} and {N2} were thinking about going to the {PLACE}. {S} wanted to give a {OBJECT} to",
    "Then, {N1} and {N2} had a long argument, and afterwards {S} said to",
    "After {N1} and {N2} went to the {PLACE}, {S} gave a {OBJECT} to",
    "When {N1} and {N2} got a {OBJECT} at the {PLACE}, {S} decided to give it to",
    "When {N1} and {N2} got a {OBJECT} at the {PLACE}, {S} decided to give the {OBJECT} to",
    "While {N1} and {N2} were working at the {PLACE}, {S} gave a {OBJECT} to",
    "While {N1} and {N2} were commuting to the {PLACE}, {S} gave a {OBJECT} to",
    "After the lunch, {N1} and {N2} went to the {PLACE}. {S} gave a {OBJECT} to",
    "Afterwards, {N1} and {N2} went to the {PLACE}. {S} gave a {OBJECT} to",
    "Then, {N1} and {N2} had a long argument. Afterwards {S} said to",
    "The {PLACE} {N1} and {N2} went to had a {OBJECT}. {S} gave it to",
    "Friends {N1} and {N2} found a {OBJECT} at the {PLACE}. {S} gave it to",
};

constexpr const char* kPlaces[] = {"store", "garden", "restaurant", "school",
                                   "hospital", "office", "house", "station"};
constexpr const char* kObjects[] = {"ring", "kiss", "bone", "basketball",
                                    "computer", "necklace", "drink", "snack"};

constexpr const char* kNames[99] = {
    "Michael", "Christopher", "Jessica", "Matthew", "Ashley", "Jennifer", "Joshua", "Amanda",
    "Daniel", "David", "James", "Robert", "John", "Joseph", "Andrew", "Ryan", "Brandon", "Jason",
    "Justin", "Sarah", "William", "Jonathan", "Stephanie", "Brian", "Nicole", "Nicholas",
    "Anthony", "Heather", "Eric", "Elizabeth", "Adam", "Megan", "Melissa", "Kevin", "Steven",
    "Thomas", "Timothy", "Christina", "Kyle", "Rachel", "Laura", "Lauren", "Amber", "Brittany",
    "Danielle", "Richard", "Kimberly", "Jeffrey", "Amy", "Crystal", "Michelle", "Tiffany",
    "Jeremy", "Benjamin", "Mark", "Emily", "Aaron", "Charles", "Rebecca", "Jacob", "Stephen",
    "Patrick", "Sean", "Erin", "Jamie", "Kelly", "Samantha", "Nathan", "Sara", "Dustin", "Paul",
    "Angela", "Tyler", "Scott", "Katherine", "Andrea", "Gregory", "Erica", "Mary", "Travis",
    "Lisa", "Kenneth", "Bryan", "Lindsey", "Kristen", "Jose", "Alexander", "Jesse", "Katie",
    "Lindsay", "Shannon", "Vanessa", "Courtney", "Christine", "Alicia", "Cody", "Allison",
    "Bradley", "Samuel",
};

}  // namespace

std::vector<std::string> ioi_names(const Tokenizer& tok) {
  std::vector<std::string> out;
  for (const char* n : kNames)
    if (tok.single_token(std::string(" ") + n) >= 0) out.push_back(n);
  return out;
}

TokenizedTask ioi_task(const Tokenizer& tok, const TaskOptions& opts) {
  using task_detail::slot_position;
  task_detail::check_n("ioi", opts);
  const std::string variant = opts.variant.empty() ? "all" : opts.variant;
  if (variant != "all" && variant != "acdc")
    throw Error("task ioi: unknown variant \"" + opts.variant +
                "\" (all: 30 templates; acdc: template 1, ABBA only)");
  const std::vector<std::string> names = ioi_names(tok);
  if (names.size() < 3)
    throw Error("task ioi: fewer than 3 of the 99 names are one token under this tokenizer");
  std::vector<int> name_id;  // " Name" -> id, parallel to names
  for (const auto& n : names) name_id.push_back(tok.single_token(" " + n));
  const int n_names = static_cast<int>(names.size());
  const int n_templates = variant == "acdc" ? 1 : 30;

  TokenizedTask t = task_detail::begin_task("ioi", MetricKind::LogitDiff, tok, opts);
  SplitMix64 rng(opts.seed, 0x10110ull);
  long attempts = 0;
  const long max_attempts = 100L * opts.n + 1000;
  while (static_cast<int>(t.size()) < opts.n) {
    task_detail::check_attempts("ioi", ++attempts, max_attempts, static_cast<int>(t.size()), opts.n);
    // Template k in [0, 30): k < 15 BABA template k+1, else ABBA template k-14. "acdc" is
    // template 1 ABBA, the form of ACDC's IOI dataset.
    const int k = variant == "acdc" ? 15 : rng.below(n_templates);
    const bool abba = k >= 15;
    const std::string tmpl = kTemplates[k % 15];
    const std::string place = kPlaces[rng.below(8)];
    const std::string object = kObjects[rng.below(8)];
    const std::vector<int> ab = rng.distinct(n_names, 3);   // IO, S, and C for the negative
    const std::vector<int> xyz = rng.distinct(n_names, 3);  // corrupt X, Y, Z
    const int io = ab[0], s = ab[1], c = ab[2];
    auto fill = [&](int n1, int n2, int subj) {
      return task_detail::render(tmpl, {{"N1", names[n1]}, {"N2", names[n2]}, {"S", names[subj]},
                                        {"PLACE", place}, {"OBJECT", object}});
    };
    const task_detail::Rendered clean = fill(abba ? io : s, abba ? s : io, s);
    const task_detail::Rendered corrupt = fill(xyz[0], xyz[2], xyz[1]);
    const task_detail::Rendered negative = fill(abba ? io : c, abba ? c : io, s);
    TaskPrompt p;
    p.clean = clean.text;
    p.corrupt = corrupt.text;
    p.negative = negative.text;
    p.answer = " " + names[io];
    p.wrong = {" " + names[s]};
    p.fields = {{"IO", names[io]}, {"S", names[s]}, {"PLACE", place}, {"OBJECT", object},
                {"template", std::to_string(k % 15 + 1)}, {"order", abba ? "ABBA" : "BABA"},
                {"X", names[xyz[0]]}, {"Y", names[xyz[1]]}, {"Z", names[xyz[2]]}, {"C", names[c]}};
    std::vector<int> clean_ids = tok.encode(p.clean);
    std::vector<int> corrupt_ids = tok.encode(p.corrupt);
    std::vector<int> negative_ids = tok.encode(p.negative);
    // Patching and the SAE compare positions: all three must tokenize to the same length.
    if (corrupt_ids.size() != clean_ids.size() || negative_ids.size() != clean_ids.size()) continue;
    const std::string io_slot = abba ? "N1" : "N2", s1_slot = abba ? "N2" : "N1";
    const int pos_io = slot_position(tok, clean, clean_ids, io_slot, 0, name_id[io]);
    const int pos_s1 = slot_position(tok, clean, clean_ids, s1_slot, 0, name_id[s]);
    const int pos_s2 = slot_position(tok, clean, clean_ids, "S", 0, name_id[s]);
    if (pos_io < 0 || pos_s1 < 0 || pos_s2 < 0) continue;  // a name merged with its neighbour
    task_detail::add_prompt(t, tok, opts, std::move(p), std::move(clean_ids), std::move(corrupt_ids),
                            std::move(negative_ids), name_id[io], {name_id[s]},
                            {{"IO", pos_io}, {"S1", pos_s1}, {"S2", pos_s2}});
  }
  return t;
}

std::vector<TaskPrompt> ioi_prompts(const Tokenizer& tok, const TaskOptions& opts) {
  return ioi_task(tok, opts).prompts;
}

}  // namespace cs
