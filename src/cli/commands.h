// The circuitscan subcommands; each lives in its own cmd_*.cpp and receives the arguments after
// its name. Return value is the exit code; user errors are thrown as cs::Error (exit 1) or
// cs::UsageError (exit 2) and printed by main.
#pragma once

#include "cli/args.h"

namespace cs {

int cmd_info(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_hooks(int argc, char** argv);
int cmd_init_random(int argc, char** argv);
int cmd_discover(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_compare(int argc, char** argv);
int cmd_reference_circuit(int argc, char** argv);
int cmd_tasks(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_sweep(int argc, char** argv);

// compare's flag declarations (cmd_compare.cpp), for sweep's plan check.
Args compare_args();

}  // namespace cs
