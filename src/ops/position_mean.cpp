#include "ops/position_mean.h"

#include <algorithm>
#include <vector>

namespace cs {

void position_mean(float* mean, float* fallback, const float* x, int64_t B, int64_t T, int64_t F,
                   const int* lengths) {
  std::vector<double> sum(static_cast<size_t>(T * F), 0.0), all(fallback ? F : 0, 0.0);
  std::vector<int64_t> count(static_cast<size_t>(T), 0);
  int64_t total = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < std::min<int64_t>(lengths[b], T); ++t) {
      const float* row = x + (b * T + t) * F;
      double* s = sum.data() + t * F;
      for (int64_t j = 0; j < F; ++j) s[j] += row[j];
      if (fallback)
        for (int64_t j = 0; j < F; ++j) all[j] += row[j];
      ++count[t];
      ++total;
    }
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < F; ++j)
      mean[t * F + j] = count[t] ? static_cast<float>(sum[t * F + j] / static_cast<double>(count[t])) : 0.0f;
  if (fallback)
    for (int64_t j = 0; j < F; ++j)
      fallback[j] = total ? static_cast<float>(all[j] / static_cast<double>(total)) : 0.0f;
}

}  // namespace cs
