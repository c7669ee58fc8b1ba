#include "evaluation/json_file.h"

#include <algorithm>

#include "ops/error.h"
#include "ops/files.h"

namespace cs {

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  // A bounded read of a regular file (ops/files.h): a FIFO or /dev/zero is refused, not read.
  const std::string text = read_input_file(path, kMaxSmallJsonBytes);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": not valid JSON for a " + what + " (error at byte " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::exception&) {  // out_of_range.406: a number beyond double's range
    throw Error(path + ": not valid JSON for a " + what + " (a number too large for a double)");
  }
}

}  // namespace cs
