// vocab.json + merges.txt (the input is "vocab\0merges\0text"): the loader, then encode and
// decode of the text, which must round-trip.
#include "fuzz.h"
#include "model/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cs::fuzz::run([&] {
    const auto p = cs::fuzz::parts(data, size, 3);
    const cs::Tokenizer t = cs::Tokenizer::from_gpt2_text(p[0], p[1], "vocab.json", "merges.txt");
    const std::vector<int> ids = t.encode(p[2]);
    if (t.decode(ids) != p[2]) __builtin_trap();  // byte-level BPE is lossless
    for (int id : ids) (void)t.token_text(id);
    (void)t.single_token(p[2]);
  });
}
