// EAP and EAP-IG (eap.h): sender activation differences and receiver input gradients, contracted
// over (batch, position, d_model) with one GEMM per receiver group. Shapes: B batch, T tokens,
// D d_model, K = B T D, S senders, R receivers.
#include "attribution/eap.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "interp/metric_grad.h"
#include "interp/task_metric.h"
#include "model/backward.h"
#include "model/process_weights.h"
#include "model/transformer.h"
#include "ops/comm.h"
#include "ops/error.h"
#include "ops/matmul.h"
#include "ops/timer.h"

namespace cs {

namespace {

// fn(sender, row bt of [B*T], x[D]) for every sender activation of a forward pass.
using SenderFn = std::function<void(int, int64_t, const float*)>;

void add_sender_hooks(Hooks& hooks, const Graph& g, int64_t D, const SenderFn& fn) {
  hooks.add({Hook::embed, -1}, [fn, D](const HookPoint&, Tensor& t) {
    const int64_t BT = t.dim(0) * t.dim(1);
    for (int64_t i = 0; i < BT; ++i) fn(0, i, t.ptr() + i * D);
  });
  const int H = g.n_heads();
  for (int l = 0; l < g.n_layers(); ++l) {
    const int s0 = g.head_sender(l, 0);
    hooks.add({Hook::result, l}, [fn, D, H, s0](const HookPoint&, Tensor& t) {  // [B,T,H,D]
      const int64_t BT = t.dim(0) * t.dim(1);
      for (int64_t i = 0; i < BT; ++i)
        for (int h = 0; h < H; ++h) fn(s0 + h, i, t.ptr() + (i * H + h) * D);
    });
    if (g.has_mlps())
      hooks.add({Hook::mlp_out, l}, [fn, D, s = g.mlp_sender(l)](const HookPoint&, Tensor& t) {
        const int64_t BT = t.dim(0) * t.dim(1);
        for (int64_t i = 0; i < BT; ++i) fn(s, i, t.ptr() + i * D);
      });
  }
}

// Per-position means of every sender over the reference prompts (interp/ablation.h's Mean):
// mean [T_ref, S, D] over the prompts longer than t, fallback [S, D] over every real position.
struct SenderMeans {
  int64_t T = 0;
  std::vector<float> mean, fallback;
};

SenderMeans sender_means(const Model& m, const Graph& g, const TokenizedTask& task, size_t n,
                         size_t batch, int* forwards) {
  const int64_t D = m.cfg.d_model, S = g.n_senders();
  const auto& seqs = task.corrupt.empty() ? task.clean : task.corrupt;
  int64_t T = 0;
  for (size_t i = 0; i < n; ++i) T = std::max<int64_t>(T, static_cast<int64_t>(seqs[i].size()));
  std::vector<double> sum(static_cast<size_t>(T * S * D), 0.0), all(static_cast<size_t>(S * D), 0.0);
  std::vector<double> count(T, 0);  // counts as doubles: exact below 2^53, and allreduced with the sums
  double total = 0;
  // MPI (ops/comm.h): this rank's block of the reference prompts; sums and counts allreduced below.
  Comm& comm = Comm::current();
  const LocalRange mine = comm.local_range(n);
  for (size_t first = mine.begin; first < mine.end; first += batch) {
    const size_t nb = std::min(batch, mine.end - first);
    const Batch ref = task.corrupt.empty() ? clean_batch(task, first, nb) : corrupt_batch(task, first, nb);
    Hooks hooks;
    add_sender_hooks(hooks, g, D, [&](int s, int64_t bt, const float* x) {
      const int64_t b = bt / ref.T, t = bt % ref.T;
      if (t >= ref.lengths[b]) return;  // padding
      if (s == 0) ++count[t], ++total;  // the embedding comes first, once per position
      double* dst = sum.data() + (t * S + s) * D;
      double* tot = all.data() + s * D;
      for (int64_t j = 0; j < D; ++j) dst[j] += x[j], tot[j] += x[j];
    });
    forward(m, ref, &hooks, {LogitsAt::None});
    ++*forwards;
  }
  // --- MPI: every rank's sums and counts, in rank order
  comm.allreduce_sum(sum);
  comm.allreduce_sum(all);
  comm.allreduce_sum(count);
  comm.allreduce_sum(&total, 1);
  // --- end MPI
  SenderMeans r;
  r.T = T;
  r.mean.resize(sum.size());
  r.fallback.resize(all.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < S * D; ++j)
      r.mean[t * S * D + j] = static_cast<float>(sum[t * S * D + j] / count[t]);
  for (int64_t j = 0; j < S * D; ++j) r.fallback[j] = static_cast<float>(all[j] / total);
  return r;
}

// dM/dlogits [B,V'] of scale * sum_b metric_b, from the last-position logits [B,V'].
Tensor metric_dlogits(const TokenizedTask& task, const Tensor& last, size_t first,
                      const std::vector<int32_t>& vocab, double scale, double* sum) {
  std::vector<double> values;
  Tensor g = task_metric_grad(task, last, first, vocab, scale, &values);
  if (sum)
    for (double v : values) *sum += v;
  return g;
}

// score[u, v] += w * <delta[u], dM/d in_v> over K = B T D, for every sender u upstream of v
// (score is [senders, receivers], the graph's indices). delta [S, K]; grads holds the receiver
// input gradients of one backward. A layer's q, k and v receivers are 3H consecutive indices
// (x H + h), so one GEMM covers them.
void add_scores(const Graph& g, const Tensor& delta, const ActivationCache& grads, int64_t K,
                int64_t D, double w, std::vector<double>& score) {
  const int R = g.n_receivers(), H = g.n_heads();
  std::vector<float> pack, tmp;
  auto contract = [&](int P, int n, const float* G, int recv0) {  // receivers recv0 .. recv0+n-1
    tmp.assign(static_cast<size_t>(P) * n, 0.0f);
    sgemm(false, true, P, n, K, 1.0f, delta.ptr(), K, G, K, 0.0f, tmp.data(), n);
    for (int u = 0; u < P; ++u)
      for (int r = 0; r < n; ++r)
        score[static_cast<size_t>(u) * R + recv0 + r] += w * tmp[static_cast<size_t>(u) * n + r];
  };
  const int64_t BT = K / D;
  const Hook letters[3] = {Hook::q_input, Hook::k_input, Hook::v_input};
  pack.resize(static_cast<size_t>(3 * H) * K);
  for (int l = 0; l < g.n_layers(); ++l) {
    for (int x = 0; x < 3; ++x) {  // [B,T,H,D] -> pack[x*H + h] = [B*T*D]
      const Tensor& gr = grads.at(HookPoint{letters[x], l}.name());
      if (gr.dim(2) != H) throw Error("EAP: " + HookPoint{letters[x], l}.name() + " has " + std::to_string(gr.dim(2)) +
                                      " heads, the graph " + std::to_string(H));
      for (int h = 0; h < H; ++h) {
        float* dst = pack.data() + static_cast<int64_t>(x * H + h) * K;
        for (int64_t i = 0; i < BT; ++i) std::memcpy(dst + i * D, gr.ptr() + (i * H + h) * D, D * sizeof(float));
      }
    }
    const int r0 = g.head_receiver(l, 0, QKV::Q);
    contract(g.n_upstream(r0), 3 * H, pack.data(), r0);
    if (g.has_mlps()) {
      const int r = g.mlp_receiver(l);
      contract(g.n_upstream(r), 1, grads.at(HookPoint{Hook::mlp_in, l}.name()).ptr(), r);
    }
  }
  contract(g.n_senders(), 1, grads.at(HookPoint{Hook::resid_post, g.n_layers() - 1}.name()).ptr(), g.logits_receiver());
}

// Prompts per batch: o.batch, else as many as the sender differences and receiver gradients (and
// their packed copies) of the longest prompt fit in o.memory_mb.
size_t prompts_per_batch(const TokenizedTask& task, size_t n, const Graph& g, int64_t D, const EapOptions& o) {
  if (o.batch > 0) return static_cast<size_t>(o.batch);
  int64_t T_max = 1;
  for (size_t i = 0; i < n; ++i) T_max = std::max<int64_t>(T_max, static_cast<int64_t>(task.clean[i].size()));
  const double per_prompt = 4.0 * T_max * D * (g.n_senders() + 2.0 * g.n_receivers());
  const double budget = o.memory_mb * 1048576.0;
  return static_cast<size_t>(std::clamp(std::floor(budget / per_prompt), 1.0, static_cast<double>(n)));
}

// The corrupt prompts paired with clean's, each as long as its clean prompt (patching pairs them
// position by position).
Batch paired_corrupt_batch(const TokenizedTask& task, size_t first, const Batch& clean) {
  Batch corrupt = corrupt_batch(task, first, static_cast<size_t>(clean.B));
  for (int b = 0; b < clean.B; ++b)
    if (corrupt.lengths[b] != clean.lengths[b])
      throw Error("EAP: corrupt prompt " + std::to_string(first + b) + " has " + std::to_string(corrupt.lengths[b]) +
                  " tokens, its clean prompt " + std::to_string(clean.lengths[b]) +
                  ": patching pairs them position by position");
  return corrupt;
}

// delta[u] = each sender's per-position mean (past the means' length: its overall mean), [S, B*T*D].
void copy_means(Tensor& delta, const SenderMeans& means, const Batch& clean, const Graph& g, int64_t D) {
  const int S = g.n_senders();
  const int64_t BT = int64_t{clean.B} * clean.T, K = BT * D;
  for (int u = 0; u < S; ++u)
    for (int64_t i = 0; i < BT; ++i) {
      const int64_t t = i % clean.T;
      const float* src = t < means.T ? means.mean.data() + (t * S + u) * D : means.fallback.data() + u * D;
      std::memcpy(delta.ptr() + u * K + i * D, src, D * sizeof(float));
    }
}

}  // namespace

Graph eap_graph(const ModelConfig& c, const EapOptions& o) {
  return o.mlp_nodes ? Graph(c) : Graph(c.n_layers, c.n_heads, false, c.parallel_residual);
}

EdgeAttribution edge_attribution(const Model& m, const TokenizedTask& task, const MethodSettings& s,
                                 int ig_steps, const EapOptions& o) {
  // Post-norm models (Gemma 2): a head's sender is its pre-norm hook_result, as EAP-IG's graph
  // has it (attribution/edge_patching.h, post_norm_edge_note).
  // Grouped-query attention: the graph gives every query head its own k and v input (eap.h), so
  // run on the equivalent model whose K/V weights are repeated per query head.
  if (m.cfg.n_kv_heads != m.cfg.n_heads) return edge_attribution(expand_kv_heads(m), task, s, ig_steps, o);
  const ModelConfig& c = m.cfg;
  if (ig_steps < 0) throw Error("EAP-IG: steps must be at least 1, got " + std::to_string(ig_steps));
  const size_t n = std::min<size_t>(static_cast<size_t>(std::max(s.n_prompts, 0)), task.size());
  if (n == 0) throw Error("EAP: the task has no prompts");
  const Graph g = eap_graph(c, o);
  const int64_t D = c.d_model, S = g.n_senders(), R = g.n_receivers();

  const size_t batch = prompts_per_batch(task, n, g, D, o);
  const int k0 = o.ig_k0;

  EdgeAttribution r;
  SenderMeans means;
  if (s.ablation == AblationKind::Mean) means = sender_means(m, g, task, n, batch, &r.forward_passes);

  BackwardRequest req;
  for (int l = 0; l < c.n_layers; ++l) {
    for (Hook h : {Hook::q_input, Hook::k_input, Hook::v_input}) req.points.push_back({h, l});
    if (g.has_mlps()) req.points.push_back({Hook::mlp_in, l});
  }
  req.points.push_back({Hook::resid_post, c.n_layers - 1});

  std::vector<double> score(static_cast<size_t>(S) * R, 0.0);  // [senders, receivers]
  const double scale = 1.0 / static_cast<double>(n);  // M is the mean over all n prompts
  double metric_sum = 0;
  // MPI (ops/comm.h): this rank's block of the prompts; scores and metric allreduced below.
  Comm& comm = Comm::current();
  const LocalRange mine = comm.local_range(n);
  for (size_t first = mine.begin; first < mine.end; first += batch) {
    const size_t nb = std::min(batch, mine.end - first);
    const Batch clean = clean_batch(task, first, nb);
    const int64_t BT = int64_t{clean.B} * clean.T, K = BT * D;
    ++r.batches;

    // delta[u] = a_u^abl - a_u^clean, [S, K]
    Tensor delta({S, K});
    auto accumulate = [&](float sign) -> SenderFn {
      return [&delta, K, D, sign](int u, int64_t bt, const float* x) {
        float* d = delta.ptr() + u * K + bt * D;
        for (int64_t j = 0; j < D; ++j) d[j] += sign * x[j];
      };
    };
    if (s.ablation == AblationKind::Resample) {
      Hooks hooks;
      add_sender_hooks(hooks, g, D, accumulate(+1.0f));
      forward(m, paired_corrupt_batch(task, first, clean), &hooks, {LogitsAt::None});
      ++r.forward_passes;
    } else if (s.ablation == AblationKind::Mean) {
      copy_means(delta, means, clean, g, D);
    }
    Hooks clean_hooks;
    add_sender_hooks(clean_hooks, g, D, accumulate(-1.0f));
    const std::vector<int32_t> vocab = metric_vocab(task, first, nb);

    if (ig_steps == 0) {  // EAP: gradients of the clean run
      ForwardRecord rec;
      Tensor logits = forward_record(m, clean, &rec, &clean_hooks, vocab, clean.last_positions());
      ++r.forward_passes;
      Tensor dl = metric_dlogits(task, logits, first, vocab, scale, &metric_sum);
      ActivationCache grads;
      backward(m, rec, dl, nullptr, req, &grads);
      ++r.backward_passes;
      add_scores(g, delta, grads, K, D, 1.0, score);
      continue;
    }
    // EAP-IG: gradients averaged over inputs e^abl + (k/m)(e^clean - e^abl) = e^clean + (1 - k/m) delta[input]
    Tensor clean_logits = forward(m, clean, &clean_hooks, {LogitsAt::Last});
    ++r.forward_passes;
    std::vector<double> values;
    task_metric_grad(task, clean_logits, first, {}, scale, &values);
    for (double v : values) metric_sum += v;
    for (int k = k0; k < k0 + ig_steps; ++k) {
      const float beta = 1.0f - static_cast<float>(k) / static_cast<float>(ig_steps);
      Hooks interp;
      interp.add({Hook::embed, -1}, [&delta, K, beta](const HookPoint&, Tensor& t) {
        const float* d = delta.ptr();  // sender 0: the input
        for (int64_t i = 0; i < K; ++i) t.data[i] += beta * d[i];
      });
      ForwardRecord rec;
      Tensor logits = forward_record(m, clean, &rec, &interp, vocab, clean.last_positions());
      ++r.forward_passes;
      Tensor dl = metric_dlogits(task, logits, first, vocab, scale, nullptr);
      ActivationCache grads;
      backward(m, rec, dl, nullptr, req, &grads);
      ++r.backward_passes;
      add_scores(g, delta, grads, K, D, 1.0 / ig_steps, score);
    }
  }
  // --- MPI: every rank's edge scores and metric, in rank order; pass counts summed
  comm.allreduce_sum(score);
  comm.allreduce_sum(&metric_sum, 1);
  if (comm.active()) {
    std::vector<double> passes = {double(r.forward_passes), double(r.backward_passes), double(r.batches)};
    comm.allreduce_sum(passes);
    r.forward_passes = int(passes[0]), r.backward_passes = int(passes[1]), r.batches = int(passes[2]);
  }
  // --- end MPI
  r.clean_metric = metric_sum * scale;

  // Node and edge scores.
  r.node_signed.assign(S, 0.0);
  for (int u = 0; u < S; ++u)
    for (int v = 0; v < R; ++v) r.node_signed[u] += score[static_cast<size_t>(u) * R + v];
  r.edge_signed.resize(g.n_edges());
  for (int e = 0; e < g.n_edges(); ++e)
    r.edge_signed[e] = score[static_cast<size_t>(g.edge_sender(e)) * R + g.edge_receiver(e)];
  return r;
}

MethodResult to_method_result(const EdgeAttribution& a, const std::string& method, const Graph& g,
                              EapHeadScore head_score) {
  const bool edge_sum = head_score == EapHeadScore::EdgeSum;
  const int L = g.n_layers(), H = g.n_heads();
  MethodResult r;
  r.method = method;
  r.head_scores.assign(static_cast<size_t>(L) * H, 0.0);
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < H; ++h)
      r.head_scores[static_cast<size_t>(l) * H + h] =
          edge_sum ? 0.0 : std::fabs(a.node_signed[g.head_sender(l, h)]);
  r.edge_scores.resize(a.edge_signed.size());
  for (size_t e = 0; e < a.edge_signed.size(); ++e) {
    const double v = std::fabs(a.edge_signed[e]);
    r.edge_scores[e] = v;
    if (!edge_sum) continue;
    for (const Node& n : {g.sender_node(g.edge_sender(static_cast<int>(e))), g.receiver_node(g.edge_receiver(static_cast<int>(e)))})
      if (n.kind == NodeKind::Head) r.head_scores[static_cast<size_t>(n.layer) * H + n.head] += v;
  }
  if (g.has_mlps())
    for (int l = 0; l < L; ++l) r.mlp_scores.push_back(std::fabs(a.node_signed[g.mlp_sender(l)]));
  r.stats["input"] = std::fabs(a.node_signed.at(0));
  r.stats["clean_metric"] = a.clean_metric;
  r.stats["forward_passes"] = a.forward_passes;
  r.stats["backward_passes"] = a.backward_passes;
  return r;
}

MethodResult eap(const Model& m, const TokenizedTask& task, const MethodSettings& s, const EapOptions& o) {
  const Timer timer;
  MethodResult r = to_method_result(edge_attribution(m, task, s, 0, o), "eap", eap_graph(m.cfg, o), o.head_score);
  r.seconds = timer.seconds();
  return r;
}

}  // namespace cs
