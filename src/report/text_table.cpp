#include "report/text_table.h"

#include <algorithm>
#include <cctype>

namespace cs {

size_t TextTable::width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;  // count lead bytes only
  return n;
}

namespace {
bool numeric(const std::string& c) {
  if (c.empty()) return false;
  const unsigned char f = static_cast<unsigned char>(c[0]);
  return std::isdigit(f) || ((f == '-' || f == '+' || f == '.') && c.size() > 1 &&
                             (std::isdigit(static_cast<unsigned char>(c[1])) || c[1] == '.'));
}
}  // namespace

std::string TextTable::str() const {
  size_t cols = header_.size();
  for (const auto& r : rows_) cols = std::max(cols, r.size());
  std::vector<size_t> w(cols, 0);
  auto widen = [&](const std::vector<std::string>& r) {
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  };
  widen(header_);
  for (const auto& r : rows_) widen(r);
  // A column whose non-empty cells are all numbers is right-aligned, header included.
  std::vector<bool> right(cols, false);
  for (size_t i = 0; i < cols; ++i) {
    size_t num = 0, any = 0;
    for (const auto& r : rows_)
      if (i < r.size() && !r[i].empty() && r[i] != "-") ++any, num += numeric(r[i]);
    right[i] = any > 0 && num == any;
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& r, bool header) {
    std::string l;
    for (size_t i = 0; i < cols; ++i) {
      const std::string c = i < r.size() ? r[i] : "";
      const std::string pad(w[i] - width(c), ' ');
      if (i) l += "  ";
      l += right[i] ? pad + c : c + pad;
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(header_, true);
  for (const auto& r : rows_) line(r, false);
  return out;
}

}  // namespace cs
