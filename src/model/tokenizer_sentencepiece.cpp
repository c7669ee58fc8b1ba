// Tokenizer::from_sentencepiece (tokenizer.h): SentencePiece models through libsentencepiece.
#include <sentencepiece_processor.h>

#include <cstring>

#include "model/tokenizer.h"
#include "ops/error.h"
#include "ops/files.h"

namespace cs {

namespace {

constexpr const char* kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's word-boundary mark

// Raw text of a piece: "\u2581" -> ' ', "<0xNN>" (byte fallback) -> that byte.
std::string piece_text(const std::string& piece, bool is_byte) {
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
  if (is_byte && piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>' && hex(piece[3]) >= 0 &&
      hex(piece[4]) >= 0)
    return std::string(1, static_cast<char>(hex(piece[3]) * 16 + hex(piece[4])));
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, 3, kSpace) == 0) out += ' ', i += 3;
    else out += piece[i++];
  }
  return out;
}

}  // namespace

Tokenizer Tokenizer::from_sentencepiece(const std::string& path) {
  // Read here, not by the library: a FIFO, a directory or /dev/zero fails with the path named.
  return from_sentencepiece_bytes(read_input_file(path, kMaxLargeInputBytes), path);
}

Tokenizer Tokenizer::from_sentencepiece_bytes(const std::string& bytes, const std::string& path) {
  auto sp = std::make_shared<sentencepiece::SentencePieceProcessor>();
  std::string problem;
  try {
    const auto status = sp->LoadFromSerializedProto(bytes);
    if (!status.ok()) problem = status.ToString();
  } catch (const std::exception& e) {  // its trie builder (darts_clone) throws on some bad models
    problem = e.what();
  }
  if (!problem.empty())
    throw Error(path + ": not a readable SentencePiece model (" + problem +
                "); replace it with the model's own tokenizer.model, or remove it to use tokenizer.json");
  Tokenizer t;
  const int n = sp->GetPieceSize();
  t.id_to_bytes_.resize(static_cast<size_t>(n));
  t.id_present_.assign(static_cast<size_t>(n), 1);
  std::memset(t.byte_id_, -1, sizeof(t.byte_id_));
  for (int id = 0; id < n; ++id) {
    t.id_to_bytes_[static_cast<size_t>(id)] = piece_text(sp->IdToPiece(id), sp->IsByte(id));
    if (sp->IsByte(id)) t.byte_id_[static_cast<unsigned char>(t.id_to_bytes_[static_cast<size_t>(id)][0])] = id;
  }
  t.eos_id_ = sp->eos_id();
  t.bos_id_ = sp->bos_id();
  t.spm_ = std::move(sp);
  return t;
}

std::vector<int> Tokenizer::encode_sentencepiece(std::string_view text) const {
  std::vector<int> ids;
  std::string problem;
  try {
    const auto status = spm_->Encode(text, &ids);
    if (!status.ok()) problem = status.ToString();
  } catch (const std::exception& e) {
    problem = e.what();
  }
  if (!problem.empty()) throw Error("SentencePiece could not encode the text: " + problem);
  return ids;
}

std::string Tokenizer::decode_sentencepiece(const std::vector<int>& ids) const {
  for (int id : ids) bytes_of(id);  // range check with our message
  std::string s, problem;
  try {
    const auto status = spm_->Decode(ids, &s);
    if (!status.ok()) problem = status.ToString();
  } catch (const std::exception& e) {
    problem = e.what();
  }
  if (!problem.empty()) throw Error("SentencePiece could not decode the ids: " + problem);
  return s;
}

// The piece whose text is exactly `text` (spaces as "\u2581"), e.g. " Mary" -> "\u2581Mary"; -1 if
// none. (Encoding " Mary" alone would add the model's dummy-prefix space.)
int Tokenizer::single_piece(std::string_view text) const {
  if (text.empty()) return -1;
  std::string piece;
  for (char c : text) {
    if (c == ' ') piece += kSpace;
    else piece += c;
  }
  const int id = spm_->PieceToId(piece);
  if (id == spm_->unk_id() && piece != spm_->IdToPiece(id)) return -1;
  if (spm_->IsControl(id)) return -1;
  return id;
}

}  // namespace cs
