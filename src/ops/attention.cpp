#include "ops/attention.h"

#include <cmath>
#include <limits>
#include <vector>

#include "ops/matmul.h"
#include "ops/simd_math.h"

namespace cs {

void attention_scores(float* scores, const float* q, int64_t ldq, const float* k, int64_t ldk,
                      int64_t T, int64_t dh, float scale, int64_t q0) {
  const int64_t R = T - q0;
  sgemm(false, true, R, T, dh, scale, q, ldq, k, ldk, 0.0f, scores, T);
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = q0 + i + 1; j < T; ++j) scores[i * T + j] = ninf;
}

void causal_softmax(float* p, int64_t T, int64_t q0) {
  for (int64_t i = 0; i < T - q0; ++i) {
    float* row = p + i * T;
    const int64_t last = q0 + i;  // the query's position: keys 0..last are visible
    float mx = row[0];
#pragma omp simd reduction(max : mx)
    for (int64_t j = 1; j <= last; ++j) mx = row[j] > mx ? row[j] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j <= last; ++j) {
      row[j] = cs_expf(row[j] - mx);
      sum += row[j];
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j <= last; ++j) row[j] *= inv;
    for (int64_t j = last + 1; j < T; ++j) row[j] = 0.0f;
  }
}

void attention_values(float* z, int64_t ldz, const float* p, const float* v, int64_t ldv,
                      int64_t T, int64_t dh, int64_t q0) {
  sgemm(false, false, T - q0, dh, T, 1.0f, p, T, v, ldv, 0.0f, z, ldz);
}

void attention_naive(float* z, float* p, const float* q, const float* k, const float* v, int64_t T,
                     int64_t dh, float scale) {
  std::vector<double> row(T);
  for (int64_t i = 0; i < T; ++i) {
    double mx = -1e300;
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t d = 0; d < dh; ++d) s += static_cast<double>(q[i * dh + d]) * k[j * dh + d];
      row[j] = s * scale;
      mx = row[j] > mx ? row[j] : mx;
    }
    double sum = 0;
    for (int64_t j = 0; j <= i; ++j) sum += (row[j] = std::exp(row[j] - mx));
    for (int64_t j = 0; j < T; ++j) p[i * T + j] = j <= i ? static_cast<float>(row[j] / sum) : 0.0f;
    for (int64_t d = 0; d < dh; ++d) {
      double acc = 0;
      for (int64_t j = 0; j <= i; ++j) acc += row[j] / sum * v[j * dh + d];
      z[i * dh + d] = static_cast<float>(acc);
    }
  }
}

}  // namespace cs
