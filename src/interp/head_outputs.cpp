#include "interp/head_outputs.h"

#include <algorithm>

#include "model/transformer.h"
#include "ops/comm.h"
#include "ops/error.h"
#include "ops/gemm.h"
#include "ops/matmul.h"

namespace cs {

namespace {

Tensor collect_block(const Model& m, const std::vector<std::vector<int>>& prompts, const PositionChoice& pos,
                     int batch_size) {
  const ModelConfig& c = m.cfg;
  const int64_t N = static_cast<int64_t>(prompts.size()), L = c.n_layers, H = c.n_heads;
  const int64_t D = c.d_model, dh = c.d_head, HT = L * H;
  if (pos.mode == PositionReduce::Named && static_cast<int64_t>(pos.index.size()) != N)
    throw Error("named position '" + pos.name + "' is not defined for every prompt");
  Tensor out({N, HT, D});
  // zred [L, n, H, dh]: z reduced over positions, per batch.
  for (int64_t start = 0; start < N; start += batch_size) {
    const int64_t end = std::min<int64_t>(N, start + batch_size), n = end - start;
    std::vector<std::vector<int>> seqs(prompts.begin() + start, prompts.begin() + end);
    Batch batch = Batch::from_sequences(seqs);
    for (int64_t b = 0; b < n; ++b) {
      if (batch.lengths[b] == 0) throw Error("prompt " + std::to_string(start + b) + " is empty");
      if (pos.mode == PositionReduce::Named &&
          (pos.index[start + b] < 0 || pos.index[start + b] >= batch.lengths[b]))
        throw Error("position '" + pos.name + "' of prompt " + std::to_string(start + b) +
                    " is outside the prompt");
    }
    Tensor zred({L, n, H, dh});
    Hooks hooks;
    for (int l = 0; l < L; ++l)
      hooks.add({Hook::z, l}, [&, l](const HookPoint&, Tensor& z) {  // z [n,T,H,dh]
        const int64_t T = z.dim(1);
        for (int64_t b = 0; b < n; ++b) {
          float* dst = zred.ptr() + ((l * n + b) * H) * dh;
          int t0 = 0, t1 = batch.lengths[b];
          if (pos.mode == PositionReduce::Last) t0 = t1 - 1;
          if (pos.mode == PositionReduce::Named) t0 = pos.index[start + b], t1 = t0 + 1;
          const float inv = 1.0f / static_cast<float>(t1 - t0);
          for (int t = t0; t < t1; ++t) {
            const float* src = z.ptr() + (b * T + t) * H * dh;
            for (int64_t j = 0; j < H * dh; ++j) dst[j] += src[j] * inv;
          }
        }
      });
    // Nothing after the last layer's hook_z feeds a z: stop there.
    forward(m, batch, &hooks, {.logits = LogitsAt::None, .stop_after_layer = static_cast<int>(L) - 1, .stop_at_z = true});
    // out[start+b, l*H+h, :] = zred[l,b,h,:] @ W_O[l][h]
    for (int64_t l = 0; l < L; ++l)
      for (int64_t h = 0; h < H; ++h)
        gemm(out.ptr() + (start * HT + l * H + h) * D, HT * D, zred.ptr() + (l * n * H + h) * dh,
             H * dh, n, m.w.layers[l].W_O.mat().block(h * dh, dh, 0, D), false, m.precision);
  }
  return out;
}

}  // namespace

Tensor collect_head_outputs(const Model& m, const std::vector<std::vector<int>>& prompts,
                            const PositionChoice& pos, int batch_size) {
  Comm& comm = Comm::current();
  if (!comm.active()) return collect_block(m, prompts, pos, batch_size);
  // --- MPI (ops/comm.h): each rank runs its block of the prompts; the blocks are gathered to
  // rank 0 in rank order (= prompt order), and broadcast so every rank holds what one process
  // would (the SAE's input; each prompt's outputs are computed exactly as on one process).
  if (pos.mode == PositionReduce::Named && pos.index.size() != prompts.size())
    throw Error("named position '" + pos.name + "' is not defined for every prompt");
  const LocalRange mine = comm.local_range(prompts.size());
  const std::vector<std::vector<int>> block(prompts.begin() + mine.begin, prompts.begin() + mine.end);
  PositionChoice block_pos = pos;
  if (pos.mode == PositionReduce::Named)
    block_pos.index.assign(pos.index.begin() + mine.begin, pos.index.begin() + mine.end);
  std::vector<float> part;
  if (!block.empty()) {
    const Tensor t = collect_block(m, block, block_pos, batch_size);
    part.assign(t.ptr(), t.ptr() + t.numel());
  }
  std::vector<float> all = comm.gather(part);
  comm.broadcast(all);
  const int64_t HT = int64_t{m.cfg.n_layers} * m.cfg.n_heads, D = m.cfg.d_model;
  Tensor out({static_cast<int64_t>(prompts.size()), HT, D});
  if (static_cast<int64_t>(all.size()) != out.numel()) throw Error("head outputs: the ranks' blocks do not add up");
  std::copy(all.begin(), all.end(), out.ptr());
  // --- end MPI
  return out;
}

double collect_head_outputs_flops(const ModelConfig& c, const std::vector<std::vector<int>>& prompts) {
  double f = 0;
  const double D = c.d_model, W = static_cast<double>(c.qkv_width()), H = c.n_heads, dh = c.d_head;
  for (const auto& p : prompts) {
    const double T = static_cast<double>(p.size());
    // Per layer: q/k/v projection, scores and values, output projection, MLP; the last layer
    // stops at hook_z (no output projection, no MLP).
    const double to_z = 2 * T * D * W + 4 * H * T * T * dh;
    double after_z = 2 * T * H * dh * D;
    if (!c.attn_only) after_z += 2 * T * D * c.d_mlp * (gated(c.act) ? 3 : 2);
    f += c.n_layers * to_z + (c.n_layers - 1) * after_z;
  }
  return f;
}

}  // namespace cs
