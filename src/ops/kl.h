// Next-token distributions over a vocabulary of V logits: log-softmax, and the KL divergence
// KL(p || q) = sum_v p_v (log p_v - log q_v) that ACDC minimises and subnetwork probing trains on
// (p: the clean run's distribution, fixed; q = softmax z: the patched run's, one per evaluation).
#pragma once
#include <cstdint>

namespace cs {

// out[V] = log softmax(z), in double.
void log_softmax(double* out, const float* z, int64_t V);

// p[V] = softmax(z) (computed in double, stored in float); returns sum_v p_v log p_v, the
// negative entropy kl_to_softmax needs.
double reference_distribution(float* p, const float* z, int64_t V);

// KL(p || softmax z) = negent - sum_v p_v z_v + logsumexp(z) for p, negent from
// reference_distribution: float SIMD blocks summed in double (V = 50,257 exps per prompt per
// evaluation is the floor of an ACDC step). If dz is given, dz[V] = scale (softmax(z) - p), the
// gradient of scale * KL.
double kl_to_softmax(const float* p, double negent, const float* z, int64_t V,
                     float* dz = nullptr, double scale = 1.0);

// Naive reference: KL(softmax a || softmax b) in double.
double kl_naive(const float* a, const float* b, int64_t V);

}  // namespace cs
