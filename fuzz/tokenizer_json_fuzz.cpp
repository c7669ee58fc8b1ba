// Hugging Face tokenizer.json (the input is "tokenizer.json\0text"): the loader (model, merges in
// both spellings, pre-tokenizer stages, user regexes, added tokens), then encode and decode.
#include "fuzz.h"
#include "model/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cs::fuzz::run([&] {
    const auto p = cs::fuzz::parts(data, size, 2);
    const cs::Tokenizer t = cs::Tokenizer::from_tokenizer_json_text(p[0], "tokenizer.json");
    const std::vector<int> ids = t.encode(p[1]);
    (void)t.decode(ids);  // not always p[1]: an added token's text may come out of plain bytes
    for (int id : ids) (void)t.token_text(id);
    (void)t.single_token(p[1]);
  });
}
