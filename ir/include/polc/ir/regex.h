// Regular expressions of L7 rules (HTTP method, path, host, header values), as an immutable AST
// over bytes. The frontend parses them; the evaluator, verifier and backend consume this AST.
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "polc/ir/source.h"

namespace polc::ir {

struct RegexNode;
using RegexPtr = std::shared_ptr<const RegexNode>;

/// Byte-level regex AST. Matching is always anchored at both ends (full match).
struct RegexNode {
  enum class Kind {
    Epsilon,  ///< matches the empty string
    Bytes,    ///< one byte from `bytes`
    Concat,   ///< kids in sequence
    Alt,      ///< one of kids
    Repeat,   ///< kids[0] repeated min..max times (max < 0: unbounded)
  };
  Kind kind = Kind::Epsilon;
  std::bitset<256> bytes;
  std::vector<RegexPtr> kids;
  int min = 0;
  int max = -1;

  static RegexPtr epsilon();
  static RegexPtr byte_set(const std::bitset<256>& set);
  static RegexPtr literal(std::string_view s);
  static RegexPtr concat(std::vector<RegexPtr> kids);
  static RegexPtr alt(std::vector<RegexPtr> kids);
  static RegexPtr repeat(RegexPtr kid, int min, int max);
};

/// A compiled-to-AST regex with its source text (as written in the policy).
struct Regex {
  std::string source;
  RegexPtr root;
  SourceLoc loc;

  /// True when the whole of `s` matches. Thompson-NFA simulation: linear in |s| x |regex|.
  [[nodiscard]] bool full_match(std::string_view s) const;
  /// True when the regex matches every string (e.g. ".*"); conservative (may say false).
  [[nodiscard]] bool matches_everything() const;
};

/// A deterministic automaton over bytes, complete (every state has 256 transitions).
/// State 0 is the start state; `dead` is a rejecting sink (or -1 if none).
struct Dfa {
  std::vector<std::vector<uint32_t>> next;  ///< next[state][byte]
  std::vector<bool> accepting;
  int dead = -1;
  [[nodiscard]] size_t size() const { return next.size(); }
  [[nodiscard]] bool accepts(std::string_view s) const;
  /// True when no string is accepted.
  [[nodiscard]] bool empty() const;
};

/// Builds a minimal DFA for the full-match language of `re`. Returns an empty optional-like
/// Dfa with zero states when the state count would exceed `max_states`.
[[nodiscard]] Dfa build_dfa(const RegexNode& re, size_t max_states = 4096);
/// A DFA accepting the union of several regexes (used for one method/path set per rule).
[[nodiscard]] Dfa build_dfa_union(const std::vector<const RegexNode*>& res, size_t max_states = 4096);

}  // namespace polc::ir
