// main() of every test program: the process settings that circuitscan's programs run under
// (ops/process_setup.h: OpenMP waits, malloc, OpenBLAS's kernel set), then googletest. Tests
// that compare bits across thread counts rely on the kernel set it picks.
#include <gtest/gtest.h>

#include "ops/process_setup.h"

int main(int argc, char** argv) {
  cs::setup_process(argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
