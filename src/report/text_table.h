// Plain-text tables for the terminal: columns as wide as their widest cell counted in
// characters, not bytes (a "±" is two bytes of UTF-8 but one column), numbers right-aligned.
#pragma once
#include <string>
#include <vector>

namespace cs {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : header_(std::move(header)) {}
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // Columns separated by two spaces; a column whose cells all start like a number (digit, sign,
  // dot; "-" and empty cells aside) is right-aligned with its header, others left-aligned. No
  // trailing spaces.
  std::string str() const;
  // Characters (UTF-8 code points) in s.
  static size_t width(const std::string& s);

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace cs
