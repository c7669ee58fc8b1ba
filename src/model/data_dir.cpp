#include "model/data_dir.h"

#include <cstdlib>

namespace cs {

std::string data_dir() {
  const char* env = std::getenv("CIRCUITSCAN_DATA_DIR");
  return env && *env ? env : std::string(CS_SOURCE_DIR) + "/data";
}

}  // namespace cs
