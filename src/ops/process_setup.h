// Process-wide settings that circuitscan's programs (the CLI and bench/) apply at start-up.
#pragma once

namespace cs {

// Call first thing in main(). Three settings, each measured on this project's 2-core machines:
// - OpenMP waits: spin ~1000 iterations, then sleep (GOMP_SPINCOUNT=1000), unless the user chose
//   a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT set). libgomp's default spins ~0.3M iterations,
//   which wastes most of the CPU when the machine is shared (training 3-6x slower beside other
//   jobs); fully passive waits make every barrier a futex sleep (SAE training, one short
//   barrier-separated epoch after another, 0.35 s vs 0.26 s). libgomp reads the variable when it
//   loads, so this sets it and re-executes the program once (CS_NO_REEXEC marks the second run).
// - OpenBLAS's kernels: where the kernel set in use is AVX2 (Haswell, Zen) on a CPU with AVX-512,
//   whether OpenBLAS chose it or OPENBLAS_CORETYPE named it, OPENBLAS_CORETYPE is set to the
//   AVX-512 set (SkylakeX, or Cooperlake with AVX512-BF16); CS_KEEP_OPENBLAS_CORETYPE=1 keeps the
//   AVX2 one. OpenBLAS reads the variable when it loads (the same re-execution). The AVX2 sgemm's
//   bits depend on the thread count (which circuitscan's results must not), and a forward at
//   (32,16) ran 1.5x slower with it (540 vs 820 ms on a Zen 5).
// - malloc keeps freed memory: every block from the heap (none mapped on its own), and up to
//   1 GiB freed at the heap's top kept, so a forward reuses the last one's pages instead of
//   faulting in new ones (on a Zen 5 VM, a (32,16) forward in bf16: 215 ms against 381).
//   The Python module applies this one too (it cannot re-execute the interpreter).
void setup_process(char** argv);

}  // namespace cs
