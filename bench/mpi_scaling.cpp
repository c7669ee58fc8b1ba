// The data-parallel passes (ops/comm.h) on this machine: one rank x 2 threads against two ranks
// x 1 thread (and one rank x 1 thread, for the part that does not split), interleaved, medians;
// then the bytes each pass moves (rank 0's share, which the root-ordered allreduce makes the
// largest) against model size and prompt count, measured under two ranks; then the speed-up
// projected for 8 and 64 nodes (one rank each) from those measurements.
//
//   build/bench/mpi_scaling [REPS=3] [PROMPTS=64]
//
// The program runs itself as workers (`--worker PRESET PROMPTS`): plainly, and under mpirun -np
// 2. Models are random-weight GPT-2 shapes (model/init.h presets), prompts random tokens
// (16 per prompt): timing and volume do not depend on what the weights know.
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "attribution/eap.h"
#include "baselines/acdc.h"
#include "baselines/activation_patching.h"
#include "bench_util.h"
#include "interp/faithfulness.h"
#include "interp/head_outputs.h"
#include "interp/task.h"
#include "model/init.h"
#include "ops/comm.h"
#include "ops/timer.h"

using namespace cs;

namespace {

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

const std::vector<std::string> kPasses = {"head outputs", "EAP", "EAP-IG (5 steps)", "activation patching",
                                          "faithfulness curve", "ACDC (200 evaluations)"};
constexpr size_t kLightPasses = 3;  // the first three: what a GPT-2-small-sized volume run measures

// One run of every pass (light: the first kLightPasses); prints "pass<TAB>seconds<TAB>bytes rank 0
// moved" per pass (rank 0 only).
int worker(const std::string& preset, int n_prompts, bool light) {
  Comm& comm = Comm::world();
  const ModelConfig cfg = preset_config(preset);
  const Model m = random_model(cfg, 1);
  const TokenizedTask task = random_token_task(n_prompts, 16, static_cast<int>(std::min<int64_t>(cfg.vocab_size, 5000)), 2, 7);
  MethodSettings s;
  s.n_prompts = n_prompts;
  FaithfulnessOptions fo;
  fo.n_prompts = n_prompts;
  std::vector<double> scores(cfg.n_heads_total());
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = std::sin(1.3 * i);
  // Wall time, and the largest process CPU time over the ranks: on a shared machine a rank may
  // wait for a core, and its CPU time is what it would take on a core of its own.
  auto run = [&](const std::string& name, const std::function<void()>& fn) {
    comm.barrier();
    comm.reset_bytes_moved();
    const double c0 = cpu_seconds();
    const Timer t;
    fn();
    const double cpu = cpu_seconds() - c0;
    comm.barrier();
    const double sec = t.seconds();
    const uint64_t bytes = comm.bytes_moved(), calls = comm.collectives();
    double cpu_max = 0;
    for (const std::string& c : comm.gather(std::to_string(cpu))) cpu_max = std::max(cpu_max, std::stod(c));
    if (comm.is_root())
      std::printf("%s\t%.6f\t%llu\t%llu\t%.6f\n", name.c_str(), sec, static_cast<unsigned long long>(bytes),
                  static_cast<unsigned long long>(calls), cpu_max);
  };
  run(kPasses[0], [&] { collect_head_outputs(m, task.clean, PositionChoice{}, 64); });
  run(kPasses[1], [&] { edge_attribution(m, task, s, 0); });
  run(kPasses[2], [&] { edge_attribution(m, task, s, 5); });
  if (!light) {
    run(kPasses[3], [&] { node_patching(m, task, s); });
    run(kPasses[4], [&] { faithfulness_curve(m, task, scores, fo); });
    AcdcOptions a;
    a.max_evaluations = 200;
    run(kPasses[5], [&] { acdc_run(m, task, s, a); });
  }
  std::fflush(stdout);
  return 0;
}

struct PassResult {
  double seconds = 0;
  uint64_t bytes = 0, calls = 0;  // rank 0's payload bytes and collective calls
  double cpu = 0;                 // the largest process CPU time over the ranks
};

// Runs a worker command; pass name -> result. Exits with one line when it fails.
[[maybe_unused]] std::map<std::string, PassResult> run_worker(const std::string& cmd, size_t want = kPasses.size()) {
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  std::map<std::string, PassResult> out;
  char line[512];
  while (p && std::fgets(line, sizeof line, p)) {
    std::string l(line);
    std::vector<std::string> f;
    std::stringstream ss(l);
    for (std::string x; std::getline(ss, x, '\t');) f.push_back(x);
    if (f.size() != 5) continue;
    out[f[0]] = {std::stod(f[1]), std::stoull(f[2]), std::stoull(f[3]), std::stod(f[4])};
  }
  const int st = p ? pclose(p) : -1;
  if (st != 0 || out.size() != want) {
    std::fprintf(stderr, "error: worker failed: %s\n", cmd.c_str());
    std::exit(1);
  }
  return out;
}

[[maybe_unused]] double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

[[maybe_unused]] std::string human_bytes(double b) {
  char s[32];
  if (b >= 1 << 20) std::snprintf(s, sizeof s, "%.1f MiB", b / (1 << 20));
  else if (b >= 1 << 10) std::snprintf(s, sizeof s, "%.1f KiB", b / (1 << 10));
  else std::snprintf(s, sizeof s, "%.0f B", b);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--worker") == 0) {
    if (argc != 4 && argc != 5) return 2;
    return worker(argv[2], static_cast<int>(bench::int_arg(argv[3], "PROMPTS", 2, 100000)), argc == 5);
  }
  [[maybe_unused]] const int reps = argc > 1 ? static_cast<int>(bench::int_arg(argv[1], "REPS", 1, 100)) : 3;
  [[maybe_unused]] const int prompts = argc > 2 ? static_cast<int>(bench::int_arg(argv[2], "PROMPTS", 4, 100000)) : 64;
  if (!built_with_mpi()) {
    std::fprintf(stderr, "error: this build has no MPI (CS_WITH_MPI=OFF); install libopenmpi-dev (scripts/setup.sh) and rebuild\n");
    return 1;
  }
#ifndef CS_MPIEXEC
  std::fprintf(stderr, "error: no mpirun known to this build\n");
  return 1;
#else
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  // Passive OpenMP waiting (as the test suite runs): spinning threads on a shared machine make
  // 2 threads slower than 1 and would flatter the ranks.
  const std::string mpirun = std::string("'") + CS_MPIEXEC + "' -np 2 --allow-run-as-root --oversubscribe -x OMP_NUM_THREADS=1 -x OMP_WAIT_POLICY=passive ";
  auto plain = [&](int threads, const std::string& preset, int n) {
    return "OMP_WAIT_POLICY=passive OMP_NUM_THREADS=" + std::to_string(threads) + " '" + self + "' --worker " + preset + " " + std::to_string(n);
  };
  auto two_ranks = [&](const std::string& preset, int n, bool light = false) {
    return "OMP_WAIT_POLICY=passive OMP_NUM_THREADS=1 " + mpirun + "'" + self + "' --worker " + preset + " " + std::to_string(n) + (light ? " light" : "");
  };

  // 1. Timing on the shipped model's shape, the three layouts interleaved.
  const std::string preset = "toy-gpt2-4l";
  std::map<std::string, std::vector<double>> t12, t21, t11, c21, c11;
  std::map<std::string, uint64_t> bytes2, calls2;
  for (int r = 0; r < reps; ++r) {
    for (auto& [k, v] : run_worker(plain(2, preset, prompts))) t12[k].push_back(v.seconds);
    for (auto& [k, v] : run_worker(two_ranks(preset, prompts))) t21[k].push_back(v.seconds), c21[k].push_back(v.cpu), bytes2[k] = v.bytes, calls2[k] = v.calls;
    for (auto& [k, v] : run_worker(plain(1, preset, prompts))) t11[k].push_back(v.seconds), c11[k].push_back(v.cpu);
  }
  std::printf("Data-parallel passes, model %s (random weights), %d prompts of 16 tokens; medians of %d interleaved runs.\n"
              "This machine: 2 cores, SHARED with other jobs while measured (timings are noisy; ratios are from one run).\n\n",
              preset.c_str(), prompts, reps);
  std::printf("| pass | 1 rank x 1 thread (s) | 1 rank x 2 threads (s) | 2 ranks x 1 thread (s) | speed-up of 2 ranks over 1 rank x 2 threads | "
              "CPU s: 1 rank / busiest of 2 ranks | serial fraction s | bytes moved (rank 0, 2 ranks) | collectives |\n|---|---|---|---|---|---|---|---|---|\n");
  std::map<std::string, double> serial, t1;
  for (const std::string& p : kPasses) {
    const double a = median(t11[p]), b = median(t12[p]), c = median(t21[p]);
    const double ca = median(c11[p]), cc = median(c21[p]);
    // Amdahl on two ranks from CPU time (what each rank would take on a core of its own; the
    // wall times wait for cores on a shared machine): cc = ca (s + (1 - s) / 2).
    serial[p] = std::clamp(2 * cc / ca - 1, 0.0, 1.0);
    t1[p] = ca;
    std::printf("| %s | %.4f | %.4f | %.4f | %.2fx | %.3f / %.3f | %.2f | %s | %llu |\n", p.c_str(), a, b, c, b / c, ca, cc,
                serial[p], human_bytes(static_cast<double>(bytes2[p])).c_str(), static_cast<unsigned long long>(calls2[p]));
  }

  // 2. Communication volume against model size and prompt count (two ranks; rank 0's bytes).
  std::printf("\nBytes rank 0 moves per pass under 2 ranks (sent + received payload), by model and prompt count:\n\n| model | heads | d_model | prompts |");
  for (const std::string& p : kPasses) std::printf(" %s |", p.c_str());
  std::printf("\n|---|---|---|---|");
  for (size_t i = 0; i < kPasses.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (const std::string& pr : {std::string("gpt2-tiny"), std::string("toy-gpt2-4l"), std::string("gpt2-small")})
    for (int n : {8, 32}) {
      const bool light = pr == "gpt2-small";
      const auto res = run_worker(two_ranks(pr, n, light), light ? kLightPasses : kPasses.size());
      const ModelConfig c = preset_config(pr);
      std::printf("| %s | %d | %d | %d |", pr.c_str(), c.n_heads_total(), static_cast<int>(c.d_model), n);
      for (const std::string& p : kPasses)
        std::printf(" %s |", res.count(p) ? human_bytes(static_cast<double>(res.at(p).bytes)).c_str() : "(not run)");
      std::printf("\n");
    }
  std::printf("\nEAP, EAP-IG, activation patching and faithfulness move a fixed-size sum (edge scores, head deltas, one\n"
              "metric per circuit size): independent of the prompt count. ACDC moves one number per evaluation (its cost is\n"
              "latency, not volume). Head outputs are gathered whole: prompts x heads x d_model floats, linear in both.\n"
              "(not run): GPT-2 small's patching, faithfulness and ACDC passes take minutes here; their volume does not\n"
              "depend on d_model (heads + layers + 1, 24, and 200 numbers).\n");

  // 3. Projection: P nodes, one rank each; compute from the measured serial fraction (Amdahl),
  // communication from the measured volume scaled to P ranks (the root gathers and broadcasts to
  // each rank in turn: 2 (P - 1) messages of the per-rank payload, or for head outputs the whole
  // array once in and P - 1 times out), over an ASSUMED link of 10 GB/s and 5 us per message.
  const double bw = 10e9, lat = 5e-6;
  std::printf("\nProjected speed-up over one node, %s, %d prompts (Amdahl with the serial fraction s measured in CPU time;\n"
              "communication from the measured volume, root-ordered as implemented, over an assumed 10 GB/s link\n"
              "and 5 us per message; not measured on a cluster):\n\n| pass | s | 2 ranks (CPU time) | 8 nodes | 64 nodes |\n|---|---|---|---|---|\n",
              preset.c_str(), prompts);
  for (const std::string& p : kPasses) {
    const double per_rank_payload = static_cast<double>(bytes2[p]) / 2.0;  // at P = 2 rank 0 moves 2 x payload
    auto speedup = [&](int P) {
      double comm_s;
      if (p == kPasses[0]) {  // array A: gather (P-1)/P A in, broadcast (P-1) A out; at P = 2 that is 1.5 A
        const double A = static_cast<double>(bytes2[p]) / 1.5;
        comm_s = A * ((P - 1.0) / P + (P - 1)) / bw;
      } else {
        comm_s = per_rank_payload * 2 * (P - 1) / bw;
      }
      comm_s += static_cast<double>(calls2[p]) * 2.0 * (P - 1) * lat;  // each collective: P - 1 messages in, P - 1 out
      return t1[p] / (t1[p] * (serial[p] + (1 - serial[p]) / P) + comm_s);
    };
    std::printf("| %s | %.2f | %.2fx | %.1fx | %.1fx |\n", p.c_str(), serial[p], t1[p] / median(c21[p]), speedup(8), speedup(64));
  }
  std::printf("\nWith %d prompts, 64 nodes leave about %d prompts per rank; the projection ignores the loss of batch\n"
              "efficiency that brings (more prompts per rank keep it). Measured on a shared 2-core machine.\n",
              prompts, std::max(1, prompts / 64));
  return 0;
#endif
}
