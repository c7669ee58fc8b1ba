// Byte-level BPE tokenizer. See tokenizer.h for the pipeline.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/tokenizer.h"

#include <pcre2.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/data_dir.h"
#include "model/model_path.h"
#include "ops/error.h"
#include "ops/files.h"

namespace cs {

namespace fs = std::filesystem;
using json = nlohmann::json;

// GPT-2's pre-tokenizer (openai/gpt-2 src/encoder.py), also the ByteLevel default in HF.
static const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
static const char* kEndOfText = "<|endoftext|>";

// ---------------------------------------------------------------------------------------
// Byte <-> unicode: GPT-2 shows each byte as a printable code point so that vocab.json and
// merges.txt are plain text. Printable Latin-1 bytes map to themselves; the other 68 bytes
// map to U+0100.. in byte order (so ' ' -> U+0120 'Ġ', '\n' -> U+010A 'Ċ').

struct ByteUnicode {
  uint32_t to_cp[256];   // byte -> code point
  int16_t to_byte[512];  // code point -> byte, -1 if not a byte's code point (all are < 512)
  ByteUnicode() {
    std::fill(std::begin(to_byte), std::end(to_byte), int16_t(-1));
    uint32_t extra = 256;
    for (int b = 0; b < 256; b++) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_cp[b] = printable ? uint32_t(b) : extra++;
      to_byte[to_cp[b]] = int16_t(b);
    }
  }
};
static const ByteUnicode& byte_unicode() {
  static const ByteUnicode t;
  return t;
}

static void append_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += char(0xE0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  } else {
    s += char(0xF0 | (cp >> 18));
    s += char(0x80 | ((cp >> 12) & 0x3F));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  }
}

// Byte-level token string (e.g. "ĠMary") -> raw bytes (" Mary"). A token with a character
// outside the byte alphabet (some added tokens) is kept as its UTF-8 text, as HF's
// ByteLevel decoder does. `mapped` says which case applied.
static std::string token_bytes(const std::string& tok, bool* mapped) {
  const ByteUnicode& bu = byte_unicode();
  std::string out;
  size_t i = 0;
  while (i < tok.size()) {
    unsigned char c = tok[i];
    uint32_t cp;
    size_t len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 6) { cp = c & 0x1F; len = 2; }
    else if ((c >> 4) == 14) { cp = c & 0x0F; len = 3; }
    else { cp = c & 0x07; len = 4; }
    if (i + len > tok.size()) break;
    for (size_t k = 1; k < len; k++) cp = (cp << 6) | (static_cast<unsigned char>(tok[i + k]) & 0x3F);
    i += len;
    if (cp >= 512 || bu.to_byte[cp] < 0) {
      *mapped = false;
      return tok;
    }
    out += char(bu.to_byte[cp]);
  }
  *mapped = (i == tok.size());
  return *mapped ? out : tok;
}

static std::string byte_token_string(unsigned char b) {
  std::string s;
  append_utf8(s, byte_unicode().to_cp[b]);
  return s;
}

// ---------------------------------------------------------------------------------------
// Pre-tokenizer regex: PCRE2 in UTF + UCP mode (so \s, \p{L} follow Unicode like the Rust
// regex HF uses). MATCH_INVALID_UTF lets encode take any bytes: invalid sequences never
// match and end up in the gaps, which are tokenized too.

struct PretokenRegex {
  pcre2_code* code = nullptr;
  ~PretokenRegex() { pcre2_code_free(code); }
};

static std::string pcre2_message(int rc) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(rc, buf, sizeof(buf));
  return reinterpret_cast<const char*>(buf);
}

static std::shared_ptr<const PretokenRegex> compile_pattern(const std::string& pattern,
                                                            const std::string& source) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off,
                                   nullptr);
  if (!code)
    throw Error(source + ": pre-tokenizer regex does not compile at offset " +
                std::to_string(off) + " (" + pcre2_message(err) + "): " + pattern);
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: the interpreter is the fallback
  auto re = std::make_shared<PretokenRegex>();
  re->code = code;
  return re;
}

// Calls fn(piece) for each regex match and each gap between matches, in order, so the
// pieces cover `text` exactly ("Isolated" split behaviour in HF terms).
template <typename Fn>
static void split_isolated(const PretokenRegex& re, std::string_view text, Fn&& fn) {
  struct MatchData {
    pcre2_match_data* md = pcre2_match_data_create(1, nullptr);  // only group 0 is read
    ~MatchData() { pcre2_match_data_free(md); }
  };
  thread_local MatchData m;
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    int rc = pcre2_match(re.code, subject, text.size(), pos, PCRE2_NOTEMPTY, m.md, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
      rc = pcre2_match(re.code, subject, text.size(), pos, PCRE2_NOTEMPTY | PCRE2_NO_JIT, m.md,
                       nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw Error("tokenizer: pre-tokenizer regex failed on the input (" + pcre2_message(rc) + ")");
    // Copied out before fn runs: fn runs the next stage, which reuses this thread's match data.
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.md);
    const size_t begin = ov[0], end = ov[1];
    if (begin > pos) fn(text.substr(pos, begin - pos));
    fn(text.substr(begin, end - begin));
    pos = end;
  }
  if (pos < text.size()) fn(text.substr(pos));
}

// ---------------------------------------------------------------------------------------
// Loading

Tokenizer::Tokenizer() { std::fill(std::begin(byte_id_), std::end(byte_id_), -1); }

static json parse_json_text(const std::string& text, const std::string& path) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(path + ": not valid JSON (error at byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception&) {  // out_of_range.406: a number beyond double's range
    throw Error(path + ": not valid JSON (a number too large for a double)");
  }
}

// A JSON value for a message: escaped, at most 60 characters.
static std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 60 ? s.substr(0, 60) + "..." : s;
}

// Typed fields of tokenizer.json objects; a present field of the wrong type names the file and
// the field instead of surfacing as a JSON library type_error. Absent or null: the fallback.
static std::string str_field(const json& o, const char* key, const std::string& fallback, const std::string& path,
                             const std::string& where) {
  if (!o.is_object() || !o.contains(key) || o[key].is_null()) return fallback;
  if (!o[key].is_string()) throw Error(path + ": " + where + key + " must be a string, got " + shown(o[key]));
  return o[key].get<std::string>();
}
static bool bool_field(const json& o, const char* key, bool fallback, const std::string& path, const std::string& where) {
  if (!o.is_object() || !o.contains(key) || o[key].is_null()) return fallback;
  if (!o[key].is_boolean()) throw Error(path + ": " + where + key + " must be true or false, got " + shown(o[key]));
  return o[key].get<bool>();
}
static std::vector<json> list_field(const json& o, const char* key, const std::string& path, const std::string& where) {
  if (!o.is_object() || !o.contains(key) || o[key].is_null()) return {};
  if (!o[key].is_array()) throw Error(path + ": " + where + key + " must be a list, got " + shown(o[key]));
  return o[key].get<std::vector<json>>();
}

// Token ids are dense in real vocabularies; a sparse one (an id far beyond the entry count) would
// make the id table huge, so ids must stay below this many past the entries. 2^18 leaves room for
// a cut-down vocabulary that keeps its special tokens at their real ids (the Llama 3 and Qwen2.5
// test tokenizers: a few hundred entries, specials at 128000 and 151643); the table then costs a
// few MB at most.
static constexpr int64_t kMaxIdGap = 1 << 18;
static constexpr int64_t kMaxTokenId = 1 << 24;

// {"token": id, ...} -> list of (token, id)
static std::vector<std::pair<std::string, int>> vocab_from_json(const json& j,
                                                               const std::string& source) {
  if (!j.is_object())
    throw Error(source + ": vocab must be a JSON object mapping token strings to ids");
  std::vector<std::pair<std::string, int>> vocab;
  vocab.reserve(j.size());
  const int64_t limit = std::min<int64_t>(kMaxTokenId, static_cast<int64_t>(j.size()) + kMaxIdGap);
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() >= limit ||
        (it.value().is_number_unsigned() && it.value().get<uint64_t>() >= static_cast<uint64_t>(limit)))
      throw Error(source + ": vocab entry " + shown(json(it.key())) + " has id " + shown(it.value()) +
                  ", expected an integer from 0 to " + std::to_string(limit - 1) + " (ids are dense)");
    vocab.emplace_back(it.key(), it.value().get<int>());
  }
  if (vocab.empty()) throw Error(source + ": vocab is empty");
  return vocab;
}

void Tokenizer::build(const std::vector<std::pair<std::string, int>>& vocab,
                      const std::vector<std::pair<std::string, std::string>>& merges,
                      const std::vector<int>& merge_lines, bool merges_are_lines,
                      const std::string& vocab_source, const std::string& source) {
  std::unordered_map<std::string, int> str_to_id;  // byte-level token string -> id
  str_to_id.reserve(vocab.size() * 2);
  int max_id = -1;
  for (const auto& [tok, id] : vocab) {
    if (!str_to_id.emplace(tok, id).second)
      throw Error(vocab_source + ": token " + shown(json(tok)) + " appears twice in the vocab");
    max_id = std::max(max_id, id);
  }
  id_to_bytes_.assign(size_t(max_id) + 1, std::string());
  id_present_.assign(size_t(max_id) + 1, 0);
  for (const auto& [tok, id] : vocab) {
    if (id_present_[id])
      throw Error(vocab_source + ": id " + std::to_string(id) + " is used by two vocab entries");
    bool mapped = false;
    id_to_bytes_[id] = token_bytes(tok, &mapped);
    id_present_[id] = 1;
    if (ignore_merges_ && mapped) bytes_to_id_.emplace(id_to_bytes_[id], id);
  }
  for (int b = 0; b < 256; b++) {
    auto it = str_to_id.find(byte_token_string(static_cast<unsigned char>(b)));
    byte_id_[b] = it == str_to_id.end() ? -1 : it->second;
  }

  merges_.reserve(merges.size() * 2);
  for (size_t r = 0; r < merges.size(); r++) {
    const std::string &left = merges[r].first, &right = merges[r].second;  // clang 14: no bindings in lambdas
    auto where = [&] {
      std::string at = merges_are_lines ? ":" + std::to_string(merge_lines[r]) + ": merge"
                                        : ": merge " + std::to_string(merge_lines[r]);
      return source + at + " " + shown(json(left + " " + right));
    };
    auto a = str_to_id.find(left), b = str_to_id.find(right), m = str_to_id.find(left + right);
    if (a == str_to_id.end() || b == str_to_id.end())
      throw Error(where() + " uses a token that is not in the vocab; vocab and merges do not match");
    if (m == str_to_id.end())
      throw Error(where() + " makes a token that is not in the vocab; vocab and merges do not match");
    // A repeated pair keeps its first (lowest) rank.
    merges_.emplace(pair_key(a->second, b->second), Merge{int(r), m->second});
  }
}

void Tokenizer::add_special(const std::string& text, int id) {
  if (text.empty() || id < 0) return;
  if (id >= kMaxTokenId || static_cast<int64_t>(id) >= static_cast<int64_t>(id_to_bytes_.size()) + kMaxIdGap)
    throw Error("added token " + shown(json(text)) + " has id " + std::to_string(id) + ", far beyond the vocab's " +
                std::to_string(id_to_bytes_.size()) + " ids");
  if (size_t(id) >= id_to_bytes_.size()) {
    id_to_bytes_.resize(size_t(id) + 1);
    id_present_.resize(size_t(id) + 1, 0);
  }
  id_to_bytes_[id] = text;  // decodes to its literal text
  id_present_[id] = 1;
  for (auto& s : specials_)
    if (s.text == text) { s.id = id; return; }
  specials_.push_back({text, id});
  std::stable_sort(specials_.begin(), specials_.end(),
                   [](const Special& a, const Special& b) { return a.text.size() > b.text.size(); });
  special_first_byte_[static_cast<unsigned char>(text[0])] = true;
  if (text == kEndOfText) eos_id_ = bos_id_ = id;
}

static std::vector<std::pair<std::string, std::string>> parse_merges_txt(
    const std::string& text, const std::string& path, std::vector<int>* lines) {
  std::vector<std::pair<std::string, std::string>> merges;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    line_no++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    size_t sp = line.find(' ');
    if (sp == 0 || sp == std::string::npos || sp + 1 == line.size() ||
        line.find(' ', sp + 1) != std::string::npos)
      throw Error(path + ":" + std::to_string(line_no) +
                  ": malformed merge line, expected two tokens separated by one space, got \"" +
                  shown(json(line.substr(0, 80))) + "\"");
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
    lines->push_back(line_no);
  }
  return merges;
}

Tokenizer Tokenizer::from_gpt2_files(const std::string& vocab_json, const std::string& merges_txt) {
  return from_gpt2_text(read_input_file(vocab_json, kMaxLargeInputBytes), read_input_file(merges_txt, kMaxLargeInputBytes),
                        vocab_json, merges_txt);
}

Tokenizer Tokenizer::from_gpt2_text(const std::string& vocab_text, const std::string& merges_text,
                                    const std::string& vocab_json, const std::string& merges_txt) {
  Tokenizer t;
  std::vector<int> lines;
  auto vocab = vocab_from_json(parse_json_text(vocab_text, vocab_json), vocab_json);
  auto merges = parse_merges_txt(merges_text, merges_txt, &lines);
  t.build(vocab, merges, lines, true, vocab_json, merges_txt);
  for (const auto& [tok, id] : vocab)
    if (tok == kEndOfText) t.add_special(tok, id);
  t.set_pattern(kGpt2Pattern, vocab_json);
  return t;
}

void Tokenizer::set_pattern(const std::string& pattern, const std::string& source) {
  regex_.push_back(compile_pattern(pattern, source));
}

// Escapes a literal for use inside a PCRE2 pattern (HF Split with {"String": ...}).
static std::string regex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}-/#").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

Tokenizer Tokenizer::from_tokenizer_json(const std::string& path) {
  return from_tokenizer_json_text(read_input_file(path, kMaxLargeInputBytes), path);
}

// tokenizer.json's normalizer: none, or NFC. NFC is not applied: inputs are assumed to be NFC
// already, which ASCII prompts always are.
static void check_normalizer(const json& j, const std::string& path) {
  if (!j.contains("normalizer") || j["normalizer"].is_null()) return;
  const json& n = j["normalizer"];
  std::vector<json> parts = str_field(n, "type", "", path, "normalizer.") == "Sequence"
                                ? list_field(n, "normalizers", path, "normalizer.")
                                : std::vector<json>{n};
  for (const json& p : parts)
    if (const std::string pt = str_field(p, "type", "?", path, "normalizer."); pt != "NFC")
      throw Error(path + ": normalizer " + shown(json(pt)) + " is not supported (only NFC or none)");
}

// model.merges in either spelling, "a b" or ["a", "b"]; lines[i] = i (the merge's rank).
static std::vector<std::pair<std::string, std::string>> merges_from_json(const json& list, const std::string& path,
                                                                         std::vector<int>& lines) {
  std::vector<std::pair<std::string, std::string>> merges;
  for (size_t i = 0; i < list.size(); i++) {
    const json& m = list[i];
    if (m.is_string()) {  // "Ġ t"
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() || s.find(' ', sp + 1) != std::string::npos)
        throw Error(path + ": merge " + std::to_string(i) + " " + shown(json(s)) + " is not two tokens separated by one space");
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {  // ["Ġ", "t"]
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      throw Error(path + ": merge " + std::to_string(i) + " is " + shown(m) + ", expected \"a b\" or [\"a\", \"b\"]");
    }
    lines.push_back(int(i));
  }
  return merges;
}

Tokenizer Tokenizer::from_tokenizer_json_text(const std::string& text, const std::string& path) {
  json j = parse_json_text(text, path);
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
    throw Error(path + ": no \"model\" object; expected a Hugging Face tokenizer.json");
  const json& model = j["model"];
  std::string type = str_field(model, "type", "BPE", path, "model.");
  if (type != "BPE")
    throw Error(path + ": model.type is \"" + type + "\"; only byte-level BPE tokenizers are supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty())
      throw Error(path + ": model." + key + " is set; only byte-level BPE (GPT-2 style) is supported");
  if (!model.contains("vocab") || !model.contains("merges") || !model["merges"].is_array())
    throw Error(path + ": model needs \"vocab\" and a \"merges\" array");

  check_normalizer(j, path);

  Tokenizer t;
  t.ignore_merges_ = bool_field(model, "ignore_merges", false, path, "model.");
  std::vector<int> lines;
  const auto merges = merges_from_json(model["merges"], path, lines);
  auto vocab = vocab_from_json(model["vocab"], path);
  t.build(vocab, merges, lines, false, path, path);

  // Pre-tokenizer: ByteLevel alone, or inside a Sequence after Split / Digits stages.
  // Each stage splits every piece of the previous one, as HF applies a Sequence.
  const json pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json();
  const std::string pw = "pre_tokenizer.";
  std::vector<json> steps = str_field(pre, "type", "", path, pw) == "Sequence" ? list_field(pre, "pretokenizers", path, pw)
                                                                                : std::vector<json>{pre};
  bool byte_level = false;
  for (const json& s : steps) {
    std::string st = s.is_object() ? str_field(s, "type", "", path, pw) : "null";
    if (st == "ByteLevel") {
      byte_level = true;
      t.add_prefix_space_ = bool_field(s, "add_prefix_space", false, path, pw);
      if (bool_field(s, "use_regex", true, path, pw)) t.set_pattern(kGpt2Pattern, path);
    } else if (st == "Split") {
      const std::string behavior = str_field(s, "behavior", "", path, pw);
      if (behavior != "Isolated" || bool_field(s, "invert", false, path, pw))
        throw Error(path + ": Split pre-tokenizer with behavior " + shown(json(behavior)) +
                    " is not supported (only Isolated, not inverted)");
      const json p = s.contains("pattern") ? s["pattern"] : json();
      if (p.is_object() && p.contains("Regex")) t.set_pattern(str_field(p, "Regex", "", path, pw + "pattern."), path);
      else if (p.is_object() && p.contains("String"))
        t.set_pattern(regex_escape(str_field(p, "String", "", path, pw + "pattern.")), path);
      else throw Error(path + ": Split pre-tokenizer has no Regex or String pattern");
    } else if (st == "Digits") {
      t.set_pattern(bool_field(s, "individual_digits", false, path, pw) ? R"(\p{N})" : R"(\p{N}+)", path);
    } else {
      throw Error(path + ": pre-tokenizer " + shown(json(st)) + " is not supported; expected ByteLevel, "
                  "possibly in a Sequence with Split or Digits");
    }
  }
  if (!byte_level)
    throw Error(path + ": no ByteLevel pre-tokenizer; only byte-level BPE (GPT-2 style) is supported");

  for (const json& a : list_field(j, "added_tokens", path, "")) {
    if (!a.is_object() || !a.contains("content") || !a["content"].is_string() || !a.contains("id") ||
        !a["id"].is_number_integer() || a["id"].get<int64_t>() < 0 || a["id"].get<int64_t>() >= kMaxTokenId)
      throw Error(path + ": added token " + shown(a) + " needs an integer \"id\" and a string \"content\"");
    try {
      t.add_special(a["content"].get<std::string>(), a["id"].get<int>());
    } catch (const Error& e) {
      throw Error(path + ": " + e.what());
    }
  }
  if (t.eos_id_ < 0)
    for (size_t id = 0; id < t.id_to_bytes_.size(); id++)
      if (t.id_present_[id] && t.id_to_bytes_[id] == kEndOfText) t.eos_id_ = t.bos_id_ = int(id);

  // Post-processor: a TemplateProcessing (alone or in a Sequence) whose single template begins
  // with a special token adds that token first (Llama 3: <|begin_of_text|>).
  if (j.contains("post_processor") && j["post_processor"].is_object()) {
    const json& pp = j["post_processor"];
    std::vector<json> procs = pp.value("type", "") == "Sequence" ? pp.value("processors", std::vector<json>{})
                                                                  : std::vector<json>{pp};
    for (const json& p : procs) {
      if (!p.is_object() || p.value("type", "") != "TemplateProcessing") continue;
      const json single = p.value("single", json::array());
      if (!single.is_array() || single.empty() || !single[0].contains("SpecialToken")) continue;
      const std::string name = single[0]["SpecialToken"].value("id", std::string());
      int id = -1;
      const json st = p.value("special_tokens", json::object());
      if (st.contains(name) && st[name].contains("ids") && st[name]["ids"].is_array() &&
          st[name]["ids"].size() == 1 && st[name]["ids"][0].is_number_integer())
        id = st[name]["ids"][0].get<int>();
      for (const Special& sp : t.specials_)
        if (id < 0 && sp.text == name) id = sp.id;
      if (id < 0)
        throw Error(path + ": post_processor template starts with '" + name +
                    "', which is not one of the tokenizer's special tokens");
      t.bos_id_ = id;
      t.adds_bos_ = true;
    }
  }
  return t;
}

std::vector<int> Tokenizer::encode_for_model(std::string_view text) const {
  std::vector<int> ids;
  if (adds_bos_) ids.push_back(bos_id_);
  std::vector<int> rest = encode(text);
  ids.insert(ids.end(), rest.begin(), rest.end());
  return ids;
}

Tokenizer Tokenizer::for_model_dir(const std::string& path) {
  const std::string dir = resolve_model_path(path);
  std::error_code ec;
  fs::path d(dir);
  // symlink_status: a dangling link or a FIFO still counts as there, so its loader names it.
  auto there = [&](const char* f) { return fs::exists(fs::symlink_status(d / f, ec)); };
  bool has_vocab = there("vocab.json"), has_merges = there("merges.txt");
  Tokenizer t;
  if (there("tokenizer.model")) {
    t = from_sentencepiece((d / "tokenizer.model").string());
  } else if (there("tokenizer.json")) {
    t = from_tokenizer_json((d / "tokenizer.json").string());
  } else if (has_vocab && has_merges) {
    t = from_gpt2_files((d / "vocab.json").string(), (d / "merges.txt").string());
  } else if (has_vocab || has_merges) {
    throw Error(dir + ": has " + (has_vocab ? "vocab.json but no merges.txt" : "merges.txt but no vocab.json") +
                "; add the missing file or a tokenizer.json");
  } else {
    fs::path bundled = fs::path(data_dir()) / "gpt2-tokenizer";
    if (!fs::exists(bundled / "vocab.json") || !fs::exists(bundled / "merges.txt"))
      throw Error(dir + ": no tokenizer.json or vocab.json+merges.txt, and the bundled GPT-2 tokenizer is missing from " +
                  bundled.string());
    t = from_gpt2_files((bundled / "vocab.json").string(), (bundled / "merges.txt").string());
  }

  // tokenizer_config.json names eos/bos for families whose tokens are not <|endoftext|>.
  fs::path cfg = d / "tokenizer_config.json";
  if (there("tokenizer_config.json")) {
    json c = parse_json_text(read_input_file(cfg.string(), kMaxSmallJsonBytes), cfg.string());
    auto lookup = [&](const char* key) -> int {
      if (!c.is_object() || !c.contains(key)) return -1;
      const json& v = c[key];
      std::string text = v.is_string() ? v.get<std::string>()
                         : v.is_object() ? str_field(v, "content", "", cfg.string(), std::string(key) + ".")
                                         : std::string();
      if (text.empty()) return -1;
      for (size_t id = 0; id < t.id_to_bytes_.size(); id++)
        if (t.id_present_[id] && t.id_to_bytes_[id] == text) return int(id);
      return -1;
    };
    if (int e = lookup("eos_token"); e >= 0) t.eos_id_ = e;
    if (int b = lookup("bos_token"); b >= 0) t.bos_id_ = b;
    // transformers' Llama/Gemma tokenizers rebuild their post-processor from add_bos_token
    if (c.is_object() && c.contains("add_bos_token") && c["add_bos_token"].is_boolean())
      t.adds_bos_ = c["add_bos_token"].get<bool>() && t.bos_id_ >= 0;
  }
  return t;
}

// ---------------------------------------------------------------------------------------
// Encoding

// BPE on one pre-tokenized piece. Symbols form a linked list over the piece's bytes; a
// min-heap holds candidate pairs ordered by (rank, position); stale entries are skipped
// when popped. O(n log n) in the piece length.
void Tokenizer::bpe(std::string_view word, std::vector<int>& out) const {
  const int n = static_cast<int>(word.size());
  if (n == 0) return;
  if (ignore_merges_) {
    auto it = bytes_to_id_.find(std::string(word));
    if (it != bytes_to_id_.end()) { out.push_back(it->second); return; }
  }
  struct Cand {
    int rank, left, a, b, merged;
  };
  auto later = [](const Cand& x, const Cand& y) {
    return x.rank != y.rank ? x.rank > y.rank : x.left > y.left;
  };
  thread_local std::vector<int> id, next, prev;  // (n) per symbol; id -1 once merged away
  thread_local std::vector<Cand> heap;
  id.resize(n);
  next.resize(n);
  prev.resize(n);
  heap.clear();
  for (int i = 0; i < n; i++) {
    unsigned char c = static_cast<unsigned char>(word[i]);
    id[i] = byte_id_[c];
    if (id[i] < 0) {
      char hex[8];
      snprintf(hex, sizeof(hex), "0x%02X", c);
      throw Error(std::string("tokenizer: the vocab has no token for byte ") + hex +
                  ", so this text cannot be encoded; a byte-level vocab needs all 256 byte tokens");
    }
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  if (n == 1) { out.push_back(id[0]); return; }
  auto push = [&](int left) {
    if (left < 0 || next[left] < 0) return;
    auto it = merges_.find(pair_key(id[left], id[next[left]]));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, left, id[left], id[next[left]], it->second.merged});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int i = 0; i + 1 < n; i++) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    Cand c = heap.back();
    heap.pop_back();
    int r = next[c.left];
    if (id[c.left] != c.a || r < 0 || id[r] != c.b) continue;  // stale
    id[c.left] = c.merged;
    id[r] = -1;
    next[c.left] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.left;
    push(prev[c.left]);
    push(c.left);
  }
  for (int i = 0; i >= 0; i = next[i]) out.push_back(id[i]);
}

void Tokenizer::encode_ordinary(std::string_view text, std::vector<int>& out) const {
  if (text.empty()) return;
  std::string prefixed;
  if (add_prefix_space_ && text[0] != ' ') {
    prefixed.reserve(text.size() + 1);
    prefixed.push_back(' ');
    prefixed.append(text);
    text = prefixed;
  }
  // Stage k splits its input and hands each piece to stage k+1; after the last, BPE.
  auto run = [&](auto& self, std::string_view piece, size_t stage) -> void {
    if (stage == regex_.size()) return bpe(piece, out);
    split_isolated(*regex_[stage], piece, [&](std::string_view p) { self(self, p, stage + 1); });
  };
  run(run, text, 0);
}

std::vector<int> Tokenizer::encode(std::string_view text) const {
  if (spm_) return encode_sentencepiece(text);
  std::vector<int> out;
  out.reserve(text.size() / 3 + 4);
  size_t start = 0;  // start of the text not yet encoded
  for (size_t i = 0; i < text.size();) {
    const Special* hit = nullptr;
    if (special_first_byte_[static_cast<unsigned char>(text[i])])
      for (const Special& s : specials_)  // longest first
        if (text.compare(i, s.text.size(), s.text) == 0) { hit = &s; break; }
    if (!hit) { i++; continue; }
    encode_ordinary(text.substr(start, i - start), out);
    out.push_back(hit->id);
    i += hit->text.size();
    start = i;
  }
  encode_ordinary(text.substr(start), out);
  return out;
}

const std::string& Tokenizer::bytes_of(int id) const {
  if (id < 0 || id >= vocab_size() || !id_present_[id])
    throw Error("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                std::to_string(vocab_size()) + ")");
  return id_to_bytes_[id];
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  if (spm_) return decode_sentencepiece(ids);
  std::string s;
  for (int id : ids) s += bytes_of(id);
  return s;
}

std::string Tokenizer::token_text(int id) const { return bytes_of(id); }

int Tokenizer::single_token(std::string_view text) const {
  if (spm_) return single_piece(text);
  std::vector<int> ids = encode(text);
  return ids.size() == 1 ? ids[0] : -1;
}

}  // namespace cs
