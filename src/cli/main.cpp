// circuitscan: find the circuits inside transformer language models.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "ops/error.h"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*fn)(int, char**);
};

const Command kCommands[] = {
    {"info", "print a model's architecture, sizes, dtype and parameter count", cs::cmd_info},
    {"run", "run a prompt: next-token distribution, cached or saved hook activations", cs::cmd_run},
    {"init-random", "write a random-weight checkpoint in Hugging Face format", cs::cmd_init_random},
    {"discover", "find a task's circuit with the discrete-SAE method (report, scores, evaluation)", cs::cmd_discover},
    {"reference-circuit", "find a reference circuit by greedy ablation pruning and path patching", cs::cmd_reference_circuit},
    {"compare", "run the SAE method and the baselines side by side: AUC, precision, faithfulness, time", cs::cmd_compare},
    {"convert", "rewrite a checkpoint in another dtype (F32 -> F16)", cs::cmd_convert},
    {"tasks", "list the builtin tasks, or show a task's prompts as the model gets them", cs::cmd_tasks},
    {"eval", "evaluate head scores against a ground-truth circuit (AUC, precision, recall)", cs::cmd_eval},
    {"train", "train a small GPT-2 on the generated task + filler corpus (AdamW, HF checkpoints)", cs::cmd_train},
};

void usage(FILE* f) {
  std::fprintf(f, "usage: circuitscan COMMAND [args] [--help]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(f, "  %-14s %s\n", c.name, c.summary);
}

}  // namespace

// OpenMP threads that spin while waiting (libgomp's default) waste most of the CPU when the
// machine is shared (measured: training 3-6x slower with other jobs running). The wait policy is
// read when libgomp loads, so when the user has not chosen one we set it and re-execute once.
static void prefer_passive_openmp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") || std::getenv("CS_NO_REEXEC")) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  setenv("CS_NO_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
}

int main(int argc, char** argv) {
  prefer_passive_openmp_wait(argv);
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.fn(argc - 2, argv + 2);
    } catch (const cs::UsageError& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 2;
    } catch (const cs::Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "error: out of memory: use fewer prompts or a smaller batch\n");
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "error: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
