// circuitscan: find the circuits inside transformer language models.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "ops/comm.h"
#include "ops/error.h"
#include "ops/process_setup.h"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*fn)(int, char**);
};

const Command kCommands[] = {
    {"info", "print a model's architecture, sizes, dtype and parameter count", cs::cmd_info},
    {"run", "run a prompt: next-token distribution, cached or saved hook activations", cs::cmd_run},
    {"hooks", "list a model's hook points (TransformerLens names) with their shapes", cs::cmd_hooks},
    {"init-random", "write a random-weight checkpoint in Hugging Face format", cs::cmd_init_random},
    {"discover", "find a task's circuit with the discrete-SAE method (report, scores, evaluation)", cs::cmd_discover},
    {"reference-circuit", "find a reference circuit by greedy ablation pruning and path patching", cs::cmd_reference_circuit},
    {"compare", "run the SAE method and the baselines side by side: AUC, precision, faithfulness, time", cs::cmd_compare},
    {"convert", "rewrite a checkpoint in another dtype (F32 -> F16)", cs::cmd_convert},
    {"tasks", "list the builtin tasks, or show a task's prompts as the model gets them", cs::cmd_tasks},
    {"eval", "evaluate head scores against a ground-truth circuit (AUC, precision, recall)", cs::cmd_eval},
    {"sweep", "run a plan of models x tasks x methods x seeds as jobs (threads, MPI ranks); one combined table", cs::cmd_sweep},
    {"train", "train a small GPT-2 on the generated task + filler corpus (AdamW, HF checkpoints)", cs::cmd_train},
};

void usage(FILE* f) {
  std::fprintf(f, "usage: circuitscan COMMAND [args] [--help]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(f, "  %-14s %s\n", c.name, c.summary);
}

// An error is one line on stderr, whatever its text holds (a path or a JSON key with a newline).
void print_error(const char* what) {
  std::string line = what;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  std::fprintf(stderr, "error: %s\n", line.c_str());
}

std::string command_names() {
  std::string s;
  for (const Command& c : kCommands) s += (s.empty() ? "" : ", ") + std::string(c.name);
  return s;
}

// The command's exit code; *threw: it ended by an error rather than by returning.
int run_command(const Command& c, int argc, char** argv, bool* threw) {
  *threw = true;
  try {
    const int code = c.fn(argc - 2, argv + 2);
    *threw = false;
    return code;
  } catch (const cs::UsageError& e) {
    print_error(e.what());
    return 2;
  } catch (const cs::Error& e) {
    print_error(e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    print_error("out of memory: the run needs more memory than this machine has; use smaller settings "
                "(fewer prompts, features or trials)");
    return 1;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  cs::setup_process(argv);
  if (argc < 2) {  // the list on stdout, the error in one line on stderr
    usage(stdout);
    print_error("no command given: pick one of the commands above");
    return 2;
  }
  if (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    // Under mpirun every rank starts MPI here; an error on any rank ends them all (a rank left
    // alone would wait in its next collective forever).
    cs::Comm& world = cs::Comm::world();
    bool threw = false;
    const int code = run_command(c, argc, argv, &threw);
    if (threw && world.active()) world.abort_all(code);
    return code;
  }
  print_error(("unknown command '" + std::string(argv[1]) + "': the commands are " + command_names() +
               " (circuitscan --help)").c_str());
  return 2;
}
