// bench/scale: the models the field studies now, at their published shapes with random bf16
// weights (init.h presets): checkpoint size, then, each in its own process so its peak resident
// memory is its own (getrusage of the child), the `run` path (load, one 16-token prompt, forward
// tokens/s at (1,16)) and an EAP attribution over 100 IOI prompts with processed weights (as
// `compare --methods eap` runs it). Peak memory is compared with the checkpoint's size.
//   usage: scale [DIR] [preset ...]   (default DIR /tmp/circuitscan-scale; default presets
//          qwen2.5-0.5b llama-3.2-1b gemma-2-2b; llama-3.1-8b needs 16 GB of disk and about
//          18 GB of memory: name it explicitly). Checkpoints are written once and reused.
//          CS_SCALE_DELETE=1 deletes each checkpoint after its row.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "attribution/eap.h"
#include "bench_util.h"
#include "interp/task.h"
#include "model/init.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "ops/process_setup.h"

using namespace cs;
namespace fs = std::filesystem;

namespace {

// Resident memory of this process now, GB (VmRSS).
double rss_gb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  double kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmRSS: %lf kB", &kb) == 1) break;
  std::fclose(f);
  return kb * 1024 / 1e9;
}

// Child modes: print "key value" lines on stdout.
int child_run(const std::string& dir) {
  Timer timer;
  Model m = load_model(dir);
  const double load = timer.seconds();
  Tokenizer tok = Tokenizer::for_model_dir(dir);  // the bundled GPT-2 tokenizer: ids fit every vocabulary
  std::vector<int> ids = tok.encode("When Mary and John went to the store, John gave a drink to Mary and");
  ids.resize(16, ids.back());
  const Batch b = Batch::from_sequences({ids});
  timer.restart();
  forward(m, b, nullptr, {LogitsAt::Last});
  const double first = timer.seconds();
  const double s = bench::median_seconds([&] { forward(m, b, nullptr, {LogitsAt::Last}); }, 3);
  std::printf("load_s %.3f\nfirst_forward_s %.3f\ntokens_per_s %.2f\nprecision %s\nweights_gb %.3f\n", load,
              first, 16 / s, precision_name(m.precision), rss_gb());
  return 0;
}

int child_eap(const std::string& dir) {
  Timer timer;
  Model m = load_model(dir, {.process_weights = true});
  const double load = timer.seconds();
  const double after_load = rss_gb();  // processed weights (their pages touched once)
  Tokenizer tok = Tokenizer::for_model_dir(dir);
  TaskOptions to;
  to.n = 100;
  const TokenizedTask task = make_task("ioi", tok, to);
  MethodSettings s;
  s.n_prompts = 100;
  timer.restart();
  const EdgeAttribution a = edge_attribution(m, task, s, 0);
  std::printf("load_s %.3f\neap_s %.3f\nbatches %d\nloaded_gb %.3f\n", load, timer.seconds(),
              a.batches, after_load);
  return 0;
}

struct ChildResult {
  std::string out;
  double peak_gb = 0, wall_s = 0;
  int status = 0;
};

ChildResult spawn(const std::vector<std::string>& args) {
  int fds[2];
  if (pipe(fds) != 0) std::exit(1);
  const Timer timer;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(fds[1]);
  ChildResult r;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) r.out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  struct rusage ru {};
  wait4(pid, &r.status, 0, &ru);
  r.wall_s = timer.seconds();
  r.peak_gb = ru.ru_maxrss * 1024.0 / 1e9;  // ru_maxrss is in KiB on Linux
  return r;
}

double value(const std::string& out, const std::string& key) {
  const size_t at = out.find(key + " ");
  return at == std::string::npos ? -1 : std::atof(out.c_str() + at + key.size() + 1);
}

}  // namespace

int main(int argc, char** argv) {
  cs::setup_process(argv);
  if (argc == 4 && std::string(argv[1]) == "--child")
    return std::string(argv[2]) == "run" ? child_run(argv[3]) : child_eap(argv[3]);
  const std::string root = argc > 1 ? argv[1] : "/tmp/circuitscan-scale";
  std::vector<std::string> presets;
  for (int i = 2; i < argc; ++i) presets.push_back(argv[i]);
  if (presets.empty()) presets = {"qwen2.5-0.5b", "llama-3.2-1b", "gemma-2-2b"};
  std::printf("Random bf16 checkpoints of the presets' shapes; each column from its own process.\n"
              "peak = the process's peak resident memory (mapped weights included).\n\n");
  std::printf("| preset | parameters | file (GB) | load (s) | run: peak (GB) | run: peak / file | tokens/s (1,16) | EAP 100 prompts (s) | EAP: weights resident after load+processing (GB) | EAP: peak (GB) | EAP: peak / file |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string& p : presets) {
    const ModelConfig c = preset_config(p);
    const std::string dir = root + "/" + p;
    const std::string file = dir + "/model.safetensors";
    if (!fs::exists(file)) {
      const Timer timer;
      write_random_checkpoint(c, dir, DType::BF16, 1);
      std::fprintf(stderr, "%s: wrote %s in %.1f s\n", p.c_str(), dir.c_str(), timer.seconds());
    }
    const double gb = static_cast<double>(fs::file_size(file)) / 1e9;
    const ChildResult run = spawn({argv[0], "--child", "run", dir});
    const ChildResult eap = spawn({argv[0], "--child", "eap", dir});
    const double params = gb / 2;  // bf16: two bytes per parameter
    std::printf("| %s | %.2fB | %.2f | %.2f | %.2f | %.3f | %.1f | %.0f | %.2f | %.2f | %.3f |\n", p.c_str(),
                params, gb, value(run.out, "load_s"), run.peak_gb, run.peak_gb / gb,
                value(run.out, "tokens_per_s"), value(eap.out, "eap_s"), value(eap.out, "loaded_gb"),
                eap.peak_gb, eap.peak_gb / gb);
    if (run.status != 0 || eap.status != 0)
      std::printf("  (a child failed: run status %d, EAP status %d)\n", run.status, eap.status);
    std::fflush(stdout);
    if (std::getenv("CS_SCALE_DELETE")) fs::remove_all(dir);
  }
  return 0;
}
