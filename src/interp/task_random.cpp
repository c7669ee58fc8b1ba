// random_token_task (task.h): a synthetic logit-difference task for engine tests and benchmarks.
#include <random>

#include "interp/task.h"

namespace cs {

TokenizedTask random_token_task(int n, int T, int V, int n_swap, uint32_t seed) {
  std::mt19937 g(seed);
  TokenizedTask t;
  t.name = "random";
  t.metric = MetricKind::LogitDiff;
  for (int i = 0; i < n; ++i) {
    std::vector<int> c(T);
    for (int& x : c) x = static_cast<int>(g() % V);
    std::vector<int> k = c;
    for (int j = 0; j < n_swap; ++j) k[g() % T] = static_cast<int>(g() % V);
    t.clean.push_back(c);
    t.corrupt.push_back(k);
    const int a = static_cast<int>(g() % V);
    int w = static_cast<int>(g() % V);
    if (w == a) w = (w + 1) % V;
    t.answer.push_back(a);
    t.wrong.push_back({w});
    t.positions["end"].push_back(T - 1);
  }
  return t;
}

}  // namespace cs
