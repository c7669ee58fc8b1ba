// Docstring, Heimersheim & Janiak 2023 "A circuit for Python docstrings in a 4-layer
// attention-only transformer", in the form ACDC (Conmy et al. 2023) evaluates. docs/tasks.md
// sec. 3. The prompt (reST style, 3 matching args, 2 def prefix args, 1 def suffix arg,
// 3 method-description words, 2 words per :param):
//
//   \ndef {met}(self, {p1}, {p2}, {A}, {B}, {C}, {s1}):\n    """{w1} {w2} {w3}\n\n
//       :param {A}: {a1} {a2}\n    :param {B}: {b1} {b2}\n    :param          -> " C"
//
// Names are drawn without repetition, as the ACDC generator does: met plus 14 argument names,
// p1 p2 A B C s1, five for the corruption (R1..R5) and three spares (one "random answer", two
// "not matching") that only serve as wrong answers. wrong = the 13 names other than C (ACDC's
// wrong_answers, so "logit(C) - max wrong" is the ACDC docstring metric).
//
// corrupt ("random_random", ACDC's default): def args A B C -> R1 R2 R3 and the :param names
//   -> R4 R5, all else equal. NOTE: a common description says "C stays in the def"; the ACDC
//   generator replaces all three (C included), and its ground truth was found with that, so
//   we follow the generator.
// negative (SAE method): the corrupt prompt. With fresh names in both def and docstring
//   nothing in the prompt says which argument comes next, which is the negative the SAE
//   method needs; it also keeps the clean token length.
//
// Word lists: transcribed from ACDC's docstring prompt generator (variable names, 111; common
// single-token nouns, 687). Filtered here: a name must be one token as " name"; a word one
// token both as " word" and as "word" (w1 follows the quotes without a space).
#include "interp/task.h"
#include "ops/error.h"

namespace cs {
namespace {

constexpr const char* kNames[] = {
    "data", "name", "file", "value", "test", "new", "result", "line", "user", "key", "default",
    "request", "path", "output", "node", "item", "url", "model", "response", "text", "version",
    "function", "log", "string", "field", "start", "number", "values", "sub", "index", "error",
    "current", "context", "image", "message", "check", "json", "create", "size", "event", "state",
    "row", "obj", "parser", "end", "files", "form", "query", "fields", "instance", "label", "run",
    "action", "target", "array", "code", "num", "table", "source", "msg", "config", "first",
    "required", "options", "ret", "update", "module", "status", "group", "content", "client",
    "filename", "results", "last", "read", "command", "val", "base", "format", "color",
    "settings", "order", "found", "count", "match", "tag", "title", "parent", "call", "session",
    "token", "server", "host", "date", "description", "mode", "expected", "project", "info",
    "valid", "page", "header", "option", "task", "shape", "load", "names", "port", "old",
    "resource", "root",
};

constexpr const char* kWords[] = {
    "price", "control", "action", "cost", "issue", "process", "position", "course", "minute",
    "education", "type", "research", "subject", "girl", "age", "father", "force", "order",
    "value", "act", "matter", "health", "lot", "street", "patient", "class", "mind", "church",
    "condition", "paper", "bank", "century", "section", "activity", "table", "building", "sense",
    "sort", "staff", "team", "student", "language", "town", "plan", "management", "morning",
    "committee", "product", "practice", "evidence", "ground", "letter", "foot", "boy", "back",
    "game", "food", "union", "role", "event", "land", "art", "support", "range", "stage", "trade",
    "voice", "arm", "club", "field", "history", "parent", "account", "material", "care",
    "manager", "project", "record", "example", "training", "window", "air", "light", "wife",
    "quality", "rule", "pound", "story", "tax", "worker", "data", "model", "nature", "bed",
    "hospital", "method", "unit", "detail", "date", "wall", "computer", "amount", "bit",
    "president", "chapter", "property", "son", "director", "leader", "south", "application",
    "board", "king", "production", "operation", "share", "lord", "contract", "picture", "test",
    "security", "election", "source", "colour", "future", "site", "loss", "shop", "animal",
    "heart", "purpose", "standard", "page", "doctor", "factor", "hair", "love", "music", "charge",
    "pattern", "design", "piece", "population", "tree", "knowledge", "performance", "plant",
    "pressure", "fire", "environment", "size", "analysis", "rest", "success", "thought", "region",
    "list", "relation", "set", "space", "statement", "demand", "sea", "step", "capital", "choice",
    "player", "station", "film", "feature", "income", "individual", "cup", "technology",
    "machine", "cell", "degree", "energy", "growth", "treatment", "mile", "function", "risk",
    "sound", "task", "top", "resource", "floor", "science", "style", "hall", "horse", "response",
    "character", "user", "answer", "dog", "look", "brother", "argument", "season", "bill",
    "element", "glass", "duty", "claim", "fund", "leg", "park", "title", "note", "daughter",
    "sun", "box", "river", "profit", "division", "stone", "post", "client", "help", "image",
    "oil", "sector", "attack", "direction", "seat", "employment", "goal", "sign", "ability",
    "campaign", "fish", "item", "medium", "show", "version", "drug", "library", "press",
    "surface", "blood", "culture", "memory", "return", "bar", "talk", "access", "deal", "star",
    "text", "cause", "mouth", "payment", "context", "reference", "second", "article", "chair",
    "earth", "object", "agency", "card", "collection", "communication", "public", "document",
    "weight", "bird", "rock", "call", "edge", "miss", "option", "quarter", "stock", "aid",
    "concept", "match", "network", "radio", "target", "finger", "forest", "race", "sex", "ball",
    "crime", "message", "peace", "review", "scale", "scene", "speech", "band", "expression",
    "hill", "reader", "owner", "trust", "truth", "turn", "file", "past", "start", "trial",
    "balance", "copy", "league", "length", "wind", "front", "move", "pain", "spirit", "train",
    "contact", "official", "strength", "cash", "gas", "shape", "agent", "pair", "protection",
    "rise", "driver", "master", "meaning", "vote", "adult", "play", "fig", "route", "speed",
    "credit", "impact", "danger", "flower", "half", "path", "track", "video", "aim", "bag",
    "comment", "content", "distance", "gold", "link", "skin", "boat", "dad", "prison", "sight",
    "wine", "offer", "writer", "hole", "package", "confidence", "generation", "key", "phone",
    "sample", "ship", "threat", "volume", "author", "background", "engine", "entry", "stuff",
    "yard", "bus", "regulation", "row", "song", "category", "consumer", "football", "meal",
    "wood", "bridge", "description", "existence", "flat", "lip", "session", "sheet", "code",
    "flight", "limit", "plate", "rain", "respect", "writing", "capacity", "dream", "selection",
    "spring", "while", "definition", "egg", "examination", "mark", "notice", "output", "will",
    "address", "bottom", "kid", "middle", "neck", "run", "acid", "assembly", "birth", "ear",
    "error", "module", "store", "transfer", "wave", "channel", "component", "cut", "fee", "lead",
    "weather", "block", "brain", "guide", "program", "screen", "connection", "cover", "map",
    "metal", "phase", "pool", "search", "sequence", "sky", "sum", "trip", "cat", "display",
    "gallery", "gate", "heat", "location", "reading", "theme", "drive", "faith", "hell",
    "learning", "opening", "priority", "spot", "tool", "castle", "coal", "flow", "lane", "motion",
    "release", "total", "wing", "border", "index", "pocket", "ring", "billion", "device",
    "engineering", "fruit", "lake", "leaf", "pub", "request", "square", "tone", "walk", "chain",
    "circle", "creation", "fall", "present", "shot", "fashion", "god", "mass", "panel", "fan",
    "iron", "origin", "ticket", "bone", "cancer", "chief", "editor", "fuel", "general", "height",
    "round", "vision", "warning", "being", "cross", "living", "rail", "working", "column",
    "finding", "gap", "grass", "plane", "root", "score", "shadow", "shock", "touch", "database",
    "formation", "male", "ref", "resident", "resolution", "topic", "break", "camp", "currency",
    "phrase", "thinking", "coat", "mill", "stress", "boot", "command", "depth", "female", "frame",
    "framework", "holder", "ice", "inch", "port", "protein", "rose", "saving", "string", "wheel",
    "bishop", "cycle", "export", "hat", "load", "mode", "setting", "stairs", "travel", "average",
    "camera", "focus", "green", "guard", "input", "layer", "poll", "sleep", "suit", "bread",
    "cake", "efficiency", "peak", "self", "angle", "bay", "bid", "cloud", "custom", "dollar",
    "variable", "zone", "actor", "chip", "core", "final", "frequency", "gain", "guy", "relative",
    "rent", "reply", "secret", "shirt", "apple", "instance", "intelligence", "lad", "pipe",
    "anger", "disk", "fight", "hero", "journal", "left", "mail", "pace", "paragraph", "platform",
    "print", "rank", "sand", "scope", "shift", "stream", "chemical", "clock", "delay", "host",
    "human", "count", "mission", "pack", "seed", "tail", "tie", "watch", "dark", "hold", "mine",
    "net", "tip", "dimension", "operator", "professional", "shell", "storage", "summary", "tube",
    "conduct", "determination", "drop", "import", "label", "percent", "pot", "proof", "unity",
    "win", "wire", "bell", "comfort", "complex", "draft", "grade", "lift", "mouse", "movie",
    "profile", "standing", "belt", "black", "check", "joy", "local", "pit", "red", "register",
    "storm", "album", "ban", "bench", "button", "cap", "chart", "coin", "dust", "folk", "margin",
    "pole", "stand", "stick", "tin",
};

const char* kTemplate =
    "\ndef {met}(self, {p1}, {p2}, {A}, {B}, {C}, {s1}):\n    \"\"\"{w1} {w2} {w3}\n\n"
    "    :param {docA}: {a1} {a2}\n    :param {docB}: {b1} {b2}\n    :param";

}  // namespace

std::vector<std::string> docstring_names(const Tokenizer& tok) {
  std::vector<std::string> out;
  for (const char* n : kNames)
    if (tok.single_token(std::string(" ") + n) >= 0) out.push_back(n);
  return out;
}

std::vector<std::string> docstring_words(const Tokenizer& tok) {
  std::vector<std::string> out;
  for (const char* w : kWords)
    if (tok.single_token(std::string(" ") + w) >= 0 && tok.single_token(w) >= 0) out.push_back(w);
  return out;
}

TokenizedTask docstring_task(const Tokenizer& tok, const TaskOptions& opts) {
  task_detail::check_n("docstring", opts);
  const std::vector<std::string> names = docstring_names(tok);
  const std::vector<std::string> words = docstring_words(tok);
  constexpr int kDrawn = 15;  // met + 14 argument names
  if (static_cast<int>(names.size()) < kDrawn || words.size() < 3)
    throw Error("task docstring: only " + std::to_string(names.size()) + " variable names and " +
                std::to_string(words.size()) + " description words are single tokens under this "
                "tokenizer; the task needs 15 and 3");
  const int n_names = static_cast<int>(names.size()), n_words = static_cast<int>(words.size());

  TokenizedTask t = task_detail::begin_task("docstring", MetricKind::LogitDiff, tok, opts);
  SplitMix64 rng(opts.seed, 0xd0c5ull);
  long attempts = 0;
  const long max_attempts = 100L * opts.n + 1000;
  while (static_cast<int>(t.size()) < opts.n) {
    task_detail::check_attempts("docstring", ++attempts, max_attempts, static_cast<int>(t.size()), opts.n);
    std::vector<std::string> v;  // met, p1, p2, A, B, C, s1, R1..R5, spare x3
    for (int i : rng.distinct(n_names, kDrawn)) v.push_back(names[static_cast<size_t>(i)]);
    auto draw_words = [&](int k) {
      std::vector<std::string> w;
      for (int i : rng.distinct(n_words, k)) w.push_back(words[static_cast<size_t>(i)]);
      return w;
    };
    const std::vector<std::string> desc = draw_words(3), a = draw_words(2), b = draw_words(2);
    std::map<std::string, std::string> values = {
        {"met", v[0]}, {"p1", v[1]}, {"p2", v[2]}, {"A", v[3]}, {"B", v[4]}, {"C", v[5]},
        {"s1", v[6]}, {"docA", v[3]}, {"docB", v[4]}, {"w1", desc[0]}, {"w2", desc[1]},
        {"w3", desc[2]}, {"a1", a[0]}, {"a2", a[1]}, {"b1", b[0]}, {"b2", b[1]}};
    const task_detail::Rendered clean = task_detail::render(kTemplate, values);
    std::map<std::string, std::string> rr = values;
    rr["A"] = v[7], rr["B"] = v[8], rr["C"] = v[9], rr["docA"] = v[10], rr["docB"] = v[11];
    const task_detail::Rendered corrupt = task_detail::render(kTemplate, rr);

    std::vector<int> clean_ids = tok.encode(clean.text);
    std::vector<int> corrupt_ids = tok.encode(corrupt.text);
    // Patching compares positions: the corruption must keep the token length.
    if (corrupt_ids.size() != clean_ids.size()) continue;
    std::map<std::string, int> positions;
    bool ok = true;
    for (const char* slot : {"met", "A", "B", "C", "docA", "docB"}) {
      const int pos = task_detail::slot_position(tok, clean, clean_ids, slot, 0,
                                                 tok.single_token(" " + values[slot]));
      ok = ok && pos >= 0;
      positions[slot] = pos;
    }
    if (!ok) continue;  // a name merged with its neighbour

    TaskPrompt p;
    p.clean = clean.text;
    p.corrupt = corrupt.text;
    p.negative = corrupt.text;
    p.answer = " " + v[5];
    std::vector<int> wrong_ids;
    for (int i = 1; i < kDrawn; ++i) {
      if (i == 5) continue;
      p.wrong.push_back(" " + v[static_cast<size_t>(i)]);
      wrong_ids.push_back(tok.single_token(p.wrong.back()));
    }
    p.fields = values;
    p.fields.erase("docA");
    p.fields.erase("docB");
    for (int i = 0; i < 5; ++i) p.fields[std::string(1, 'R') += char('1' + i)] = v[static_cast<size_t>(7 + i)];
    std::vector<int> negative_ids = corrupt_ids;
    const int answer = tok.single_token(p.answer);
    task_detail::add_prompt(t, tok, opts, std::move(p), std::move(clean_ids), std::move(corrupt_ids),
                            std::move(negative_ids), answer, std::move(wrong_ids), positions);
  }
  return t;
}

std::vector<TaskPrompt> docstring_prompts(const Tokenizer& tok, const TaskOptions& opts) {
  return docstring_task(tok, opts).prompts;
}

}  // namespace cs
