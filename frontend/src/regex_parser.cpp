#include "polc/frontend/regex_parser.h"

#include <antlr4-runtime.h>

#include <algorithm>

#include "RegexLexer.h"
#include "RegexParser.h"

namespace polc::frontend {

namespace {

using ir::RegexNode;
using ir::RegexPtr;
using Bits = std::bitset<256>;
namespace g = polc_antlr_regex;

constexpr int kMaxRepeat = 1000;
/// Bytes the pattern may match positionally once repetitions are expanded (bounds NFA/DFA work).
constexpr size_t kMaxPositions = 100000;

struct Failure {
  size_t column;
  std::string message;
};

class ErrorCollector : public antlr4::BaseErrorListener {
 public:
  void syntaxError(antlr4::Recognizer*, antlr4::Token* tok, size_t, size_t col, const std::string& msg,
                   std::exception_ptr) override {
    if (!failed) {
      failed = true;
      column = col;
      message = msg;
      (void)tok;
    }
  }
  bool failed = false;
  size_t column = 0;
  std::string message;
};

Bits range(int lo, int hi) {
  Bits b;
  for (int c = lo; c <= hi; ++c) b.set(static_cast<size_t>(c));
  return b;
}

Bits digit() {
  return range('0', '9');
}
Bits word() {
  return range('a', 'z') | range('A', 'Z') | digit() | range('_', '_');
}
Bits space() {
  Bits b;
  for (char c : std::string(" \t\n\r\f\v")) b.set(static_cast<unsigned char>(c));
  return b;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

/// The byte set of an escape `\x` (text includes the backslash).
Bits escape_set(const std::string& text, size_t column, bool* single, unsigned char* byte) {
  *single = false;
  char c = text[1];
  if (c == 'x' && text.size() == 4) {
    *single = true;
    *byte = static_cast<unsigned char>(hexval(text[2]) * 16 + hexval(text[3]));
    return range(*byte, *byte);
  }
  switch (c) {
    case 'd': return digit();
    case 'D': return ~digit();
    case 'w': return word();
    case 'W': return ~word();
    case 's': return space();
    case 'S': return ~space();
    case 't': *byte = '\t'; break;
    case 'n': *byte = '\n'; break;
    case 'r': *byte = '\r'; break;
    case 'f': *byte = '\f'; break;
    case 'v': *byte = '\v'; break;
    default:
      if (std::isalnum(static_cast<unsigned char>(c)))
        throw Failure{column, std::string("unsupported escape '\\") + c + "'"};
      *byte = static_cast<unsigned char>(c);
  }
  *single = true;
  return range(*byte, *byte);
}

Bits posix_class(const std::string& text, size_t column) {
  std::string name = text.substr(2, text.size() - 4);
  if (name == "alpha") return range('a', 'z') | range('A', 'Z');
  if (name == "digit") return digit();
  if (name == "alnum") return range('a', 'z') | range('A', 'Z') | digit();
  if (name == "upper") return range('A', 'Z');
  if (name == "lower") return range('a', 'z');
  if (name == "space") return space();
  if (name == "xdigit") return digit() | range('a', 'f') | range('A', 'F');
  if (name == "punct") return range('!', '/') | range(':', '@') | range('[', '`') | range('{', '~');
  if (name == "word") return word();
  throw Failure{column, "unknown character class '[:" + name + ":]'"};
}

class Builder {
 public:
  /// `at_start`/`at_end`: whether this alternation begins/ends the whole pattern.
  RegexPtr alternation(g::RegexParser::AlternationContext* ctx, bool at_start, bool at_end) {
    std::vector<RegexPtr> alts;
    for (auto* c : ctx->concatenation()) alts.push_back(concatenation(c, at_start, at_end));
    return RegexNode::alt(std::move(alts));
  }

 private:
  RegexPtr concatenation(g::RegexParser::ConcatenationContext* ctx, bool at_start, bool at_end) {
    std::vector<RegexPtr> parts;
    auto pieces = ctx->piece();
    for (size_t i = 0; i < pieces.size(); ++i) {
      // Anchors are only meaningful at the ends: the match is already anchored there.
      bool first = at_start && i == 0;
      bool last = at_end && i + 1 == pieces.size();
      parts.push_back(piece(pieces[i], first, last));
    }
    return RegexNode::concat(std::move(parts));
  }

  RegexPtr piece(g::RegexParser::PieceContext* ctx, bool first, bool last) {
    auto* q = ctx->quantifier();
    RegexPtr a = atom(ctx->atom(), first && !q, last && !q);
    if (!q) return a;
    size_t col = q->getStart()->getCharPositionInLine();
    if (auto* caret = dynamic_cast<g::RegexParser::CaretAtomContext*>(ctx->atom()); caret)
      throw Failure{col, "a quantifier cannot follow an anchor"};
    if (q->STAR()) return RegexNode::repeat(a, 0, -1);
    if (q->PLUS()) return RegexNode::repeat(a, 1, -1);
    if (q->QUANT()) {
      std::string t = q->QUANT()->getText();
      std::string body = t.substr(1, t.size() - 2);
      auto comma = body.find(',');
      auto num = [&](const std::string& s) {
        if (s.size() > 4) throw Failure{col, "repetition count above " + std::to_string(kMaxRepeat)};
        return std::stoi(s);
      };
      int lo = num(body.substr(0, comma));
      int hi = comma == std::string::npos ? lo : (comma + 1 == body.size() ? -1 : num(body.substr(comma + 1)));
      if (lo > kMaxRepeat || hi > kMaxRepeat)
        throw Failure{col, "repetition count above " + std::to_string(kMaxRepeat)};
      if (hi >= 0 && hi < lo) throw Failure{col, "bad repetition range " + t};
      return RegexNode::repeat(a, lo, hi);
    }
    return RegexNode::repeat(a, 0, 1);  // QMARK
  }

  RegexPtr atom(g::RegexParser::AtomContext* ctx, bool first, bool last) {
    size_t col = ctx->getStart()->getCharPositionInLine();
    if (auto* grp = dynamic_cast<g::RegexParser::GroupAtomContext*>(ctx))
      return alternation(grp->alternation(), first, last);
    if (auto* cls = dynamic_cast<g::RegexParser::ClassAtomContext*>(ctx)) return char_class(cls);
    if (dynamic_cast<g::RegexParser::DotAtomContext*>(ctx)) {
      Bits b;
      b.set();
      b.reset('\n');
      return RegexNode::byte_set(b);
    }
    if (dynamic_cast<g::RegexParser::CaretAtomContext*>(ctx)) {
      if (!first) throw Failure{col, "'^' is only supported at the start of the pattern"};
      return RegexNode::epsilon();
    }
    if (dynamic_cast<g::RegexParser::DollarAtomContext*>(ctx)) {
      if (!last) throw Failure{col, "'$' is only supported at the end of the pattern"};
      return RegexNode::epsilon();
    }
    if (auto* esc = dynamic_cast<g::RegexParser::EscapeAtomContext*>(ctx)) {
      bool single;
      unsigned char byte;
      return RegexNode::byte_set(escape_set(esc->getText(), col, &single, &byte));
    }
    std::string t = ctx->getText();
    return RegexNode::literal(t);
  }

  RegexPtr char_class(g::RegexParser::ClassAtomContext* ctx) {
    Bits set;
    for (auto* item : ctx->classItem()) {
      size_t col = item->getStart()->getCharPositionInLine();
      if (dynamic_cast<g::RegexParser::ClassDashContext*>(item)) {
        set.set('-');
      } else if (auto* p = dynamic_cast<g::RegexParser::ClassPosixContext*>(item)) {
        set |= posix_class(p->getText(), col);
      } else if (auto* r = dynamic_cast<g::RegexParser::ClassRangeContext*>(item)) {
        auto chars = r->classChar();
        bool s1 = false;
        unsigned char b1 = 0;
        Bits first = class_char(chars[0], &s1, &b1);
        if (chars.size() == 1) {
          set |= first;
          continue;
        }
        bool s2 = false;
        unsigned char b2 = 0;
        class_char(chars[1], &s2, &b2);
        if (!s1 || !s2) throw Failure{col, "a class shorthand cannot bound a range"};
        if (b2 < b1) throw Failure{col, "range out of order in character class"};
        set |= range(b1, b2);
      }
    }
    if (ctx->CLASS_OPEN_NEG()) {
      set = ~set;
      set.reset('\n');
    }
    return RegexNode::byte_set(set);
  }

  Bits class_char(g::RegexParser::ClassCharContext* c, bool* single, unsigned char* byte) {
    std::string t = c->getText();
    if (c->CLASS_ESCAPE()) return escape_set(t, c->getStart()->getCharPositionInLine(), single, byte);
    *single = true;
    *byte = static_cast<unsigned char>(t[0]);
    return range(*byte, *byte);
  }
};

/// RE2 (which Envoy runs for these rules) rejects nested repetitions whose counts multiply to more
/// than 1000 (its RepetitionWalker): returns 0 in that case.
int repetition_budget(const RegexNode& n, int budget) {
  if (n.kind == RegexNode::Kind::Repeat) {
    int m = n.max < 0 ? n.min : n.max;
    if (m > 0) budget /= m;
  }
  int out = budget;
  for (const auto& k : n.kids) out = std::min(out, repetition_budget(*k, budget));
  return out;
}

/// Byte positions after expanding counted repetitions (saturating at `limit` + 1).
size_t expanded_positions(const RegexNode& n, size_t limit) {
  size_t sum = 0;
  switch (n.kind) {
    case RegexNode::Kind::Epsilon: return 0;
    case RegexNode::Kind::Bytes: return 1;
    case RegexNode::Kind::Concat:
    case RegexNode::Kind::Alt:
      for (const auto& k : n.kids) sum = std::min(limit + 1, sum + expanded_positions(*k, limit));
      return sum;
    case RegexNode::Kind::Repeat: {
      size_t copies = static_cast<size_t>(std::max(1, std::max(n.min, n.max)));
      return std::min(limit + 1, expanded_positions(*n.kids[0], limit) * copies);
    }
  }
  return 0;
}

}  // namespace

std::optional<ir::Regex> parse_regex(std::string_view pattern, RegexError* err) {
  auto fail = [&](size_t col, std::string msg) -> std::optional<ir::Regex> {
    if (err) *err = RegexError{col, std::move(msg)};
    return std::nullopt;
  };
  if (pattern.size() > 4096) return fail(0, "pattern longer than 4096 bytes");
  try {
    antlr4::ANTLRInputStream input(std::string{pattern});
    g::RegexLexer lexer(&input);
    ErrorCollector errors;
    lexer.removeErrorListeners();
    lexer.addErrorListener(&errors);
    antlr4::CommonTokenStream tokens(&lexer);
    g::RegexParser parser(&tokens);
    parser.removeErrorListeners();
    parser.addErrorListener(&errors);
    auto* tree = parser.regex();
    if (errors.failed) return fail(errors.column, errors.message);
    Builder b;
    ir::Regex re;
    re.source = std::string(pattern);
    re.root = b.alternation(tree->alternation(), true, true);
    if (repetition_budget(*re.root, kMaxRepeat) == 0)
      return fail(0, "nested repetition counts multiply to more than " + std::to_string(kMaxRepeat));
    if (size_t n = expanded_positions(*re.root, kMaxPositions); n > kMaxPositions)
      return fail(0, "pattern too large after expanding repetitions (more than " + std::to_string(kMaxPositions) +
                         " positions)");
    return re;
  } catch (const Failure& f) {
    return fail(f.column, f.message);
  } catch (const std::exception& e) {
    return fail(0, e.what());
  }
}

}  // namespace polc::frontend
