// Reading a JSON file whose errors are one line naming the file (the CLI prints them as is).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace cs {

// A bounded read of a regular file (ops/files.h read_input_file, kMaxSmallJsonBytes) parsed as
// JSON; throws cs::Error naming the path: unreadable, or "<path>: not valid JSON for a <what> (...)".
nlohmann::json read_json_file(const std::string& path, const std::string& what);

// s with its newlines turned into spaces, for one-line error messages.
std::string one_line(std::string s);

}  // namespace cs
