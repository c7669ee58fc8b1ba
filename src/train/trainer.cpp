#include "train/trainer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "interp/task.h"
#include "model/data_dir.h"
#include "model/init.h"
#include "model/save.h"
#include "ops/format.h"
#include "ops/adam.h"
#include "ops/error.h"
#include "ops/files.h"
#include "train/trainer_state.h"
#include "ops/timer.h"

namespace cs {
namespace {

// The f32 elements of a trained Tensor or (f32) Weight: the trainer reads and updates them in place.
struct Elements {
  std::vector<int64_t>* shape;
  std::vector<float, DefaultInitAllocator<float>>* data;
  float* ptr() const { return data->data(); }
  int64_t numel() const { return static_cast<int64_t>(data->size()); }
};
template <class T>
Elements elements_of(T& t) {
  if constexpr (std::is_same_v<T, Weight>) t.ptr();  // throws for a bf16/f16 weight: training is f32
  return {&t.shape, &t.data};
}

// One trained tensor with its gradient. Embedding: only the step's vocabulary rows move.
struct Param {
  Elements p;
  Elements g;
  bool decay;
  bool embed;
};

std::vector<Param> params_of(Weights& w, Weights& g) {
  std::vector<Param> r;
  auto add = [&](auto& p, auto& gp, bool decay, bool embed = false) {
    if (!p.empty()) r.push_back({elements_of(p), elements_of(gp), decay, embed});
  };
  add(w.W_E, g.W_E, false, true);
  add(w.W_pos, g.W_pos, false);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    LayerWeights &a = w.layers[l], &b = g.layers[l];
    add(a.ln1_w, b.ln1_w, false), add(a.ln1_b, b.ln1_b, false);
    add(a.W_qkv, b.W_qkv, true), add(a.b_qkv, b.b_qkv, false);
    add(a.W_O, b.W_O, true), add(a.b_O, b.b_O, false);
    add(a.ln2_w, b.ln2_w, false), add(a.ln2_b, b.ln2_b, false);
    add(a.W_in, b.W_in, true), add(a.b_in, b.b_in, false);
    add(a.W_gate, b.W_gate, true);
    add(a.W_out, b.W_out, true), add(a.b_out, b.b_out, false);
  }
  add(w.lnf_w, g.lnf_w, false), add(w.lnf_b, g.lnf_b, false);
  return r;
}

// The optimizer and data state of one run; step() is one AdamW update.
struct Run {
  const TrainConfig& cfg;
  Model& m;
  Gradients grads;
  std::vector<Param> params;
  std::vector<Tensor> m1, m2;  // Adam moments, parallel to params
  std::vector<Tensor> avg;     // cfg.ema > 0: moving average of params (embedding: corpus rows)
  std::vector<std::vector<int>> rows;
  std::vector<int32_t> vocab;  // corpus ids, sorted
  std::vector<int> perm;       // row order of epoch perm_epoch
  int64_t perm_epoch = -1;
  int64_t tokens = 0;          // target tokens seen
  int32_t unseen_rep = -1;     // the smallest id outside the corpus (-1: the corpus has every id)
  std::vector<int32_t> softmax_rows;  // vocab plus unseen_rep, sorted
  std::vector<float> log_count;       // per softmax row: log(#unseen ids) for unseen_rep, else 0

  Run(const TrainConfig& c, Model& model, std::vector<std::vector<int>> r, std::vector<int32_t> v)
      : cfg(c), m(model), rows(std::move(r)), vocab(std::move(v)) {
    if (!m.cfg.tied_embeddings) throw Error("train: only tied-embedding GPT-2 models are supported");
    if (rows.empty()) throw Error("train: the corpus packs into no rows");
    grads = Gradients::zeros_like(m);
    params = params_of(m.w, grads.w);
    for (const Param& p : params) m1.emplace_back(*p.p.shape), m2.emplace_back(*p.p.shape);
    for (int32_t id = 0; id < m.cfg.vocab_size && unseen_rep < 0; ++id)
      if (!std::binary_search(vocab.begin(), vocab.end(), id)) unseen_rep = id;
    set_softmax_rows();
    tie_unseen();
    if (cfg.ema > 0) {
      if (!(cfg.ema < 1)) throw Error("train: --ema wants a decay in [0, 1), got " + std::to_string(cfg.ema));
      for (const Param& p : params) {
        Tensor copy(*p.p.shape);
        copy.data = *p.p.data;
        avg.push_back(std::move(copy));
      }
    }
  }

  // avg = ema avg + (1 - ema) params; the embedding's rows outside the corpus never move.
  void update_average() {
    if (avg.empty()) return;
    const float a = cfg.ema, b = 1.0f - cfg.ema;
    const int64_t D = m.cfg.d_model;
    for (size_t k = 0; k < params.size(); ++k) {
      const float* p = params[k].p.ptr();
      float* q = avg[k].ptr();
      if (params[k].embed) {
        for (int32_t r : softmax_rows)
          for (int64_t d = 0; d < D; ++d) q[r * D + d] = a * q[r * D + d] + b * p[r * D + d];
      } else {
        const int64_t n = avg[k].numel();
#pragma omp parallel for simd schedule(static) if (parallel: n > 65536)
        for (int64_t i = 0; i < n; ++i) q[i] = a * q[i] + b * p[i];
      }
    }
  }
  // Exchanges the model's weights with the average (a second call puts them back); the tied
  // unembedding and the shared unseen rows follow.
  void swap_average() {
    if (avg.empty()) return;
    for (size_t k = 0; k < params.size(); ++k) std::swap(*params[k].p.data, avg[k].data);
    const int64_t D = m.cfg.d_model;
    for (int32_t r : softmax_rows) std::memcpy(m.w.W_U.ptr() + r * D, m.w.W_E.ptr() + r * D, sizeof(float) * D);
    tie_unseen();
  }

  const std::vector<int>& row_at(int64_t i) {
    const int64_t n = static_cast<int64_t>(rows.size());
    const int64_t e = i / n;
    if (e != perm_epoch) {  // a seeded Fisher-Yates permutation per epoch
      perm.resize(rows.size());
      for (size_t k = 0; k < perm.size(); ++k) perm[k] = static_cast<int>(k);
      SplitMix64 r(cfg.seed, 0xe0000ull + static_cast<uint64_t>(e));
      for (size_t k = perm.size(); k > 1; --k) std::swap(perm[k - 1], perm[static_cast<size_t>(r.below(static_cast<int>(k)))]);
      perm_epoch = e;
    }
    return rows[static_cast<size_t>(perm[static_cast<size_t>(i % n)])];
  }

  // The step's softmax rows (the same every step): the corpus ids plus one representative of
  // every other id. Those never occur in the corpus (never an input, never a target) and share one
  // embedding row (tie_unseen), so their column, with log(count) added, makes the softmax the full
  // one.
  void set_softmax_rows() {
    softmax_rows = vocab;
    log_count.assign(vocab.size(), 0.0f);
    if (unseen_rep < 0) return;
    const auto at = std::upper_bound(softmax_rows.begin(), softmax_rows.end(), unseen_rep);
    const auto k = at - softmax_rows.begin();
    softmax_rows.insert(at, unseen_rep);
    const int64_t n_unseen = m.cfg.vocab_size - static_cast<int64_t>(vocab.size());
    log_count.insert(log_count.begin() + k, static_cast<float>(std::log(static_cast<double>(n_unseen))));
  }
  // Copies the representative's row to every id outside the corpus (W_E and the tied W_U).
  void tie_unseen() {
    if (unseen_rep < 0) return;
    const int64_t D = m.cfg.d_model;
    const float* rep = m.w.W_E.ptr() + int64_t{unseen_rep} * D;
    size_t k = 0;
    for (int32_t id = 0; id < m.cfg.vocab_size; ++id) {
      while (k < vocab.size() && vocab[k] < id) ++k;
      if ((k < vocab.size() && vocab[k] == id) || id == unseen_rep) continue;
      std::memcpy(m.w.W_E.ptr() + int64_t{id} * D, rep, sizeof(float) * D);
      std::memcpy(m.w.W_U.ptr() + int64_t{id} * D, rep, sizeof(float) * D);
    }
  }

  struct StepOut {
    float loss, grad_norm, lr;
    int64_t tokens;
  };

  StepOut step(int s) {
    const int T = cfg.seq_len;
    std::vector<std::vector<int>> in;
    std::vector<std::vector<int>> tg;
    for (int b = 0; b < cfg.batch; ++b) {
      const std::vector<int>& r = row_at(int64_t{s} * cfg.batch + b);
      const size_t L = std::min(r.size(), static_cast<size_t>(T) + 1);
      in.emplace_back(r.begin(), r.begin() + static_cast<long>(L) - 1);
      tg.emplace_back(r.begin() + 1, r.begin() + static_cast<long>(L));
    }
    Batch batch = Batch::from_sequences(in);
    std::vector<int32_t> targets(static_cast<size_t>(batch.B) * batch.T, -1);
    int64_t n_tok = 0;
    for (int b = 0; b < batch.B; ++b) {
      std::copy(tg[b].begin(), tg[b].end(), targets.begin() + static_cast<long>(b) * batch.T);
      n_tok += static_cast<int64_t>(tg[b].size());
    }
    const std::vector<int32_t>& rows_v = softmax_rows;
    const float loss = train_step_loss_and_grad(m, batch, targets, rows_v, &grads, log_count);
    const int64_t D = m.cfg.d_model;
    // Tied embedding: the lookup's and the unembedding's gradients meet in W_E's rows.
    float* gE = grads.w.W_E.ptr();
    const float* gU = grads.w.W_U.ptr();
    for (int32_t r : rows_v)
      for (int64_t d = 0; d < D; ++d) gE[r * D + d] += gU[r * D + d];
    // Global gradient norm (embedding: the step's rows; every other row's gradient is 0).
    double sq = 0;
    for (const Param& p : params) {
      const float* g = p.g.ptr();
      if (p.embed) {
        for (int32_t r : rows_v)
          for (int64_t d = 0; d < D; ++d) sq += double(g[r * D + d]) * g[r * D + d];
      } else {
        for (int64_t i = 0; i < p.g.numel(); ++i) sq += double(g[i]) * g[i];
      }
    }
    const float norm = static_cast<float>(std::sqrt(sq));
    const float scale = (cfg.clip > 0 && norm > cfg.clip) ? cfg.clip / norm : 1.0f;
    const float lr = lr_at(cfg, s);
    const AdamStep<float> adam(lr, s + 1, cfg.beta1, cfg.beta2, cfg.eps);
    const float keep = 1.0f - lr * cfg.weight_decay;  // AdamW's decoupled decay
    auto update = [&](float* p, const float* g, float* mm, float* vv, int64_t n, bool decay) {
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i)
        p[i] = adam.update(decay ? p[i] * keep : p[i], g[i] * scale, mm[i], vv[i]);
    };
    for (size_t k = 0; k < params.size(); ++k) {
      const Param& p = params[k];
      if (p.embed) {
        for (int32_t r : rows_v)
          update(p.p.ptr() + r * D, p.g.ptr() + r * D, m1[k].ptr() + r * D, m2[k].ptr() + r * D, D, false);
      } else {
        update(p.p.ptr(), p.g.ptr(), m1[k].ptr(), m2[k].ptr(), p.p.numel(), p.decay);
      }
    }
    for (int32_t r : rows_v)  // keep the tied copy in step
      std::memcpy(m.w.W_U.ptr() + r * D, m.w.W_E.ptr() + r * D, sizeof(float) * D);
    tokens += n_tok;
    update_average();
    return {loss, norm, lr, n_tok};
  }

  TrainerState state(int next_step) const {
    TrainerState st;
    st.next_step = next_step;
    st.tokens = tokens;
    for (size_t k = 0; k < params.size(); ++k) {
      st.m1.emplace_back(m1[k].data.begin(), m1[k].data.end());
      st.m2.emplace_back(m2[k].data.begin(), m2[k].data.end());
    }
    return st;
  }

  // Restores the moments and token count; returns the step to continue from (<= cfg.steps).
  int load_state(const std::string& path) {
    std::vector<int64_t> sizes;
    for (const Tensor& t : m1) sizes.push_back(t.numel());
    const TrainerState st = read_trainer_state(path, sizes, cfg.steps);
    for (size_t k = 0; k < params.size(); ++k) {
      std::copy(st.m1[k].begin(), st.m1[k].end(), m1[k].data.begin());
      std::copy(st.m2[k].begin(), st.m2[k].end(), m2[k].data.begin());
    }
    tokens = st.tokens;
    return static_cast<int>(st.next_step);
  }
};

// A model directory (weights, the bundled GPT-2 tokenizer, the held-out induction words, and
// whatever `extra` writes into it), replaced as a whole: a failure leaves the previous one.
void write_model_dir(const Model& m, const std::string& dir, DType dt,
                     const std::function<void(const std::string&)>& extra = nullptr) {
  StagedDir out(dir);
  write_model_files(m, out.dir(), dt);
  // Training rows start at a document start without BOS (pack_rows), and the held-out scores are
  // measured that way: say so in TransformerLens's key, which circuitscan's commands follow.
  {
    const std::string cfg = out.path("config.json");
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(read_input_file(cfg, kMaxLargeInputBytes));
    j["default_prepend_bos"] = false;
    write_file_atomic(cfg, j.dump(2) + "\n");
  }
  const std::string src = data_dir() + "/gpt2-tokenizer/";
  for (const char* f : {"vocab.json", "merges.txt"})
    write_file_atomic(out.path(f), read_input_file(src + f, kMaxLargeInputBytes));
  // The held-out words of the evaluation's induction score, for `--task induction` on this model
  // (the default pool holds thousands of words the corpus never uses).
  const Tokenizer tok = Tokenizer::for_model_dir(src);
  std::string words;
  for (int id : lexicon_pool_split(tok, true)) words += tok.token_text(id).substr(1) + "\n";
  write_file_atomic(own_induction_words_path(out.dir()), words);
  if (extra) extra(out.dir());
  out.commit();
}

}  // namespace

float lr_at(const TrainConfig& c, int step) {
  if (step < c.warmup) return c.lr * static_cast<float>(step + 1) / static_cast<float>(c.warmup);
  const double span = std::max(1, c.steps - c.warmup);
  const double t = std::min(1.0, (step - c.warmup) / span);
  const double cosv = 0.5 * (1.0 + std::cos(M_PI * t));
  return static_cast<float>(c.lr * (c.min_lr_frac + (1.0 - c.min_lr_frac) * cosv));
}

double TaskScores::target_ratio() const {
  return std::min({ioi_acc / 0.95, gt_prob_diff / 0.6, docstring_acc / 0.8, induction_acc / 0.9});
}

double TaskScores::progress() const {
  auto c = [](double x) { return std::clamp(x, 0.0, 1.0); };
  const double capped = (c(ioi_acc / 0.95) + c(gt_prob_diff / 0.6) + c(docstring_acc / 0.8) + c(induction_acc / 0.9)) / 4;
  // Ties (every met target counts 1) go to the higher raw scores, train-word induction included.
  const double raw = (ioi_acc + gt_prob_diff + docstring_acc + induction_acc + induction_acc_train) / 5;
  return capped + 1e-3 * raw;
}

std::string TaskScores::str() const {
  return "ioi acc (IO above every other name) " + fmt("%.3f", ioi_acc) + " (logit diff IO - S " +
         fmt("%.2f", ioi_logit_diff) + ", n " + std::to_string(n_ioi) + "), greater-than prob diff " +
         fmt("%.3f", gt_prob_diff) + " (n " + std::to_string(n_gt) + "), docstring acc (answer above the other names) " +
         fmt("%.3f", docstring_acc) + " (n " + std::to_string(n_docstring) +
         "), induction top-1 acc (argmax = the repeated word, second half) " + fmt("%.3f", induction_acc) +
         " (train words " + fmt("%.3f", induction_acc_train) + ", n " + std::to_string(n_induction) + ")";
}

std::vector<float> train_on_docs(Model& m, const std::vector<std::vector<int>>& docs, int eos,
                                 const TrainConfig& cfg) {
  std::vector<int32_t> vocab = {eos};
  for (const auto& d : docs) vocab.insert(vocab.end(), d.begin(), d.end());
  std::sort(vocab.begin(), vocab.end());
  vocab.erase(std::unique(vocab.begin(), vocab.end()), vocab.end());
  Run run(cfg, m, pack_rows(docs, cfg.seq_len, eos), vocab);
  std::vector<float> losses;
  for (int s = 0; s < cfg.steps; ++s) losses.push_back(run.step(s).loss);
  run.tie_unseen();
  run.swap_average();  // with cfg.ema: the averaged weights
  return losses;
}

TrainResult train(const TrainConfig& cfg_in, const Tokenizer& tok,
                  const std::function<void(const std::string&)>& print) {
  TrainConfig cfg = cfg_in;
  auto say = [&](const std::string& s) {
    if (print) print(s);
  };
  const Timer run_timer;
  Model m = cfg.resume.empty() ? random_model(preset_config(cfg.preset), cfg.seed, cfg.init_std)
                               : load_model(cfg.resume, {.precision = Precision::Exact});
  to_f32_weights(m);  // training updates f32 weights in place, whatever the checkpoint's dtype
  if (cfg.seq_len > m.cfg.n_ctx)
    throw Error("train: --seq-len " + std::to_string(cfg.seq_len) + " exceeds the model's n_ctx " +
                std::to_string(m.cfg.n_ctx));
  cfg.corpus.seed = cfg.seed;
  const Corpus corpus = make_corpus(tok, cfg.corpus);
  TrainResult res;
  res.corpus_docs = static_cast<int64_t>(corpus.docs.size());
  res.corpus_tokens = corpus.n_tokens;
  res.vocab_rows = static_cast<int64_t>(corpus.vocab.size());
  Run run(cfg, m, pack_rows(corpus.docs, cfg.seq_len, tok.eos_id()), corpus.vocab);
  say("corpus: " + std::to_string(corpus.docs.size()) + " documents, " + std::to_string(corpus.n_tokens) +
      " tokens, " + std::to_string(run.rows.size()) + " rows of " + std::to_string(cfg.seq_len) +
      ", full softmax: " + std::to_string(corpus.vocab.size()) + " corpus ids + 1 row shared by the " +
      std::to_string(m.cfg.vocab_size - static_cast<int64_t>(corpus.vocab.size())) + " others (" +
      fmt("%.1f", run_timer.seconds()) + " s)");
  int start = 0;
  if (!cfg.resume.empty()) {
    start = run.load_state(cfg.resume + "/trainer_state.bin");
    say("resumed from " + cfg.resume + " at step " + std::to_string(start));
  }
  double best = -1e9;
  auto evaluate = [&](int step) {
    run.tie_unseen();
    run.swap_average();  // with --ema, the average is scored and saved
    const TaskScores sc = evaluate_heldout(m, tok, cfg.eval_n, cfg.seed + 1000003);
    say("eval step " + std::to_string(step) + ": " + sc.str());
    res.final_scores = sc;
    if (sc.progress() > best) {
      best = sc.progress();
      res.best_scores = sc;
      res.best_step = step;
      if (!cfg.out.empty()) {
        write_model_dir(m, cfg.out, DType::F16);
        say(std::string("saved best model (F16") + (cfg.ema > 0 ? ", weight average" : "") + ") to " + cfg.out);
      }
    }
    run.swap_average();
  };
  auto checkpoint = [&](int next_step) {
    if (cfg.out.empty()) return;
    const std::string dir = cfg.out + "/checkpoint";
    run.tie_unseen();
    write_model_dir(m, dir, DType::F32, [&](const std::string& staged) {
      write_file_atomic(staged + "/trainer_state.bin", trainer_state_bytes(run.state(next_step)));
    });
    say("checkpoint " + dir + " (step " + std::to_string(next_step) + ")");
  };

  const double t_train = run_timer.seconds();
  double t_log = t_train;
  int64_t tok_log = 0;
  double loss_sum = 0;
  int loss_n = 0;
  int s = start;
  const int last = cfg.stop_after > 0 ? std::min(cfg.steps, cfg.stop_after) : cfg.steps;
  for (; s < last; ++s) {
    const Run::StepOut o = run.step(s);
    if (!std::isfinite(o.loss))
      throw Error("train: the loss is " + fmt("%g", o.loss) + " at step " + std::to_string(s + 1) +
                  ": training diverged; lower --lr or set --clip");
    loss_sum += o.loss, ++loss_n;
    tok_log += o.tokens;
    if ((s + 1) % cfg.log_every == 0 || s + 1 == last) {
      const double now = run_timer.seconds();
      TrainLogLine l{s + 1, static_cast<float>(loss_sum / loss_n), o.lr, o.grad_norm,
                     tok_log / std::max(1e-9, now - t_log), now, run.tokens};
      res.log.push_back(l);
      if (res.log.size() == 1) res.first_loss = l.loss;
      res.final_loss = l.loss;
      say("step " + std::to_string(l.step) + "/" + std::to_string(cfg.steps) + " loss " +
          fmt("%.4f", l.loss) + " lr " + fmt("%.2e", l.lr) + " |g| " + fmt("%.3f", l.grad_norm) +
          " tok/s " + fmt("%.0f", l.tokens_per_s) + " tokens " + std::to_string(l.tokens) +
          " elapsed " + fmt("%.0f", l.elapsed_s) + " s");
      t_log = now, tok_log = 0, loss_sum = 0, loss_n = 0;
    }
    const bool over = cfg.time_budget_s > 0 && run_timer.seconds() > cfg.time_budget_s;
    if (cfg.save_every > 0 && (s + 1) % cfg.save_every == 0 && s + 1 < last && !over) checkpoint(s + 1);
    if (cfg.eval_every > 0 && (s + 1) % cfg.eval_every == 0 && s + 1 < last && !over) evaluate(s + 1);
    if (over) {
      say("time budget of " + fmt("%.0f", cfg.time_budget_s) + " s reached at step " + std::to_string(s + 1));
      ++s;
      break;
    }
  }
  res.steps_done = s;
  res.tokens = run.tokens;
  checkpoint(s);
  evaluate(s);
  res.wall_s = run_timer.seconds();
  return res;
}

}  // namespace cs
