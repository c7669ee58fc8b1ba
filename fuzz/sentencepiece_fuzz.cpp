// tokenizer.model (SentencePiece, through libsentencepiece; the input is "model\0text"): loading
// the serialized model, then encode and decode.
#include "fuzz.h"
#include "model/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cs::fuzz::run([&] {
    // The model is binary: its part is everything before the last NUL-free tail.
    std::string s(reinterpret_cast<const char*>(data), size), text;
    if (const size_t z = s.rfind('\0'); z != std::string::npos && size - z <= 64) text = s.substr(z + 1), s.resize(z);
    const cs::Tokenizer t = cs::Tokenizer::from_sentencepiece_bytes(s, "tokenizer.model");
    const std::vector<int> ids = t.encode(text);
    (void)t.decode(ids);
    for (int id : ids) (void)t.token_text(id);
    (void)t.single_token(text);
  });
}
