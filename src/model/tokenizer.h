// Tokenizer: byte-level BPE as used by GPT-2 (Radford et al. 2019, sec. 2.2) and by the
// Hugging Face "ByteLevel" tokenizers of GPT-NeoX, Pythia and Llama 3.
//
// encode: split out added/special tokens literally, pre-tokenize each remaining span with a
// PCRE2 regex, then run BPE on the raw bytes of each piece (merges applied lowest rank
// first, leftmost first on ties, as in Hugging Face tokenizers). Tokens are stored as raw
// bytes, so decode(encode(s)) == s for any byte string, valid UTF-8 or not.
//
// SentencePiece models (tokenizer.model of Llama 1/2, Mistral, Gemma) go through Debian's
// libsentencepiece instead (tokenizer_sentencepiece.cpp): the library encodes and decodes, and
// token_text shows the piece with its "\u2581" as a space and a byte piece <0xNN> as that byte.
//
// Immutable after construction: every method is const and safe to call from many threads.
// encode does not add BOS/EOS; callers prepend bos_id() where a task asks for it, or where
// transformers' tokenizer(text) would (adds_bos(): Llama 3's TemplateProcessing post-processor,
// Gemma's and Llama 2's add_bos_token), which encode_for_model does.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace cs {

struct PretokenRegex;  // compiled PCRE2 pattern, defined in tokenizer.cpp

class Tokenizer {
 public:
  Tokenizer();  // empty (no vocab, encode throws); use a factory below
  // vocab.json + merges.txt (OpenAI GPT-2 files). "<|endoftext|>" becomes a special token.
  static Tokenizer from_gpt2_files(const std::string& vocab_json, const std::string& merges_txt);
  // The same from the files' contents (the paths name them in messages); the fuzz targets use
  // these three *_text / *_bytes entry points.
  static Tokenizer from_gpt2_text(const std::string& vocab_text, const std::string& merges_text,
                                  const std::string& vocab_json, const std::string& merges_txt);
  // Hugging Face tokenizer.json with model.type == "BPE" and a ByteLevel pre-tokenizer,
  // possibly inside a Sequence with Split/Digits stages, run in order as HF does; with
  // ByteLevel.use_regex false (Llama 3) the Split regex replaces GPT-2's.
  // added_tokens are matched literally before pre-tokenization (their lstrip/rstrip/
  // single_word flags are ignored). An NFC normalizer is accepted but not applied.
  // model.ignore_merges (Llama 3) is honoured; a Digits pre-tokenizer stage is supported.
  static Tokenizer from_tokenizer_json(const std::string& path);
  static Tokenizer from_tokenizer_json_text(const std::string& text, const std::string& path);
  // A SentencePiece model file (tokenizer.model). Its bos/eos pieces are bos_id/eos_id.
  static Tokenizer from_sentencepiece(const std::string& path);
  static Tokenizer from_sentencepiece_bytes(const std::string& bytes, const std::string& path);
  // dir/tokenizer.model (SentencePiece), else dir/tokenizer.json, else dir/vocab.json +
  // dir/merges.txt, else the bundled GPT-2 files
  // (CS_SOURCE_DIR "/data/gpt2-tokenizer"). dir/tokenizer_config.json, when present, may
  // name the eos/bos tokens.
  static Tokenizer for_model_dir(const std::string& dir);

  std::vector<int> encode(std::string_view text) const;
  std::string decode(const std::vector<int>& ids) const;
  std::string token_text(int id) const;           // raw bytes of one token, e.g. " Mary"
  int single_token(std::string_view text) const;  // id if text is exactly one token, else -1
  int vocab_size() const { return static_cast<int>(id_to_bytes_.size()); }
  int eos_id() const { return eos_id_; }          // "<|endoftext|>" or -1
  int bos_id() const { return bos_id_; }          // same as eos for GPT-2
  // Whether transformers' tokenizer(text) puts bos_id() first: tokenizer.json's post_processor
  // (a TemplateProcessing whose single-sequence template starts with a special token, alone or in
  // a Sequence), overridden by tokenizer_config.json's add_bos_token when it has one.
  bool adds_bos() const { return adds_bos_; }
  // encode(text), with BOS first when adds_bos(): the ids transformers' tokenizer(text) gives.
  std::vector<int> encode_for_model(std::string_view text) const;

 private:
  struct Merge {
    int rank;    // line order in merges.txt: lower merges first
    int merged;  // id of the concatenated token
  };
  struct Special {
    std::string text;
    int id;
  };

  static uint64_t pair_key(int a, int b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  // Shared by both loaders. vocab: byte-level token string -> id; merges: (left, right)
  // token strings in rank order. `vocab_source` and `source` name the vocab's and the merges'
  // files in error messages.
  void build(const std::vector<std::pair<std::string, int>>& vocab,
             const std::vector<std::pair<std::string, std::string>>& merges,
             const std::vector<int>& merge_lines, bool merges_are_lines,
             const std::string& vocab_source, const std::string& source);
  void add_special(const std::string& text, int id);
  void set_pattern(const std::string& pattern, const std::string& source);
  void encode_ordinary(std::string_view text, std::vector<int>& out) const;
  std::vector<int> encode_sentencepiece(std::string_view text) const;
  std::string decode_sentencepiece(const std::vector<int>& ids) const;
  int single_piece(std::string_view text) const;
  void bpe(std::string_view word, std::vector<int>& out) const;
  const std::string& bytes_of(int id) const;

  std::vector<std::string> id_to_bytes_;  // (vocab_size) raw bytes; specials: literal text
  std::vector<uint8_t> id_present_;       // (vocab_size) 0 where the id space has a hole
  int byte_id_[256];                      // id of the single-byte token, -1 if none
  std::unordered_map<uint64_t, Merge> merges_;       // pair_key(left, right) -> merge
  std::unordered_map<std::string, int> bytes_to_id_; // only filled when ignore_merges_
  std::vector<Special> specials_;         // longest first, so the longest literal wins
  bool special_first_byte_[256] = {};
  // Pre-tokenizer stages, applied in order (each splits every piece of the one before);
  // empty: each span between specials is one BPE word. Shared, immutable, across copies.
  std::vector<std::shared_ptr<const PretokenRegex>> regex_;
  bool add_prefix_space_ = false;
  bool ignore_merges_ = false;  // Llama 3: a piece already in the vocab is one token
  int eos_id_ = -1;
  int bos_id_ = -1;
  bool adds_bos_ = false;
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> spm_;  // set: a SentencePiece model
};

}  // namespace cs
