// Training throughput: target tokens per second of full training steps (forward, sampled-softmax
// loss, backward, AdamW) on the toy-gpt2-4l shape and the generated corpus. Prints one table.
#include <cstdio>

#include "bench_util.h"
#include "model/init.h"
#include "ops/process_setup.h"
#include "train/corpus.h"
#include "train/trainer.h"

int main(int, char** argv) {
  cs::setup_process(argv);
  using namespace cs;
  const Tokenizer tok = Tokenizer::from_gpt2_files(CS_SOURCE_DIR "/data/gpt2-tokenizer/vocab.json",
                                                   CS_SOURCE_DIR "/data/gpt2-tokenizer/merges.txt");
  CorpusOptions o;
  o.n_docs = 2000;
  const Corpus corpus = make_corpus(tok, o);
  std::printf("%-12s %5s %5s %8s %10s %12s\n", "preset", "B", "T", "steps", "s/step", "tokens/s");
  for (const char* preset : {"gpt2-tiny", "toy-gpt2-4l"}) {
    for (int T : {64, 128}) {
      ModelConfig mc = preset_config(preset);
      if (T > mc.n_ctx) continue;
      Model m = random_model(mc, 0);
      TrainConfig c;
      c.seq_len = T;
      c.batch = 16;
      c.steps = 6;
      c.warmup = 2;
      const Timer timer;
      train_on_docs(m, corpus.docs, tok.eos_id(), c);
      const double dt = timer.seconds() / c.steps;
      // Rows are packed close to full; count T targets per row (an upper bound within ~5%).
      std::printf("%-12s %5d %5d %8d %10.3f %12.0f\n", preset, c.batch, T, c.steps, dt, c.batch * T / dt);
    }
  }
  return 0;
}
