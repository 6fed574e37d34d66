// Parses polc questions (`polc query`) and batch probe lines into ir::Query, and assertions files
// (`polc lint --assert`) into ir::Assertion, with the ANTLR4 grammar in
// frontend/grammar/Query{Lexer,Parser}.g4. The syntax is in docs/query.md and docs/lint.md.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "polc/ir/diagnostic.h"
#include "polc/ir/query.h"

namespace polc::frontend {

enum class QueryMode {
  Question,  ///< `can A reach B[:port][/proto] [METHOD /path][?]`, `who can reach B`, `what can A reach`
  Probe,     ///< a batch line: `A -> B[:port][/proto] [METHOD /path]`
};

/// Parses `text`. `at` is the location of its first character (file, line, column) so that
/// diagnostics point into the command line or the batch file. On a syntax error reports
/// `query-syntax` at the offending column and returns nullopt. Never throws.
[[nodiscard]] std::optional<ir::Query> parse_query(std::string_view text, QueryMode mode, ir::SourceLoc at,
                                                   ir::DiagnosticEngine& diags);

/// Parses one assertion (`A must not reach B:5432`, ...). `at` is the location of its first
/// character. On a syntax error reports `assertion-syntax` at the offending column and returns
/// nullopt. Never throws.
[[nodiscard]] std::optional<ir::Assertion> parse_assertion(std::string_view text, ir::SourceLoc at,
                                                           ir::DiagnosticEngine& diags);

/// Parses an assertions file whose text is registered as `file` in the SourceManager: one
/// assertion per line; blank lines and `#` comments (at the start of a line or after a blank) are
/// skipped. Lines that do not parse are reported (`assertion-syntax`) and left out. Never throws.
[[nodiscard]] std::vector<ir::Assertion> parse_assertions(std::string_view text, uint32_t file,
                                                          ir::DiagnosticEngine& diags);

/// The name of the assertions file `polc lint DIR` picks up from DIR by itself.
inline constexpr const char* kAssertionsFileName = "polc-assertions.txt";

}  // namespace polc::frontend
