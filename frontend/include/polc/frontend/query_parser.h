// Parses polc questions (`polc query`) and batch probe lines into ir::Query, with the ANTLR4
// grammar in frontend/grammar/Query{Lexer,Parser}.g4. The syntax is described in docs/query.md.
#pragma once

#include <optional>
#include <string_view>

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

}  // namespace polc::frontend
