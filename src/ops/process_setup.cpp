#include "ops/process_setup.h"

#include <malloc.h>
#include <unistd.h>

#include <cblas.h>

#include <cstdlib>
#include <string>

namespace cs {

namespace {

// The OpenBLAS kernel set for this CPU when the one in use (OpenBLAS's choice, or the
// OPENBLAS_CORETYPE a container set) passes over its AVX-512, else null. OpenBLAS's Haswell (AVX2)
// sgemm gives different bits on one and on two threads at the same shape, and on an AVX-512 CPU
// runs a forward at 32 x 16 tokens 1.5x slower than the SkylakeX/Cooperlake kernels (seen on this
// project's Zen 5 machine, whose environment sets OPENBLAS_CORETYPE=Haswell). The SkylakeX set
// needs AVX-512F, CD, BW, DQ and VL; Cooperlake adds the BF16 instructions.
const char* openblas_core_override() {
  const std::string core = openblas_get_corename();
  if (core != "Haswell" && core != "Zen") return nullptr;
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512cd") ||
      !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512dq") ||
      !__builtin_cpu_supports("avx512vl"))
    return nullptr;
  return __builtin_cpu_supports("avx512bf16") ? "Cooperlake" : "SkylakeX";
}

}  // namespace

void setup_process(char** argv) {
  if (!std::getenv("CS_NO_REEXEC") && argv) {
    bool reexec = false;
    if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT")) {
      setenv("GOMP_SPINCOUNT", "1000", 1);
      reexec = true;
    }
    if (!std::getenv("CS_KEEP_OPENBLAS_CORETYPE"))
      if (const char* core = openblas_core_override()) {
        setenv("OPENBLAS_CORETYPE", core, 1);
        reexec = true;
      }
    if (reexec) {
      setenv("CS_NO_REEXEC", "1", 1);
      execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
    }
  }
  // Freed memory stays with malloc for the next forward instead of going back to the kernel:
  // every block comes from the heap (glibc's mmap threshold stops at 32 MB, and a GPT-2 forward's
  // logits at 512 tokens are 103 MB, mapped and unmapped each pass), and up to 1 GiB freed at its
  // top stays mapped. On the Zen 5 VM each new page cost ~6 us in faults: 25,000 per (32,16)
  // forward, which then took 381 ms in bf16 against 215 ms, and 530 against 372 ms exact.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace cs
