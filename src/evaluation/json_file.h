// Reading a JSON file whose errors are one line naming the file (the CLI prints them as is).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace cs {

// A bounded read of a regular file (ops/files.h read_input_file, kMaxSmallJsonBytes) parsed as
// JSON; throws cs::Error naming the path: unreadable, or "<path>: not valid JSON for a <what> (...)".
// python_constants: also read the bare NaN, Infinity and -Infinity that Python's json.dump writes
// for non-finite floats (EAP-IG's graph files hold NaN for unscored nodes), as null.
nlohmann::json read_json_file(const std::string& path, const std::string& what, bool python_constants = false);

// text with every NaN, Infinity and -Infinity outside strings replaced by null (same JSON
// otherwise; the replacement is shorter, so byte offsets in later errors shift).
std::string python_constants_to_null(const std::string& text);

// s with its newlines turned into spaces, for one-line error messages.
std::string one_line(std::string s);

}  // namespace cs
