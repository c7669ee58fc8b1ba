// Command-line flags, each declared once (name, default, help); --help text is generated from
// the declarations (gemma.cpp's util/args.h idea).
#pragma once
#include <map>
#include <string>
#include <vector>

namespace cs {

// The MODEL argument of every command (resolved by load_model: model/model_path.h).
inline constexpr const char* kModelHelp =
    "Hugging Face model directory, or a hub id in the local Hugging Face cache\n"
    "                            (ORG/NAME[@REVISION]; $HF_HUB_CACHE, $HF_HOME, ~/.cache/huggingface/hub)";

class Args {
 public:
  Args(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

  Args& positional(const std::string& name, const std::string& help, bool required = true);
  Args& flag(const std::string& name, const std::string& default_value, const std::string& help);
  Args& toggle(const std::string& name, const std::string& help);  // boolean --name
  Args& repeated(const std::string& name, const std::string& help); // --name may repeat

  // Returns false if --help was asked for (help already printed). Throws UsageError.
  bool parse(int argc, char** argv);

  std::string str(const std::string& name) const;
  int integer(const std::string& name) const;
  double number(const std::string& name) const;
  bool on(const std::string& name) const;
  bool given(const std::string& name) const;
  const std::vector<std::string>& all(const std::string& name) const;
  std::string help() const;
  // Every flag's value, for recording the settings of a run.
  std::map<std::string, std::string> values() const { return values_; }

 private:
  struct Decl {
    std::string name, default_value, help;
    enum { Positional, Flag, Toggle, Repeated } kind;
    bool required = false;
  };
  const Decl& decl(const std::string& name) const;
  std::string command_, summary_;
  std::vector<Decl> decls_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::map<std::string, bool> given_;
};

}  // namespace cs
