#include "baselines/acdc.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "attribution/edge_patching.h"
#include "interp/metric_grad.h"
#include "interp/task_metric.h"
#include "model/blocks.h"
#include "model/process_weights.h"
#include "interp/task_block.h"
#include "ops/comm.h"
#include "ops/cancel.h"
#include "ops/error.h"
#include "ops/gemm.h"
#include "ops/kl.h"
#include "ops/matmul.h"
#include "ops/timer.h"

namespace cs {

std::vector<int> acdc_edge_order(const Graph& g, int r) {
  auto key = [&](int e) {
    const Node n = g.sender_node(g.edge_sender(e));
    if (n.kind == NodeKind::Input) return std::pair<int, int>{1, 0};
    return std::pair<int, int>{-n.layer - 1, n.kind == NodeKind::Mlp ? -1 : n.head};
  };
  std::vector<int> order = g.edges_into(r);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return key(a) < key(b); });
  return order;
}

namespace {

// ACDC's items: the circuit graph's edges e = 0 .. E-1 (interp/graph.h), then the heads' q/k/v
// switches E + p, p = qkv_switch(l, h, x) (edge_patching.h; ACDC's internal edges
// "a{l}.h{h}<x> -> a{l}.h{h}"). A switch's sender is its head, its receiver the head's input x.
struct AcdcGraph {
  const Graph& g;
  int n_layers, n_heads, mlps, E;
  bool parallel;
  std::vector<int> sender, receiver;     // [items]
  std::vector<std::vector<int>> into;    // [receivers] edges into r, in ACDC's test order
  std::vector<std::vector<int>> out_of;  // [senders] edges out of s

  explicit AcdcGraph(const Graph& graph)
      : g(graph), n_layers(graph.n_layers()), n_heads(graph.n_heads()), mlps(graph.has_mlps()),
        E(graph.n_edges()), parallel(graph.parallel()) {
    for (int e = 0; e < E; ++e) sender.push_back(g.edge_sender(e)), receiver.push_back(g.edge_receiver(e));
    for (int l = 0; l < n_layers; ++l)
      for (int h = 0; h < n_heads; ++h)
        for (QKV x : {QKV::Q, QKV::K, QKV::V}) sender.push_back(g.head_sender(l, h)), receiver.push_back(g.head_receiver(l, h, x));
    out_of.resize(g.n_senders());
    for (int s = 0; s < g.n_senders(); ++s) out_of[s] = g.edges_out_of(s);
    into.resize(g.n_receivers());
    for (int r = 0; r < g.n_receivers(); ++r) into[r] = acdc_edge_order(g, r);
  }
  int n_items() const { return static_cast<int>(sender.size()); }
  bool internal(int e) const { return e >= E; }
  int internal_edge(int p) const { return E + p; }
  int n_senders() const { return g.n_senders(); }
  int n_receivers() const { return g.n_receivers(); }
  int head_sender(int l, int h) const { return g.head_sender(l, h); }
  int mlp_sender(int l) const { return g.mlp_sender(l); }
  int head_receiver(int l, int h, int x) const { return g.head_receiver(l, h, static_cast<QKV>(x)); }
  int mlp_receiver(int l) const { return g.mlp_receiver(l); }
  int output_receiver() const { return g.logits_receiver(); }
  int layer_of(int r) const { return r / (3 * n_heads + mlps); }  // receivers come layer by layer
  int site(int r) const { return residual_site(g, r); }
  int edge_to(int s, int r) const { return g.edge_index(s, r); }
};

// The incremental patched forward pass (see acdc.h). Item indices of AcdcGraph; p = (l * H + h)
// * 3 + x indexes a head's q/k/v projection (after rotary: what the scores read).
class Engine {
 public:
  // MPI: comm != nullptr when the prompts are split over ranks; n_total = every rank's prompts.
  Engine(const Model& m, const AcdcGraph& g, const EdgeActivations& a, const TokenizedTask& task,
         size_t n_prompts, bool kl, Comm* comm = nullptr, size_t n_total = 0)
      : m_(m), c_(m.cfg), g_(g), a_(a), task_(task), kl_(kl), L_(g.n_layers), H_(g.n_heads),
        BT_(a.BT()), D_(a.D), dh_(a.dh) {
    comm_ = comm, n_total_ = comm ? static_cast<double>(n_total) : a.B;
    const size_t P = static_cast<size_t>(L_) * H_ * 3;
    clean_proj_.assign(a.clean_qkv.begin(), a.clean_qkv.end());
    abl_proj_.assign(a.abl_qkv.begin(), a.abl_qkv.end());
    for (int l = 0; l < L_; ++l) attn_.emplace_back(c_, l);
    for (size_t p = 0; p < P; ++p)
      if (p % 3 < 2) {
        rotate(p / (3 * H_), clean_proj_.data() + p * BT_ * dh_);
        rotate(p / (3 * H_), abl_proj_.data() + p * BT_ * dh_);
      }
    cur_in_.resize(g.n_receivers());
    t_in_.resize(g.n_receivers());
    cur_out_.resize(g.n_senders());
    t_out_.resize(g.n_senders());
    t_delta_.resize(g.n_senders());
    cur_proj_.resize(P);
    t_proj_.resize(P);
    present.assign(g.n_items(), 1);
    out_count.assign(g.n_senders(), 0);
    for (int s = 0; s < g.n_senders(); ++s) out_count[s] = static_cast<int>(g.out_of[s].size());
    acc_.resize(static_cast<size_t>(BT_ * D_));
    normed_.resize(static_cast<size_t>(BT_ * D_));
    tmp_.resize(static_cast<size_t>(BT_ * D_));
    z_.resize(static_cast<size_t>(BT_ * dh_));
    zrows_.resize(static_cast<size_t>(a.B * std::max(D_, dh_)));
    for (int b = 0; b < a.B; ++b) last_.push_back(int64_t{b} * a.T + a.lengths[b] - 1);
    if (!c_.attn_only) {
      pre_.resize(static_cast<size_t>(BT_) * c_.d_mlp);
      post_.resize(static_cast<size_t>(BT_) * c_.d_mlp);
      if (gated(c_.act)) up_.resize(static_cast<size_t>(BT_) * c_.d_mlp);
    }
    setup_metric(n_prompts);
  }

  std::vector<char> present;   // [edges]
  std::vector<int> out_count;  // [senders] present real residual edges out of s
  double metric = 0;           // M of the current graph

  double full_metric() { return metric = metric_of(a_.input(2 * L_)); }

  // M with edge e removed (present[e] unchanged); the changed activations wait in t_*.
  double trial(int e) {
    const int r = g_.receiver[e], s = g_.sender[e];
    if (g_.internal(e)) {
      const int p = e - g_.E;  // (l*H + h)*3 + x
      set(t_proj_[p], abl_proj_.data() + p * BT_ * dh_, BT_ * dh_);
      touched_proj_.push_back(p);
      return propagate(p / (3 * H_));
    }
    std::vector<float>& in = t_in_[r];
    set(in, cur_in(r), BT_ * D_);
    const float* ab = a_.ablated(s);
    const float* on = cur_out(s);
    for (int64_t i = 0; i < BT_ * D_; ++i) in[i] += ab[i] - on[i];
    touched_in_.push_back(r);
    if (r == g_.output_receiver()) return metric_of(in.data());
    return propagate(g_.layer_of(r));
  }

  // Keep the trial's activations as the current ones: edge e is removed.
  void commit(int e, double new_metric) {
    for (int r : touched_in_) cur_in_[r].swap(t_in_[r]);
    for (int p : touched_proj_) cur_proj_[p].swap(t_proj_[p]);
    for (int s : touched_out_) cur_out_[s].swap(t_out_[s]);
    discard();
    remove(e);
    metric = new_metric;
  }
  void discard() {
    for (int r : touched_in_) t_in_[r].clear();
    for (int p : touched_proj_) t_proj_[p].clear();
    for (int s : touched_out_) {
      t_out_[s].clear();
      t_delta_[s].clear();
    }
    touched_in_.clear();
    touched_proj_.clear();
    touched_out_.clear();
  }
  // Remove without measuring (a disconnected receiver, or no such path in the model).
  void remove(int e) {
    if (!present[e]) return;
    present[e] = 0;
    if (!g_.internal(e)) --out_count[g_.sender[e]];
  }

 private:
  static void set(std::vector<float>& v, const float* src, int64_t n) { v.assign(src, src + n); }
  const float* cur_in(int r) const { return cur_in_[r].empty() ? a_.input(g_.site(r)) : cur_in_[r].data(); }
  const float* cur_out(int s) const { return cur_out_[s].empty() ? a_.clean(s) : cur_out_[s].data(); }
  const float* cur_proj(int p) const {
    return cur_proj_[p].empty() ? clean_proj_.data() + p * BT_ * dh_ : cur_proj_[p].data();
  }

  void rotate(int l, float* x) const {  // [B,T,dh], one head of layer l
    for (int b = 0; b < a_.B; ++b) attn_[l].rotate(x + int64_t{b} * a_.T * dh_, a_.T, 1, dh_);
  }

  // Receiver r's input in this trial: seeded, or its current input plus the changes of the
  // senders changed so far (t_out_ order, the first n_prec of them, all before r) whose edge to r
  // is present. With many present edges, the running sum acc_ of every change minus the absent
  // ones is shorter. False when nothing reaching r changed.
  bool build_input(int r, size_t n_prec) {
    std::vector<float>& in = t_in_[r];
    if (!in.empty()) return true;
    size_t n_present = 0;
    for (size_t i = 0; i < n_prec; ++i) {
      const int e = g_.edge_to(touched_out_[i], r);
      n_present += e >= 0 && present[e];
    }
    // Post-norms: every changed layer moves r's input through its norm, edges present or not.
    if (n_present == 0 && !(post_norms_ && n_prec > 0)) return false;
    const bool via_total = post_norms_ || n_prec - n_present + 1 < n_present;
    set(in, cur_in(r), BT_ * D_);
    float* x = in.data();
    auto add = [&](const float* d, float sign) {
#pragma omp parallel for simd schedule(static) if (parallel: BT_ * D_ > 65536)
      for (int64_t i = 0; i < BT_ * D_; ++i) x[i] += sign * d[i];
    };
    if (via_total) add(acc_.data(), 1.0f);
    for (size_t i = 0; i < n_prec; ++i) {
      const int s = touched_out_[i];
      const int e = g_.edge_to(s, r);
      const bool on = e >= 0 && present[e];
      if (on != via_total) add(t_delta_[s].data(), via_total ? -1.0f : 1.0f);
    }
    touched_in_.push_back(r);
    return true;
  }

  // acc_ += the changes of senders touched_out_[acc_n_ .. n). Post-norms: not the heads', whose
  // layer's change through ln1_post propagate() adds instead (attention_norm_change).
  void fold(size_t n) {
    for (; acc_n_ < n; ++acc_n_) {
      if (post_norms_ && !is_mlp_sender(touched_out_[acc_n_])) continue;
      const float* d = t_delta_[touched_out_[acc_n_]].data();
      float* a = acc_.data();
      for (int64_t i = 0; i < BT_ * D_; ++i) a[i] += d[i];
    }
  }

  bool is_mlp_sender(int s) const { return g_.mlps && g_.g.sender_node(s).kind == NodeKind::Mlp; }

  // Post-norms: the real forward adds ln1_post(sum of the heads' online outputs + b_O) to the
  // residual, so what layer l's changed heads add to every later input is the change of that
  // (edges removed from them are then corrected by their pre-norm change, build_input). acc_ +=
  // ln1_post(new sum) - ln1_post(current sum).
  void attention_norm_change(int l) {
    const LayerWeights& lw = m_.w.layers[l];
    const int64_t n = BT_ * D_;
    std::vector<float>& before = norm_before_;
    std::vector<float>& now = norm_now_;
    before.assign(static_cast<size_t>(n), 0.0f);
    now.assign(static_cast<size_t>(n), 0.0f);
    for (int h = 0; h < H_; ++h) {
      const int s = g_.head_sender(l, h);
      const float* cur = cur_out(s);
      const float* neu = t_out_[s].empty() ? cur : t_out_[s].data();
      for (int64_t i = 0; i < n; ++i) before[i] += cur[i], now[i] += neu[i];
    }
    if (!lw.b_O.empty())
      for (int64_t i = 0; i < n; ++i) before[i] += lw.b_O.data[i % D_], now[i] += lw.b_O.data[i % D_];
    post_norm(c_, lw.ln1_post_w, before.data(), BT_);
    post_norm(c_, lw.ln1_post_w, now.data(), BT_);
    for (int64_t i = 0; i < n; ++i) acc_[i] += now[i] - before[i];
  }

  // Sender s got a new output in t_out_[s]: record its change.
  void changed(int s) {
    std::vector<float>& d = t_delta_[s];
    d.resize(static_cast<size_t>(BT_ * D_));
    const float* now = t_out_[s].data();
    const float* before = cur_out(s);
    for (int64_t i = 0; i < BT_ * D_; ++i) d[i] = now[i] - before[i];
    touched_out_.push_back(s);
  }

  // Recompute every node from layer l0 on whose input changed; returns M.
  double propagate(int l0) {
    std::fill(acc_.begin(), acc_.end(), 0.0f);
    acc_n_ = 0;
    for (int l = l0; l < L_; ++l) {
      const size_t before = touched_out_.size();  // changed senders of layers < l
      fold(before);
      for (int h = 0; h < H_; ++h) {
        const int s = g_.head_sender(l, h);
        // Read by nothing still present: skipped, except under post-norms, where every head's
        // output enters its layer's norm.
        if (out_count[s] == 0 && !post_norms_) continue;
        bool any = false;
        for (int x = 0; x < 3; ++x) {
          const int p = (l * H_ + h) * 3 + x;
          if (!t_proj_[p].empty()) { any = true; continue; }
          if (!present[g_.internal_edge(p)]) continue;  // reads the ablated projection
          const int r = g_.head_receiver(l, h, x);
          if (!build_input(r, before)) continue;
          t_proj_[p].resize(static_cast<size_t>(BT_ * dh_));
          project(l, h, x, t_in_[r].data(), t_proj_[p].data());
          touched_proj_.push_back(p);
          any = true;
        }
        if (!any) continue;
        const int p0 = (l * H_ + h) * 3;
        auto proj = [&](int x) {
          const int p = p0 + x;
          if (!t_proj_[p].empty()) return static_cast<const float*>(t_proj_[p].data());
          return present[g_.internal_edge(p)] ? cur_proj(p) : abl_proj_.data() + p * BT_ * dh_;
        };
        t_out_[s].resize(static_cast<size_t>(BT_ * D_));
        head(l, h, proj(0), proj(1), proj(2), t_out_[s].data(), cur_out(s));
        changed(s);
      }
      if (post_norms_ && touched_out_.size() > before) attention_norm_change(l);
      if (!g_.mlps) continue;
      // A sequential MLP reads its own layer's heads; a parallel one only the layers before.
      const size_t mlp_prec = g_.parallel ? before : touched_out_.size();
      fold(mlp_prec);
      const int s = g_.mlp_sender(l);
      if (out_count[s] == 0 || !build_input(g_.mlp_receiver(l), mlp_prec)) continue;
      t_out_[s].resize(static_cast<size_t>(BT_ * D_));
      mlp(l, t_in_[g_.mlp_receiver(l)].data(), t_out_[s].data(), cur_out(s));
      changed(s);
    }
    const int r = g_.output_receiver();
    fold(touched_out_.size());
    return build_input(r, touched_out_.size()) ? metric_of(t_in_[r].data()) : metric;
  }

  // The metric reads only each prompt's last token, and so does everything in the last layer
  // (its heads' outputs and its MLP feed only the output): there q, the attention, W_O and the MLP
  // run on those B rows (keys and values still on all rows). `prev` fills the rows not computed,
  // so the node's change is exactly zero there.
  bool last_only(int l) const { return l == L_ - 1; }
  void gather(float* dst, const float* src, int64_t width) const {  // last rows of [BT, width]
    for (int b = 0; b < a_.B; ++b) std::memcpy(dst + b * width, src + last_[b] * width, width * sizeof(float));
  }
  void scatter(float* dst, const float* src, int64_t width, const float* prev) const {
    std::memcpy(dst, prev, BT_ * width * sizeof(float));
    for (int b = 0; b < a_.B; ++b) std::memcpy(dst + last_[b] * width, src + b * width, width * sizeof(float));
  }

  // One head's q, k or v from its input residual [BT,D] -> [BT,dh] (after rotary).
  void project(int l, int h, int x, const float* in, float* out) {
    const LayerWeights& lw = m_.w.layers[l];
    const bool sub = last_only(l) && x == 0;
    const int64_t rows = sub ? a_.B : BT_;
    const float* src = in;
    if (sub) {
      gather(tmp_.data(), in, D_);
      src = tmp_.data();
    }
    if (!a_.pos.empty() && x < 2) {  // shortformer: positions enter q and k only
      for (int64_t i = 0; i < rows; ++i) {
        const float* pp = a_.pos.data() + (sub ? last_[i] : i) * D_;
        float* t = tmp_.data() + i * D_;
        const float* r = src + i * D_;
        for (int64_t d = 0; d < D_; ++d) t[d] = r[d] + pp[d];
      }
      src = tmp_.data();
    }
    norm_rows(c_, normed_.data(), src, lw.ln1_w, lw.ln1_b, rows);
    float* dst = sub ? zrows_.data() : out;
    head_projection(c_, lw, static_cast<Qkv>(x), h, normed_.data(), D_, rows, dst, dh_, m_.precision);
    if (sub) {  // each prompt's last row, at its own position
      scatter(out, dst, dh_, cur_proj((l * H_ + h) * 3));
      for (int b = 0; b < a_.B; ++b) attn_[l].rotate(out + last_[b] * dh_, 1, 1, dh_, a_.lengths[b] - 1);
      return;
    }
    if (x < 2) rotate(l, out);
  }

  // One head's output z W_O[h] [BT,D] from its q, k, v [BT,dh]. `prev`: the head's current
  // output, for the rows a last-layer head does not compute.
  void head(int l, int h, const float* q, const float* k, const float* v, float* out, const float* prev) {
    const int B = a_.B, T = a_.T;
    const int64_t dh = dh_;
    const Attention& attn = attn_[l];
    const LayerWeights& lw = m_.w.layers[l];
    float* z = z_.data();
    // Small work stays on one thread: a parallel region costs more than it saves there.
    if (last_only(l)) {  // one query row per prompt, at its last position t; keys 0..t
#pragma omp parallel for schedule(static) if (BT_ * dh > 65536)
      for (int b = 0; b < B; ++b) {
        const int t = a_.lengths[b] - 1;
        const int64_t o = int64_t{b} * T * dh;
        std::vector<float> p(static_cast<size_t>(t + 1));
        attn.head(z + b * dh, dh, p.data(), q + o + t * dh, dh, k + o, v + o, dh, t + 1, t);
      }
      head_output(c_, lw, h, z, dh, B, zrows_.data(), D_, m_.precision);
      scatter(out, zrows_.data(), D_, prev);
      return;
    }
#pragma omp parallel for schedule(static) if (BT_ * T * dh > 65536)
    for (int b = 0; b < B; ++b) {
      std::vector<float> p(static_cast<size_t>(T) * T);
      const int64_t o = int64_t{b} * T * dh;
      attn.head(z + o, dh, p.data(), q + o, dh, k + o, v + o, dh, T);
    }
    head_output(c_, lw, h, z, dh, BT_, out, D_, m_.precision);
  }

  void mlp(int l, const float* in, float* out, const float* prev) {
    const bool sub = last_only(l);
    const int64_t rows = sub ? a_.B : BT_;
    if (sub) {
      gather(tmp_.data(), in, D_);
      in = tmp_.data();
    }
    cs::mlp(c_, m_.w.layers[l], in, rows, {normed_.data(), pre_.data(), up_.data(), post_.data()},
            sub ? zrows_.data() : out, m_.precision);
    if (sub) scatter(out, zrows_.data(), D_, prev);
  }

  void setup_metric(size_t n) {
    const int B = a_.B;
    const int64_t V = c_.vocab_size;
    unembed_ = Unembedding(m_);
    if (kl_) {
      p_clean_.resize(static_cast<size_t>(B * V));
      negent_.resize(B);
      for (int b = 0; b < B; ++b)
        negent_[b] = reference_distribution(p_clean_.data() + b * V, a_.clean_logits.ptr() + b * V, V);
      return;
    }
    vocab_ = metric_vocab(task_, 0, n);
    unembed_ = Unembedding(m_, vocab_);
  }

  // M from the final residual [BT,D]: only each prompt's last row is read.
  double metric_of(const float* resid) {
    const int B = a_.B;
    const int64_t V = unembed_.columns();
    Tensor logits = Tensor::uninit({B, V});
    unembed_.logits_at(logits.ptr(), resid, last_);
    if (!kl_) {
      std::vector<double> values;
      task_metric_grad(task_, logits, 0, vocab_, 1.0, &values);
      double sum = 0;
      for (double x : values) sum += x;
      return over_ranks(-sum);
    }
    std::vector<double> kl(B);
#pragma omp parallel for schedule(static) if (B * V > 65536)
    for (int b = 0; b < B; ++b) kl[b] = kl_to_softmax(p_clean_.data() + b * V, negent_[b], logits.ptr() + b * V, V);
    double sum = 0;
    for (double x : kl) sum += x;
    return over_ranks(sum);
  }

  // MPI: the mean over every rank's prompts of a sum over this rank's (one allreduce per
  // evaluation: every rank then takes the same keep/remove decision).
  double over_ranks(double sum) {
    if (comm_) comm_->allreduce_sum(&sum, 1);
    return sum / n_total_;
  }

  const Model& m_;
  const ModelConfig& c_;
  const AcdcGraph& g_;
  const EdgeActivations& a_;
  const TokenizedTask& task_;
  Comm* comm_ = nullptr;
  double n_total_ = 1;
  const bool kl_;
  const bool post_norms_ = c_.post_norms;  // edge_patching.h's convention for Gemma 2
  const int L_, H_;
  const int64_t BT_, D_, dh_;
  std::vector<Attention> attn_;  // [L]
  std::vector<float> clean_proj_, abl_proj_;  // [L,H,3,BT,dh] after rotary
  // Current activations (empty = clean) and this trial's (empty = unchanged).
  std::vector<std::vector<float>> cur_in_, t_in_;          // [receivers][BT*D]
  std::vector<std::vector<float>> cur_out_, t_out_, t_delta_;  // [senders][BT*D]
  std::vector<std::vector<float>> cur_proj_, t_proj_;      // [L*H*3][BT*dh]
  std::vector<int> touched_in_, touched_out_, touched_proj_;  // touched_out_: in forward order
  std::vector<float> acc_;      // [BT*D] sum of the changes of touched_out_[0 .. acc_n_)
  size_t acc_n_ = 0;
  std::vector<int64_t> last_;  // [B] row b*T + length_b - 1
  std::vector<float> normed_, tmp_, z_, zrows_, pre_, up_, post_;  // scratch
  std::vector<float> norm_before_, norm_now_;  // scratch of attention_norm_change [BT*D]
  // Metric.
  std::vector<float> p_clean_;  // [B,V] clean next-token probabilities (KL)
  std::vector<double> negent_;  // [B] sum_v p log p
  std::vector<int32_t> vocab_;  // task metric's logit columns (empty: all)
  Unembedding unembed_;         // over vocab_ (task metric) or the whole vocabulary (KL)
};

}  // namespace

AcdcResult acdc_run(const Model& m, const TokenizedTask& task, const MethodSettings& s, const AcdcOptions& o) {
  // Grouped-query attention: run on the equivalent model with one k/v head per query head, so
  // every head has its own key and value inputs in the edge graph.
  // Post-norm models: edges of pre-norm head outputs (edge_patching.h, post_norm_edge_note).
  if (m.cfg.post_norms && m.cfg.parallel_residual)
    throw Error("ACDC: post-norms with a parallel residual stream are not supported (no such model is known)");
  if (m.cfg.n_kv_heads != m.cfg.n_heads) return acdc_run(expand_kv_heads(m), task, s, o);
  const Timer timer;
  const ModelConfig& c = m.cfg;
  const size_t n = std::min<size_t>(static_cast<size_t>(std::max(s.n_prompts, 0)), task.size());
  if (n == 0) throw Error("acdc: the task has no prompts");
  const double tau = o.tau;
  const bool kl = o.metric_kl;
  const double max_eval = o.max_evaluations < 0 ? std::numeric_limits<double>::infinity() : o.max_evaluations;
  const int top = o.top_layer < 0 ? c.n_layers - 1 : o.top_layer;
  if (top < 0 || top >= c.n_layers)
    throw Error("acdc: top_layer " + std::to_string(top) + " is not a layer of the model (0.." +
                std::to_string(c.n_layers - 1) + ")");

  const Graph graph(c);
  const AcdcGraph g(graph);
  // --- MPI (ops/comm.h): each rank's engine holds its block of the prompts; every evaluation's
  // metric is allreduced. Mean ablation needs the means over all prompts: it runs unsplit.
  Comm& comm = Comm::current();
  const bool split_prompts = comm.active() && s.ablation != AblationKind::Mean && n >= static_cast<size_t>(comm.size());
  const LocalRange mine = split_prompts ? comm.local_range(n) : LocalRange{0, n};
  const TokenizedTask block = split_prompts ? task_block(task, mine.begin, mine.end) : TokenizedTask{};
  const TokenizedTask& t = split_prompts ? block : task;
  const size_t n_mine = mine.size();
  // --- end MPI
  const Batch clean = clean_batch(t, 0, n_mine);
  Batch corrupt;
  if (s.ablation != AblationKind::Zero) corrupt = corrupt_batch(t, 0, n_mine);
  const EdgeActivations act = collect_edge_activations(m, graph, clean, &corrupt, s.ablation);

  AcdcResult r;
  std::vector<char> evaluated(g.n_items(), 0);
  std::vector<double> effect(g.n_items(), 0.0);
  r.forward_passes = 2;
  Engine E(m, g, act, t, n_mine, kl, split_prompts ? &comm : nullptr, n);
  r.initial_metric = E.full_metric();
  r.seconds_setup = timer.seconds();

  const Timer sweep;
  auto evaluate = [&](int e) {
    check_cancelled();  // the engine's trials do not go through forward(), which checks per layer
    if (!E.present[e]) return;
    if (r.evaluations >= max_eval) return;  // budget spent: the edge stays
    const double after = E.trial(e);
    ++r.evaluations;
    evaluated[e] = 1;
    effect[e] = after - E.metric;
    if (effect[e] < tau) E.commit(e, after);
    else E.discard();
  };
  auto visit = [&](int receiver) {
    for (int e : g.into[receiver]) evaluate(e);
  };
  auto drop_all = [&](int receiver) {
    for (int e : g.into[receiver]) E.remove(e);
  };
  const int L = g.n_layers, H = g.n_heads;
  auto internal = [&](int l, int h, int x) { return g.internal_edge((l * H + h) * 3 + x); };
  if (top == L - 1) visit(g.output_receiver());
  for (int l = top; l >= 0; --l) {
    if (g.mlps) {
      if (E.out_count[g.mlp_sender(l)] == 0) drop_all(g.mlp_receiver(l));
      else visit(g.mlp_receiver(l));
    }
    if (c.post_norms) {  // acdc.h: no switches, and every head's inputs are measured
      for (int x = 2; x >= 0; --x)
        for (int h = H - 1; h >= 0; --h) visit(g.head_receiver(l, h, x));
      continue;
    }
    for (int h = H - 1; h >= 0; --h) {
      if (E.out_count[g.head_sender(l, h)] > 0) continue;
      for (int x = 0; x < 3; ++x) {
        E.remove(internal(l, h, x));
        drop_all(g.head_receiver(l, h, x));
      }
    }
    for (int x = 2; x >= 0; --x)
      for (int h = H - 1; h >= 0; --h)
        if (E.out_count[g.head_sender(l, h)] > 0) evaluate(internal(l, h, x));
    for (int x = 2; x >= 0; --x)
      for (int h = H - 1; h >= 0; --h) {
        if (E.out_count[g.head_sender(l, h)] == 0) continue;
        if (E.present[internal(l, h, x)]) visit(g.head_receiver(l, h, x));
        else drop_all(g.head_receiver(l, h, x));
      }
  }
  r.seconds_sweep = sweep.seconds();
  r.cpu_seconds_sweep = sweep.cpu_seconds();
  const auto split = [&](const auto& items, auto& edges, auto& switches) {
    edges.assign(items.begin(), items.begin() + g.E);
    switches.assign(items.begin() + g.E, items.end());
  };
  split(E.present, r.kept, r.kept_qkv);
  split(evaluated, r.evaluated, r.evaluated_qkv);
  split(effect, r.effect, r.effect_qkv);
  r.final_metric = E.metric;
  return r;
}

namespace {

// Head and MLP scores from item scores: a node's score is the largest over its edges (in and
// out) and, for a head, its q/k/v switches; `floor` for a node with none.
void node_scores_from_edges(const Graph& g, const std::vector<double>& edge, const std::vector<double>& qkv,
                            double floor, MethodResult& r) {
  const int L = g.n_layers(), H = g.n_heads();
  r.head_scores.assign(static_cast<size_t>(L) * H, floor);
  r.mlp_scores.assign(g.has_mlps() ? L : 0, floor);
  auto raise = [&](const Node& n, double v) {
    if (n.kind == NodeKind::Head) r.head_scores[n.layer * H + n.head] = std::max(r.head_scores[n.layer * H + n.head], v);
    if (n.kind == NodeKind::Mlp) r.mlp_scores[n.layer] = std::max(r.mlp_scores[n.layer], v);
  };
  for (int e = 0; e < g.n_edges(); ++e) {
    raise(g.sender_node(g.edge_sender(e)), edge[e]);
    raise(g.receiver_node(g.edge_receiver(e)), edge[e]);
  }
  for (int p = 0; p < n_qkv_switches(g); ++p) raise(Node::attention(p / 3 / H, p / 3 % H), qkv[p]);
}

// The paper's ROC: one ACDC run per threshold, log-spaced from tau_min to tau_max; a head's (an
// edge's) score is the largest threshold at which it is still in the circuit (0: never), so
// thresholding the scores sweeps tau.
MethodResult acdc_tau_sweep(const Model& m, const TokenizedTask& task, const MethodSettings& s, const AcdcOptions& o) {
  const Timer timer;
  const int n = o.tau_sweep;
  const double lo = o.tau_min, hi = o.tau_max;
  if (!(lo > 0) || !(hi > lo))
    throw Error("acdc: the tau sweep needs 0 < tau_min < tau_max (got " + std::to_string(lo) + ", " +
                std::to_string(hi) + ")");
  const Graph g(m.cfg);
  std::vector<double> edge(g.n_edges(), 0.0), qkv(n_qkv_switches(g), 0.0);
  double evaluations = 0, passes = 0;
  for (int i = 0; i < n; ++i) {
    const double tau = lo * std::pow(hi / lo, static_cast<double>(i) / (n - 1));
    AcdcOptions oi = o;
    oi.tau = tau;
    const AcdcResult a = acdc_run(m, task, s, oi);
    for (size_t e = 0; e < edge.size(); ++e)
      if (a.kept[e]) edge[e] = std::max(edge[e], tau);
    for (size_t p = 0; p < qkv.size(); ++p)
      if (a.kept_qkv[p]) qkv[p] = std::max(qkv[p], tau);
    evaluations += a.evaluations, passes += a.forward_passes;
  }
  MethodResult r;
  r.method = "acdc";
  r.edge_scores = edge;
  node_scores_from_edges(g, edge, qkv, 0.0, r);
  r.stats["tau_sweep"] = n;
  r.stats["tau_min"] = lo;
  r.stats["tau_max"] = hi;
  r.stats["edges_evaluated"] = evaluations;
  r.stats["forward_passes"] = passes;
  r.seconds = timer.seconds();
  return r;
}

}  // namespace

MethodResult acdc(const Model& m, const TokenizedTask& task, const MethodSettings& s, const AcdcOptions& o) {
  if (o.tau_sweep > 1) return acdc_tau_sweep(m, task, s, o);
  const Timer timer;
  const AcdcResult a = acdc_run(m, task, s, o);
  MethodResult r;
  r.method = "acdc";
  r.edge_scores = a.effect;
  node_scores_from_edges(Graph(m.cfg), a.effect, a.effect_qkv, -std::numeric_limits<double>::infinity(), r);
  int kept = 0, kept_qkv = 0;
  for (char k : a.kept) kept += k;
  for (char k : a.kept_qkv) kept_qkv += k;
  r.stats["tau"] = o.tau;
  r.stats["edges_kept"] = kept;
  r.stats["qkv_kept"] = kept_qkv;
  r.stats["edges_evaluated"] = a.evaluations;
  r.stats["forward_passes"] = a.forward_passes;
  r.stats["ms_per_evaluation"] = a.evaluations ? 1000.0 * a.seconds_sweep / a.evaluations : 0.0;
  r.stats["cpu_ms_per_evaluation"] = a.evaluations ? 1000.0 * a.cpu_seconds_sweep / a.evaluations : 0.0;
  r.stats["seconds_setup"] = a.seconds_setup;
  r.stats["initial_metric"] = a.initial_metric;
  r.stats["final_metric"] = a.final_metric;
  r.seconds = timer.seconds();
  return r;
}

}  // namespace cs
