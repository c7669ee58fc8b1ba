#include "cli/args.h"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "ops/error.h"

namespace cs {

namespace {

// Shortest text that reads back as v ("0.001", "1e-06", "100000").
std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.10g", v);
  return b;
}

// Strict decimal integer: optional sign, digits, nothing else; false on overflow.
bool parse_int64(const std::string& s, int64_t* out) {
  if (s.empty() || !(s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9'))) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE || !end || *end || end == s.c_str()) return false;
  *out = v;
  return true;
}

bool parse_double(const std::string& s, double* out) {
  if (s.empty() || s[0] == ' ' || s[0] == '\t') return false;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (!end || *end || end == s.c_str()) return false;
  *out = v;
  return true;
}

}  // namespace

bool RealRange::contains(double v) const {
  if (!std::isfinite(v)) return false;
  if (lo_open ? !(v > lo) : !(v >= lo)) return false;
  if (hi_open ? !(v < hi) : !(v <= hi)) return false;
  return true;
}

std::string RealRange::str() const {
  const bool has_lo = std::isfinite(lo), has_hi = std::isfinite(hi);
  if (!has_lo && !has_hi) return "any finite number";
  if (has_lo && !has_hi) return (lo_open ? "> " : ">= ") + num(lo);
  if (!has_lo) return (hi_open ? "< " : "<= ") + num(hi);
  return (lo_open ? "(" : "[") + num(lo) + ", " + num(hi) + (hi_open ? ")" : "]");
}

Args& Args::add(Decl d) {
  for (const Decl& x : decls_)
    if (x.name == d.name) throw std::logic_error(command_ + ": flag --" + d.name + " declared twice");
  if (d.kind != Decl::Positional && d.kind != Decl::Repeated) values_[d.name] = d.default_value;
  if (d.kind == Decl::Repeated) lists_[d.name];
  // A default outside its own range is a programming error, caught the first time --help runs.
  if ((d.kind == Decl::Int || d.kind == Decl::Real || d.kind == Decl::Choice) && !d.default_value.empty()) {
    try {
      check_value(d, d.default_value);
    } catch (const UsageError& e) {
      throw std::logic_error(std::string("bad default: ") + e.what());
    }
  }
  decls_.push_back(std::move(d));
  return *this;
}

Args& Args::positional(const std::string& name, const std::string& help, bool required) {
  Decl d{name, "", help, Decl::Positional};
  d.required = required;
  return add(std::move(d));
}
Args& Args::flag(const std::string& name, const std::string& def, const std::string& help) {
  return add({name, def, help, Decl::Flag});
}
Args& Args::int_flag(const std::string& name, const std::string& def, int64_t lo, int64_t hi, const std::string& help) {
  Decl d{name, def, help, Decl::Int};
  d.lo = lo, d.hi = hi;
  return add(std::move(d));
}
Args& Args::real_flag(const std::string& name, const std::string& def, RealRange range, const std::string& help) {
  Decl d{name, def, help, Decl::Real};
  d.range = range;
  return add(std::move(d));
}
Args& Args::choice_flag(const std::string& name, const std::string& def, const std::vector<std::string>& choices,
                        const std::string& help) {
  Decl d{name, def, help, Decl::Choice};
  d.choices = choices;
  return add(std::move(d));
}
Args& Args::toggle(const std::string& name, const std::string& help) {
  return add({name, "false", help, Decl::Toggle});
}
Args& Args::repeated(const std::string& name, const std::string& help) {
  return add({name, "", help, Decl::Repeated});
}

const Args::Decl& Args::decl(const std::string& name) const {
  for (const Decl& d : decls_)
    if (d.name == name) return d;
  throw std::logic_error("undeclared flag " + name);
}

std::string Args::allowed(const Decl& d) const {
  switch (d.kind) {
    case Decl::Int:
      if (d.hi == std::numeric_limits<int64_t>::max()) return ">= " + std::to_string(d.lo);
      return std::to_string(d.lo) + " to " + std::to_string(d.hi);
    case Decl::Real: return d.range.str();
    case Decl::Choice: {
      std::string s = "one of ";
      for (size_t i = 0; i < d.choices.size(); ++i) s += (i ? ", " : "") + d.choices[i];
      return s;
    }
    case Decl::Toggle: return "true or false";
    default: return "";
  }
}

void Args::check_value(const Decl& d, const std::string& v) const {
  const std::string flag = command_ + ": --" + d.name;
  switch (d.kind) {
    case Decl::Int: {
      int64_t x;
      if (!parse_int64(v, &x) || x < d.lo || x > d.hi)
        throw UsageError(flag + " must be an integer from " + std::to_string(d.lo) + " to " + std::to_string(d.hi) +
                         ", got '" + v + "'");
      return;
    }
    case Decl::Real: {
      double x;
      if (!parse_double(v, &x) || !d.range.contains(x))
        throw UsageError(flag + " must be a finite number " +
                         (std::isfinite(d.range.lo) || std::isfinite(d.range.hi) ? "in " + d.range.str() : std::string()) +
                         ", got '" + v + "'");
      return;
    }
    case Decl::Choice:
      for (const std::string& c : d.choices)
        if (c == v) return;
      throw UsageError(flag + " must be " + allowed(d) + ", got '" + v + "'");
    case Decl::Toggle:
      if (v == "true" || v == "false" || v == "1" || v == "0" || v == "yes" || v == "no") return;
      throw UsageError(flag + " takes no value, or true / false, got '" + v + "'");
    default:
      return;
  }
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
        if (has_value) check_value(*d, value);
        values_[name] = has_value ? value : "true";
      } else {
        if (!has_value) {
          if (i + 1 >= argc) throw UsageError(command_ + ": --" + name + " needs a value");
          value = argv[++i];
        }
        check_value(*d, value);
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

int64_t Args::integer64(const std::string& name) const {
  const Decl& d = decl(name);
  if (d.kind != Decl::Int) throw std::logic_error("--" + name + " is not an integer flag");
  const std::string s = str(name);
  check_value(d, s);  // an optional flag read without given(): its empty value is refused here
  int64_t v = 0;
  parse_int64(s, &v);
  return v;
}

int Args::integer(const std::string& name) const {
  const Decl& d = decl(name);
  if (d.lo < INT_MIN || d.hi > INT_MAX) throw std::logic_error("--" + name + "'s range does not fit an int");
  return static_cast<int>(integer64(name));
}

uint64_t Args::seed(const std::string& name) const {
  const Decl& d = decl(name);
  if (d.lo < 0) throw std::logic_error("--" + name + " may be negative: not a seed");
  return static_cast<uint64_t>(integer64(name));
}

double Args::number(const std::string& name) const {
  const Decl& d = decl(name);
  if (d.kind != Decl::Real) throw std::logic_error("--" + name + " is not a number flag");
  const std::string s = str(name);
  check_value(d, s);
  double v = 0;
  parse_double(s, &v);
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
  constexpr size_t kIndent = 28;
  std::string usage = "usage: circuitscan " + command_;
  for (const Decl& d : decls_)
    if (d.kind == Decl::Positional) usage += d.required ? " " + d.name : " [" + d.name + "]";
  usage += " [options]\n\n" + summary_ + "\n\n";
  for (const Decl& d : decls_) {
    std::string left = d.kind == Decl::Positional ? "  " + d.name
                       : d.kind == Decl::Toggle   ? "  --" + d.name
                       : d.kind == Decl::Int      ? "  --" + d.name + " N"
                       : d.kind == Decl::Real     ? "  --" + d.name + " X"
                       : d.kind == Decl::Choice   ? "  --" + d.name + " WORD"
                                                  : "  --" + d.name + " VALUE";
    if (left.size() < kIndent) left.resize(kIndent, ' ');
    else left += "\n" + std::string(kIndent, ' ');
    std::string note;
    if (d.kind != Decl::Positional && d.kind != Decl::Toggle && d.kind != Decl::Repeated && !d.default_value.empty())
      note = "default " + d.default_value;
    if (d.kind == Decl::Int || d.kind == Decl::Real || d.kind == Decl::Choice)
      note += (note.empty() ? "" : "; ") + allowed(d);
    if (d.kind == Decl::Repeated) note = "repeatable";
    usage += left + d.help + (note.empty() ? "" : " (" + note + ")") + "\n";
  }
  usage += "  --help                    this text\n";
  return usage;
}

}  // namespace cs
