// Translates the IR's byte regex AST into a Z3 regular expression over strings whose characters
// are bytes (0-255), for HTTP method, path and host conditions.
#pragma once

#include <z3++.h>

#include <map>

#include "polc/ir/regex.h"

namespace polc::verifier {

class RegexTranslator {
 public:
  explicit RegexTranslator(z3::context& c) : c_(c) {}
  /// The Z3 regex for the full-match language of `n` (memoized per node).
  z3::expr translate(const ir::RegexNode& n);
  /// A Z3 string literal holding exactly these bytes.
  z3::expr literal(std::string_view bytes);
  /// Strings of bytes 0-255 (Z3 characters go beyond a byte).
  z3::expr any_bytes();

 private:
  z3::expr byte_range(unsigned char lo, unsigned char hi);
  z3::expr union_of(const std::vector<z3::expr>& parts);
  z3::context& c_;
  std::map<const ir::RegexNode*, z3::expr> memo_;
};

}  // namespace polc::verifier
