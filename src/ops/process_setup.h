// Process-wide settings that circuitscan's programs (the CLI and bench/) apply at start-up.
#pragma once

namespace cs {

// Call first thing in main(). Two settings, each measured on this project's 2-core machine:
// - OpenMP waits: spin ~1000 iterations, then sleep (GOMP_SPINCOUNT=1000), unless the user chose
//   a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT set). libgomp's default spins ~0.3M iterations,
//   which wastes most of the CPU when the machine is shared (training 3-6x slower beside other
//   jobs); fully passive waits make every barrier a futex sleep (SAE training, one short
//   barrier-separated epoch after another, 0.35 s vs 0.26 s). libgomp reads the variable when it
//   loads, so this sets it and re-executes the program once (CS_NO_REEXEC marks the second run).
// - glibc malloc keeps freed memory (M_MMAP_THRESHOLD at its 32 MB maximum, M_TRIM_THRESHOLD
//   1 GiB) instead of returning every large tensor to the kernel and faulting fresh zeroed pages
//   in on the next allocation (forward pass over 250 docstring prompts: 0.68 s -> 0.44 s).
void setup_process(char** argv);

}  // namespace cs
