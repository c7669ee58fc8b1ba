#include "cli/args.h"

#include <cstdio>
#include <cstdlib>

#include "ops/error.h"

namespace cs {

Args& Args::positional(const std::string& name, const std::string& help, bool required) {
  decls_.push_back({name, "", help, Decl::Positional, required});
  return *this;
}
Args& Args::flag(const std::string& name, const std::string& def, const std::string& help) {
  decls_.push_back({name, def, help, Decl::Flag});
  values_[name] = def;
  return *this;
}
Args& Args::toggle(const std::string& name, const std::string& help) {
  decls_.push_back({name, "", help, Decl::Toggle});
  values_[name] = "false";
  return *this;
}
Args& Args::repeated(const std::string& name, const std::string& help) {
  decls_.push_back({name, "", help, Decl::Repeated});
  lists_[name];
  return *this;
}

const Args::Decl& Args::decl(const std::string& name) const {
  for (const Decl& d : decls_)
    if (d.name == name) return d;
  throw std::logic_error("undeclared flag " + name);
}

bool Args::parse(int argc, char** argv) {
  size_t next_pos = 0;
  std::vector<const Decl*> pos;
  for (const Decl& d : decls_)
    if (d.kind == Decl::Positional) pos.push_back(&d);
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    if (a.size() > 2 && a.substr(0, 2) == "--") {
      std::string name = a.substr(2), value;
      bool has_value = false;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      const Decl* d = nullptr;
      for (const Decl& x : decls_)
        if (x.name == name && x.kind != Decl::Positional) d = &x;
      if (!d) throw UsageError(command_ + ": unknown option --" + name + " (see circuitscan " + command_ + " --help)");
      if (d->kind == Decl::Toggle) {
        values_[name] = has_value ? value : "true";
      } else {
        if (!has_value) {
          if (i + 1 >= argc) throw UsageError(command_ + ": --" + name + " needs a value");
          value = argv[++i];
        }
        if (d->kind == Decl::Repeated) lists_[name].push_back(value);
        else values_[name] = value;
      }
      given_[name] = true;
      continue;
    }
    if (next_pos >= pos.size())
      throw UsageError(command_ + ": unexpected argument '" + a + "' (see circuitscan " + command_ + " --help)");
    values_[pos[next_pos]->name] = a;
    given_[pos[next_pos]->name] = true;
    ++next_pos;
  }
  for (size_t k = next_pos; k < pos.size(); ++k)
    if (pos[k]->required)
      throw UsageError(command_ + ": missing " + pos[k]->name + " (see circuitscan " + command_ + " --help)");
  return true;
}

std::string Args::str(const std::string& name) const {
  decl(name);
  auto it = values_.find(name);
  return it == values_.end() ? "" : it->second;
}
int Args::integer(const std::string& name) const {
  std::string s = str(name);
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end) throw UsageError(command_ + ": --" + name + " expects an integer, got '" + s + "'");
  return static_cast<int>(v);
}
double Args::number(const std::string& name) const {
  std::string s = str(name);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end) throw UsageError(command_ + ": --" + name + " expects a number, got '" + s + "'");
  return v;
}
bool Args::on(const std::string& name) const {
  std::string s = str(name);
  return s == "true" || s == "1" || s == "yes";
}
bool Args::given(const std::string& name) const { return given_.count(name) != 0; }
const std::vector<std::string>& Args::all(const std::string& name) const {
  decl(name);
  return lists_.at(name);
}

std::string Args::help() const {
  std::string usage = "usage: circuitscan " + command_;
  for (const Decl& d : decls_)
    if (d.kind == Decl::Positional) usage += d.required ? " " + d.name : " [" + d.name + "]";
  usage += " [options]\n\n" + summary_ + "\n\n";
  for (const Decl& d : decls_) {
    std::string left = d.kind == Decl::Positional ? "  " + d.name
                       : d.kind == Decl::Toggle   ? "  --" + d.name
                                                  : "  --" + d.name + " VALUE";
    if (left.size() < 28) left.resize(28, ' ');
    else left += "\n" + std::string(28, ' ');
    usage += left + d.help;
    if (d.kind == Decl::Flag && !d.default_value.empty()) usage += " (default " + d.default_value + ")";
    if (d.kind == Decl::Repeated) usage += " (repeatable)";
    usage += "\n";
  }
  usage += "  --help                    this text\n";
  return usage;
}

}  // namespace cs
