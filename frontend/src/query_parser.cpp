#include "polc/frontend/query_parser.h"

#include <antlr4-runtime.h>

#include <map>

#include "QueryLexer.h"
#include "QueryParser.h"
#include "yaml_reader.h"

namespace polc::frontend {

namespace {

namespace g = polc_antlr_query;
using P = g::QueryParser;

/// A syntax problem found while building the AST (after ANTLR accepted the input).
struct Failure {
  size_t column;  ///< 0-based
  std::string message;
  std::string hint;
};

/// Friendly names for tokens in "expected ..." lists.
std::string token_description(size_t type) {
  static const std::map<size_t, std::string> names = {
      {g::QueryLexer::CAN, "'can'"},
      {g::QueryLexer::REACH, "'reach'"},
      {g::QueryLexer::WHO, "'who'"},
      {g::QueryLexer::WHAT, "'what'"},
      {g::QueryLexer::WORLD, "'world'"},
      {g::QueryLexer::ANY, "'any'"},
      {g::QueryLexer::PROTO, "a protocol (tcp, udp, sctp, icmp)"},
      {g::QueryLexer::SVC, "'svc:'"},
      {g::QueryLexer::NODE, "'node:'"},
      {g::QueryLexer::ARROW, "'->'"},
      {g::QueryLexer::CIDR, "a CIDR"},
      {g::QueryLexer::IP, "an IP address"},
      {g::QueryLexer::NUMBER, "a number"},
      {g::QueryLexer::METHOD, "an HTTP method"},
      {g::QueryLexer::NAME, "a name"},
      {g::QueryLexer::COLON, "':'"},
      {g::QueryLexer::SLASH, "'/'"},
      {g::QueryLexer::QMARK, "'?'"},
      {g::QueryLexer::LBRACE, "'{'"},
      {g::QueryLexer::RBRACE, "'}'"},
      {g::QueryLexer::NOTIN, "'notin'"},
      {g::QueryLexer::IN, "'in'"},
      {g::QueryLexer::NEQ, "'!='"},
      {g::QueryLexer::EQ, "'='"},
      {g::QueryLexer::BANG, "'!'"},
      {g::QueryLexer::COMMA, "','"},
      {g::QueryLexer::LPAREN, "'('"},
      {g::QueryLexer::RPAREN, "')'"},
      {g::QueryLexer::SEL_SLASH, "'/'"},
      {g::QueryLexer::LABEL, "a label"},
      {g::QueryLexer::PATH, "a path"},
      {g::QueryLexer::MUST, "'must'"},
      {g::QueryLexer::CANNOT, "'cannot'"},
      {g::QueryLexer::NOT, "'not'"},
      {g::QueryLexer::ONLY, "'only'"},
      {g::QueryLexer::NO, "'no'"},
      {g::QueryLexer::POD, "'pod'"},
      {g::QueryLexer::KW_IN, "'in'"},
      {g::QueryLexer::NAMESPACE, "'namespace'"},
      {g::QueryLexer::IS, "'is'"},
      {g::QueryLexer::REACHABLE, "'reachable'"},
      {g::QueryLexer::FROM, "'from'"},
      {antlr4::Token::EOF, "the end"},
  };
  auto it = names.find(type);
  return it == names.end() ? "" : it->second;
}

/// Assertion keywords that the grammar also accepts as names: where a name may come, "a name"
/// says it, and listing them would only be noise.
bool is_keyword_name(size_t type) {
  switch (type) {
    case g::QueryLexer::MUST:
    case g::QueryLexer::CANNOT:
    case g::QueryLexer::NOT:
    case g::QueryLexer::ONLY:
    case g::QueryLexer::NO:
    case g::QueryLexer::POD:
    case g::QueryLexer::KW_IN:
    case g::QueryLexer::NAMESPACE:
    case g::QueryLexer::IS:
    case g::QueryLexer::REACHABLE:
    case g::QueryLexer::FROM: return true;
    default: return false;
  }
}

class ErrorCollector : public antlr4::BaseErrorListener {
 public:
  explicit ErrorCollector(std::string what) : what_(std::move(what)) {}

  void syntaxError(antlr4::Recognizer* rec, antlr4::Token* tok, size_t, size_t col, const std::string& msg,
                   std::exception_ptr) override {
    if (failed) return;
    failed = true;
    column = col;
    if (tok == nullptr) {
      message = msg;
      return;
    }
    if (tok->getType() == antlr4::Token::EOF)
      message = "unexpected end of the " + what_;
    else
      message = "unexpected '" + tok->getText() + "'";
    if (auto* parser = dynamic_cast<antlr4::Parser*>(rec)) {
      std::vector<std::string> want;
      try {
        auto expected = parser->getExpectedTokens().toList();
        bool name = std::find(expected.begin(), expected.end(), g::QueryLexer::NAME) != expected.end();
        for (size_t t : expected) {
          if (name && is_keyword_name(t)) continue;
          std::string d = token_description(t);
          if (!d.empty() && std::find(want.begin(), want.end(), d) == want.end()) want.push_back(d);
        }
      } catch (...) {
      }
      if (!want.empty() && want.size() <= 8) {
        message += "; expected ";
        for (size_t i = 0; i < want.size(); ++i)
          message += (i == 0 ? "" : i + 1 == want.size() ? " or " : ", ") + want[i];
      }
    }
  }
  bool failed = false;
  size_t column = 0;
  std::string message;
  std::string hint;

 private:
  std::string what_;  ///< "question", "assertion"
};

class Builder {
 public:
  Builder(std::string_view text, ir::SourceLoc at) : text_(text), at_(at) {}

  ir::SourceLoc loc_of(size_t col) const {
    ir::SourceLoc l = at_;
    l.col = at_.col + static_cast<uint32_t>(col);
    return l;
  }
  ir::SourceLoc loc_of(antlr4::Token* t) const { return loc_of(t->getCharPositionInLine()); }

  std::string source_text(antlr4::ParserRuleContext* ctx) const {
    size_t a = ctx->getStart()->getStartIndex();
    size_t b = ctx->getStop() ? ctx->getStop()->getStopIndex() : a;
    if (b < a || b >= text_.size()) return ctx->getText();
    return std::string(text_.substr(a, b - a + 1));
  }

  ir::QueryEndpoint endpoint(P::EndpointContext* ctx) {
    ir::QueryEndpoint ep;
    ep.text = source_text(ctx);
    ep.loc = loc_of(ctx->getStart());
    if (auto* s = dynamic_cast<P::ServiceEndpointContext*>(ctx)) {
      ep.kind = ir::QueryEndpoint::Kind::Service;
      auto names = s->name();
      if (names.size() == 2) {
        ep.ns = names[0]->getText();
        ep.name = names[1]->getText();
      } else {
        ep.name = names[0]->getText();
      }
    } else if (auto* n = dynamic_cast<P::NodeEndpointContext*>(ctx)) {
      ep.kind = ir::QueryEndpoint::Kind::Node;
      ep.name = n->name()->getText();
    } else if (auto* sel = dynamic_cast<P::SelectorEndpointContext*>(ctx)) {
      ep.kind = ir::QueryEndpoint::Kind::Selector;
      auto sels = sel->selector();
      if (sels.size() == 2) {
        ep.ns_labels = selector(sels[0]);
        ep.pod = selector(sels[1]);
      } else {
        ep.pod = selector(sels[0]);
      }
    } else if (auto* ns = dynamic_cast<P::NsSelectorEndpointContext*>(ctx)) {
      ep.kind = ir::QueryEndpoint::Kind::Selector;
      ep.ns = ns->name()->getText();
      ep.pod = selector(ns->selector());
    } else if (auto* nm = dynamic_cast<P::NamedEndpointContext*>(ctx)) {
      ep.kind = ir::QueryEndpoint::Kind::Name;
      auto names = nm->name();
      if (names.size() == 2) {
        ep.ns = names[0]->getText();
        ep.name = names[1]->getText();
      } else {
        ep.name = names[0]->getText();
      }
    } else if (auto* ip = dynamic_cast<P::IpEndpointContext*>(ctx)) {
      ep.kind = ir::QueryEndpoint::Kind::Address;
      auto a = ir::Ipv4::parse(ip->IP()->getText());
      if (!a) throw Failure{ip->getStart()->getCharPositionInLine(), "invalid IP address '" + ip->getText() + "'", ""};
      ep.cidr = ir::Cidr{*a, 32};
    } else if (auto* c = dynamic_cast<P::CidrEndpointContext*>(ctx)) {
      ep.kind = ir::QueryEndpoint::Kind::Address;
      ir::Cidr::ParseError err{};
      auto cidr = ir::Cidr::parse(c->CIDR()->getText(), &err);
      if (!cidr) {
        std::string hint;
        if (err == ir::Cidr::ParseError::HostBits) {
          std::string t = c->CIDR()->getText();
          auto slash = t.find('/');
          auto a = ir::Ipv4::parse(t.substr(0, slash));
          int len = std::stoi(t.substr(slash + 1));
          if (a)
            hint = "did you mean '" +
                   ir::Cidr{ir::Ipv4{a->value & (len == 0 ? 0u : ~0u << (32 - len))}, static_cast<uint8_t>(len)}.str() +
                   "'?";
        }
        throw Failure{c->getStart()->getCharPositionInLine(),
                      "invalid CIDR '" + c->getText() + "'" +
                          (err == ir::Cidr::ParseError::HostBits ? ": host bits are set" : ""),
                      hint};
      }
      ep.cidr = *cidr;
    } else if (dynamic_cast<P::WorldEndpointContext*>(ctx)) {
      ep.kind = ir::QueryEndpoint::Kind::World;
    } else if (dynamic_cast<P::AnyEndpointContext*>(ctx)) {
      ep.kind = ir::QueryEndpoint::Kind::Any;
    }
    return ep;
  }

  void target(P::TargetContext* ctx, ir::Query& q) {
    q.dst = endpoint(ctx->endpoint());
    if (auto* p = ctx->port()) {
      ir::QueryPort port;
      port.loc = loc_of(p->getStart());
      if (p->NUMBER()) {
        std::string t = p->NUMBER()->getText();
        port.text = t;
        if (t.size() > 5 || std::stoul(t) > 65535)
          throw Failure{p->NUMBER()->getSymbol()->getCharPositionInLine(), "port " + t + " is out of range (0-65535)",
                        ""};
        port.number = static_cast<uint16_t>(std::stoul(t));
      } else {
        port.name = p->NAME()->getText();
        port.text = port.name;
        std::string lower;
        for (char ch : port.name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (auto why = validate_port_name(lower); !why.empty())
          throw Failure{p->NAME()->getSymbol()->getCharPositionInLine(),
                        "invalid port name '" + port.name + "': " + why, ""};
        port.name = lower;
      }
      q.port = port;
    }
    if (auto* pr = ctx->protocol()) {
      q.proto = ir::parse_protocol(pr->PROTO()->getText());
      q.proto_loc = loc_of(pr->PROTO()->getSymbol());
    }
  }

  void http(P::HttpContext* ctx, ir::Query& q, bool strip_qmark) {
    if (!ctx) return;
    ir::QueryHttp h;
    h.method = ctx->METHOD()->getText();
    h.loc = loc_of(ctx->getStart());
    {
      h.path = ctx->PATH()->getText();
      // `can a reach b:80 GET /x?`: the last '?' asks the question; it is not part of the path.
      if (strip_qmark && h.path.size() > 1 && h.path.back() == '?' &&
          ctx->PATH()->getSymbol()->getStopIndex() + 1 == text_.find_last_not_of(" \t\r\n") + 1)
        h.path.pop_back();
    }
    q.http = h;
  }

 private:
  ir::LabelSelector selector(P::SelectorContext* ctx) {
    ir::LabelSelector sel;
    for (auto* r : ctx->requirement()) sel.add(requirement(r));
    return sel;
  }

  std::string label_key(P::LabelKeyContext* k) {
    std::string key = k->getText();
    if (auto why = validate_label_key(key); !why.empty())
      throw Failure{k->getStart()->getCharPositionInLine(), "invalid label key '" + key + "': " + why, ""};
    return key;
  }

  std::string label_value(P::LabelValueContext* v) {
    if (!v) return "";
    std::string s = v->getText();
    if (auto why = validate_label_value(s); !why.empty())
      throw Failure{v->getStart()->getCharPositionInLine(), "invalid label value '" + s + "': " + why, ""};
    return s;
  }

  ir::Requirement requirement(P::RequirementContext* ctx) {
    ir::Requirement r;
    if (auto* e = dynamic_cast<P::EqualityReqContext*>(ctx)) {
      r.key = label_key(e->labelKey());
      r.op = e->NEQ() ? ir::SelectorOp::NotIn : ir::SelectorOp::In;
      r.values = {label_value(e->labelValue())};
    } else if (auto* s = dynamic_cast<P::SetReqContext*>(ctx)) {
      r.key = label_key(s->labelKey());
      r.op = s->NOTIN() ? ir::SelectorOp::NotIn : ir::SelectorOp::In;
      for (auto* v : s->labelValue()) r.values.push_back(label_value(v));
    } else if (auto* n = dynamic_cast<P::NotExistsReqContext*>(ctx)) {
      r.key = label_key(n->labelKey());
      r.op = ir::SelectorOp::DoesNotExist;
    } else if (auto* x = dynamic_cast<P::ExistsReqContext*>(ctx)) {
      r.key = label_key(x->labelKey());
      r.op = ir::SelectorOp::Exists;
    }
    return r;
  }

  std::string_view text_;
  ir::SourceLoc at_;
};

}  // namespace

namespace {

/// Runs the lexer and parser on `text` and hands the parser to `build`, which returns the result
/// (which checks `errors.failed` before building). Problems become `id` at their column; those
/// ANTLR finds get `syntax_hint` when they have no hint of their own. Never throws.
template <typename T, typename Build>
std::optional<T> run_grammar(std::string_view text, ir::SourceLoc at, ir::DiagnosticEngine& diags, ir::DiagId id,
                             const std::string& what, const std::string& syntax_hint, Build build) {
  if (at.col == 0) at.col = 1;
  auto fail = [&](size_t col, const std::string& msg, const std::string& hint) -> std::optional<T> {
    ir::SourceLoc l = at;
    l.col = at.col + static_cast<uint32_t>(col);
    diags.report(id, l, msg, hint);
    return std::nullopt;
  };
  if (text.size() > 4096) return fail(0, what + " longer than 4096 characters", "");
  try {
    antlr4::ANTLRInputStream input{std::string(text)};
    g::QueryLexer lexer(&input);
    ErrorCollector errors(what);
    lexer.removeErrorListeners();
    lexer.addErrorListener(&errors);
    antlr4::CommonTokenStream tokens(&lexer);
    g::QueryParser parser(&tokens);
    parser.removeErrorListeners();
    parser.addErrorListener(&errors);
    Builder b(text, at);
    std::optional<T> out = build(parser, b, errors);
    if (errors.failed) return fail(errors.column, errors.message, errors.hint.empty() ? syntax_hint : errors.hint);
    return out;
  } catch (const Failure& f) {
    return fail(f.column, f.message, f.hint);
  } catch (const std::exception& e) {
    return fail(0, "cannot parse the " + what + ": " + e.what(), "");
  }
}

/// The part of an assertions line before a comment (`#` at the start or after a blank).
std::string_view strip_comment(std::string_view line) {
  for (size_t i = 0; i < line.size(); ++i)
    if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) return line.substr(0, i);
  return line;
}

}  // namespace

std::optional<ir::Query> parse_query(std::string_view text, QueryMode mode, ir::SourceLoc at,
                                     ir::DiagnosticEngine& diags) {
  return run_grammar<ir::Query>(
      text, at, diags, ir::DiagId::QuerySyntax, "question", "",
      [&](g::QueryParser& parser, Builder& b, const ErrorCollector& errors) -> std::optional<ir::Query> {
        ir::Query q;
        q.text = std::string(text);
        if (mode == QueryMode::Probe) {
          auto* tree = parser.probe();
          if (errors.failed) return std::nullopt;
          q.kind = ir::QueryKind::Probe;
          q.src = b.endpoint(tree->endpoint());
          b.target(tree->target(), q);
          b.http(tree->http(), q, false);
          return q;
        }
        auto* tree = parser.question();
        if (errors.failed) return std::nullopt;
        if (auto* c = tree->canQuery()) {
          q.kind = ir::QueryKind::Can;
          q.src = b.endpoint(c->endpoint());
          b.target(c->target(), q);
          b.http(c->http(), q, tree->QMARK() == nullptr);
        } else if (auto* w = tree->whoQuery()) {
          q.kind = ir::QueryKind::Who;
          b.target(w->target(), q);
        } else if (auto* w2 = tree->whatQuery()) {
          q.kind = ir::QueryKind::What;
          q.src = b.endpoint(w2->endpoint());
        }
        return q;
      });
}

std::optional<ir::Assertion> parse_assertion(std::string_view text, ir::SourceLoc at, ir::DiagnosticEngine& diags) {
  auto a = run_grammar<ir::Assertion>(
      text, at, diags, ir::DiagId::AssertionSyntax, "assertion",
      "an assertion reads 'A must not reach B[:port]', 'A cannot reach B', 'A must reach B:port', 'only A can "
      "reach B:port', 'B is [not] reachable from A' or 'no pod in namespace N is reachable from A'",
      [&](g::QueryParser& parser, Builder& b, const ErrorCollector& errors) -> std::optional<ir::Assertion> {
        auto* tree = parser.assertion();
        if (errors.failed) return std::nullopt;
        ir::Assertion a;
        a.text = std::string(text);
        a.loc = b.loc_of(size_t{0});
        ir::Query& q = a.query;
        q.kind = ir::QueryKind::Can;
        q.text = a.text;
        auto* claim = tree->claim();
        if (auto* c = dynamic_cast<P::MustNotReachContext*>(claim)) {
          a.kind = ir::AssertionKind::MustNotReach;
          q.src = b.endpoint(c->endpoint());
          b.target(c->target(), q);
          b.http(c->http(), q, false);
        } else if (auto* c2 = dynamic_cast<P::MustReachContext*>(claim)) {
          a.kind = ir::AssertionKind::MustReach;
          q.src = b.endpoint(c2->endpoint());
          b.target(c2->target(), q);
          b.http(c2->http(), q, false);
        } else if (auto* c3 = dynamic_cast<P::OnlyCanReachContext*>(claim)) {
          a.kind = ir::AssertionKind::OnlyCanReach;
          q.src = b.endpoint(c3->endpoint());
          b.target(c3->target(), q);
          b.http(c3->http(), q, false);
        } else if (auto* c4 = dynamic_cast<P::NoPodReachableContext*>(claim)) {
          a.kind = ir::AssertionKind::MustNotReach;
          q.src = b.endpoint(c4->endpoint());
          ir::QueryEndpoint dst;
          dst.kind = ir::QueryEndpoint::Kind::Selector;
          dst.ns = c4->name()->getText();
          dst.text = "any pod in namespace " + dst.ns;
          dst.loc = b.loc_of(c4->name()->getStart());
          q.dst = dst;
        } else if (auto* c5 = dynamic_cast<P::NotReachableFromContext*>(claim)) {
          a.kind = ir::AssertionKind::MustNotReach;
          q.src = b.endpoint(c5->endpoint());
          b.target(c5->target(), q);
        } else if (auto* c6 = dynamic_cast<P::ReachableFromContext*>(claim)) {
          a.kind = ir::AssertionKind::MustReach;
          q.src = b.endpoint(c6->endpoint());
          b.target(c6->target(), q);
        }
        return a;
      });
  return a;
}

std::vector<ir::Assertion> parse_assertions(std::string_view text, uint32_t file, ir::DiagnosticEngine& diags) {
  std::vector<ir::Assertion> out;
  uint32_t lineno = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++lineno;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    std::string_view body = strip_comment(raw);
    size_t b = body.find_first_not_of(" \t");
    if (b == std::string_view::npos) continue;
    size_t e = body.find_last_not_of(" \t");
    auto a =
        parse_assertion(body.substr(b, e - b + 1), ir::SourceLoc{file, lineno, static_cast<uint32_t>(b + 1)}, diags);
    if (a) out.push_back(std::move(*a));
  }
  return out;
}

}  // namespace polc::frontend
