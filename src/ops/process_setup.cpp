#include "ops/process_setup.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>

namespace cs {

void setup_process(char** argv) {
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT") &&
      !std::getenv("CS_NO_REEXEC") && argv) {
    setenv("GOMP_SPINCOUNT", "1000", 1);
    setenv("CS_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
  }
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace cs
