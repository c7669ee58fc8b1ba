#include "evaluation/json_file.h"

#include <algorithm>
#include <string>

#include "ops/error.h"
#include "ops/files.h"

namespace cs {

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

std::string python_constants_to_null(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (const char* word : {"NaN", "Infinity", "-Infinity"}) {
      const size_t n = std::char_traits<char>::length(word);
      if (text.compare(i, n, word) == 0) {
        out += "null";
        i += n - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

nlohmann::json read_json_file(const std::string& path, const std::string& what, bool python_constants) {
  // A bounded read of a regular file (ops/files.h): a FIFO or /dev/zero is refused, not read.
  std::string text = read_input_file(path, kMaxSmallJsonBytes);
  if (python_constants) text = python_constants_to_null(text);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": not valid JSON for a " + what + " (error at byte " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::exception&) {  // out_of_range.406: a number beyond double's range
    throw Error(path + ": not valid JSON for a " + what + " (a number too large for a double)");
  }
}

}  // namespace cs
