// Command-line flags, each declared once with its name, default, allowed values and help; the
// --help text is generated from the declarations (gemma.cpp's util/args.h idea), and every value
// is checked against its declaration while parsing, so a bad value is a usage error (exit 2)
// before any work starts: integers must fit their range, numbers must be finite and in range,
// choices must be one of the listed words.
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace cs {

// The MODEL argument of every command (resolved by load_model: model/model_path.h).
inline constexpr const char* kModelHelp =
    "Hugging Face model directory, or a hub id in the local Hugging Face cache\n"
    "                            (ORG/NAME[@REVISION]; $HF_HUB_CACHE, $HF_HOME, ~/.cache/huggingface/hub)";

// Bounds of a real-valued flag; open ends exclude the bound, infinite ends are no bound.
struct RealRange {
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  static RealRange any() { return {}; }
  static RealRange positive() { return {0, std::numeric_limits<double>::infinity(), true, false}; }
  static RealRange non_negative() { return {0, std::numeric_limits<double>::infinity(), false, false}; }
  static RealRange closed(double lo, double hi) { return {lo, hi, false, false}; }
  bool contains(double v) const;
  std::string str() const;  // "(0, 1]", "> 0", "any number"
};

// Seeds: any non-negative 64-bit integer (stored as uint64_t).
inline constexpr int64_t kMaxSeed = std::numeric_limits<int64_t>::max();

class Args {
 public:
  Args(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

  Args& positional(const std::string& name, const std::string& help, bool required = true);
  // Free text: a path, a name, a list the command parses itself.
  Args& flag(const std::string& name, const std::string& default_value, const std::string& help);
  // An integer in [lo, hi]. An empty default makes the flag optional (ask given() first).
  Args& int_flag(const std::string& name, const std::string& default_value, int64_t lo, int64_t hi,
                 const std::string& help);
  // A finite number in `range`. An empty default makes the flag optional.
  Args& real_flag(const std::string& name, const std::string& default_value, RealRange range,
                  const std::string& help);
  // One of `choices`. An empty default makes the flag optional.
  Args& choice_flag(const std::string& name, const std::string& default_value,
                    const std::vector<std::string>& choices, const std::string& help);
  Args& toggle(const std::string& name, const std::string& help);  // boolean --name
  Args& repeated(const std::string& name, const std::string& help); // --name may repeat

  // Returns false if --help was asked for (help already printed). Throws UsageError.
  bool parse(int argc, char** argv);

  std::string str(const std::string& name) const;
  int integer(const std::string& name) const;       // an int_flag whose range fits an int
  int64_t integer64(const std::string& name) const; // any int_flag
  uint64_t seed(const std::string& name) const;     // an int_flag in [0, kMaxSeed]
  double number(const std::string& name) const;     // a real_flag
  bool on(const std::string& name) const;
  bool given(const std::string& name) const;
  const std::vector<std::string>& all(const std::string& name) const;
  std::string help() const;
  // Every flag's value, for recording the settings of a run.
  std::map<std::string, std::string> values() const { return values_; }
  const std::string& command() const { return command_; }

 private:
  struct Decl {
    std::string name, default_value, help;
    enum { Positional, Flag, Int, Real, Choice, Toggle, Repeated } kind;
    bool required = false;
    int64_t lo = 0, hi = 0;              // Int
    RealRange range;                     // Real
    std::vector<std::string> choices;    // Choice
  };
  const Decl& decl(const std::string& name) const;
  Args& add(Decl d);
  void check_value(const Decl& d, const std::string& value) const;  // UsageError if out of range
  std::string allowed(const Decl& d) const;                          // "1 to 100000", "one of a, b"
  std::string command_, summary_;
  std::vector<Decl> decls_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::map<std::string, bool> given_;
};

}  // namespace cs
