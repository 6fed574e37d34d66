// Parses L7 regular expressions (HTTP method, path, host) into the IR's regex AST.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "polc/ir/regex.h"

namespace polc::frontend {

struct RegexError {
  size_t column = 0;  ///< 0-based offset into the pattern
  std::string message;
};

/// Parses `pattern` (RE2 / POSIX-ERE subset; always matched against the whole value).
/// On failure returns nullopt and fills `err`. Never throws.
[[nodiscard]] std::optional<ir::Regex> parse_regex(std::string_view pattern, RegexError* err = nullptr);

}  // namespace polc::frontend
