// The query grammar (frontend/grammar/Query*.g4): every form parses into the right AST, and
// syntax errors are query-syntax diagnostics at the right column.
#include "polc/frontend/query_parser.h"

#include <gtest/gtest.h>

namespace polc {
namespace {

using K = ir::QueryEndpoint::Kind;

struct Parsed {
  std::optional<ir::Query> q;
  ir::DiagnosticEngine diags;
};

std::unique_ptr<Parsed> parse(const std::string& text, frontend::QueryMode mode = frontend::QueryMode::Question) {
  auto p = std::make_unique<Parsed>();
  p->q = frontend::parse_query(text, mode, ir::SourceLoc{1, 1, 1}, p->diags);
  return p;
}

/// The single diagnostic of a failed parse: its column and message.
std::pair<uint32_t, std::string> error_of(const std::string& text) {
  auto p = parse(text);
  EXPECT_FALSE(p->q) << text;
  EXPECT_EQ(p->diags.diagnostics().size(), 1u) << text;
  if (p->diags.diagnostics().empty()) return {0, ""};
  const auto& d = p->diags.diagnostics()[0];
  EXPECT_EQ(d.id, ir::DiagId::QuerySyntax);
  return {d.loc.col, d.message};
}

TEST(QueryParser, CanWithPortProtocolAndQuestionMark) {
  auto p = parse("can frontend reach database:5432/udp?");
  ASSERT_TRUE(p->q);
  EXPECT_EQ(p->q->kind, ir::QueryKind::Can);
  EXPECT_EQ(p->q->src->kind, K::Name);
  EXPECT_EQ(p->q->src->name, "frontend");
  EXPECT_EQ(p->q->src->loc.col, 5u);
  EXPECT_EQ(p->q->dst->name, "database");
  EXPECT_EQ(p->q->dst->loc.col, 20u);
  ASSERT_TRUE(p->q->port);
  EXPECT_EQ(p->q->port->number, 5432);
  EXPECT_EQ(p->q->proto, 17);
  EXPECT_FALSE(p->q->http);
}

TEST(QueryParser, KeywordsAreCaseInsensitive) {
  auto p = parse("Can frontend REACH database:5432/TCP");
  ASSERT_TRUE(p->q);
  EXPECT_EQ(p->q->proto, 6);
}

TEST(QueryParser, NamespacedNamesNamedPortsAndProtocolWithoutPort) {
  auto p = parse("can prod/frontend-0 reach kube-system/coredns:dns");
  ASSERT_TRUE(p->q);
  EXPECT_EQ(p->q->src->ns, "prod");
  EXPECT_EQ(p->q->src->name, "frontend-0");
  EXPECT_EQ(p->q->dst->ns, "kube-system");
  EXPECT_EQ(p->q->dst->name, "coredns");
  EXPECT_FALSE(p->q->port->number);
  EXPECT_EQ(p->q->port->name, "dns");

  auto u = parse("can a reach b/udp");
  ASSERT_TRUE(u->q);
  EXPECT_EQ(u->q->dst->name, "b");
  EXPECT_TRUE(u->q->dst->ns.empty());
  EXPECT_EQ(u->q->proto, 17);
  EXPECT_FALSE(u->q->port);
}

TEST(QueryParser, LabelSelectorsWithEveryOperator) {
  auto p = parse("can {app=frontend, tier in (web,api), !debug, env!=prod, version notin (v1), canary} reach {}");
  ASSERT_TRUE(p->q);
  EXPECT_EQ(p->q->src->kind, K::Selector);
  EXPECT_EQ(p->q->src->pod.str(), "app=frontend,canary,!debug,env!=prod,tier in (api,web),version!=v1");
  EXPECT_EQ(p->q->dst->kind, K::Selector);
  EXPECT_TRUE(p->q->dst->pod.matches_all());
  EXPECT_FALSE(p->q->dst->ns_labels);
  EXPECT_TRUE(p->q->dst->ns.empty());
}

TEST(QueryParser, SelectorsWithANamespaceOrNamespaceLabels) {
  auto p = parse("can prod/{app=x} reach {team=a}/{app.kubernetes.io/name=db}:5432");
  ASSERT_TRUE(p->q);
  EXPECT_EQ(p->q->src->ns, "prod");
  EXPECT_EQ(p->q->src->pod.str(), "app=x");
  ASSERT_TRUE(p->q->dst->ns_labels);
  EXPECT_EQ(p->q->dst->ns_labels->str(), "team=a");
  EXPECT_EQ(p->q->dst->pod.str(), "app.kubernetes.io/name=db");
  EXPECT_EQ(p->q->port->number, 5432);
}

TEST(QueryParser, ServicesNodesAddressesAndEntities) {
  auto p = parse("can svc:prod/api reach svc:backend:80");
  ASSERT_TRUE(p->q);
  EXPECT_EQ(p->q->src->kind, K::Service);
  EXPECT_EQ(p->q->src->ns, "prod");
  EXPECT_EQ(p->q->src->name, "api");
  EXPECT_EQ(p->q->dst->kind, K::Service);
  EXPECT_EQ(p->q->dst->name, "backend");
  EXPECT_EQ(p->q->port->number, 80);

  auto n = parse("can node:node-1 reach 10.0.0.0/8:443");
  ASSERT_TRUE(n->q);
  EXPECT_EQ(n->q->src->kind, K::Node);
  EXPECT_EQ(n->q->src->name, "node-1");
  EXPECT_EQ(n->q->dst->kind, K::Address);
  EXPECT_EQ(n->q->dst->cidr.str(), "10.0.0.0/8");

  auto w = parse("can world reach 192.168.1.7:22");
  ASSERT_TRUE(w->q);
  EXPECT_EQ(w->q->src->kind, K::World);
  EXPECT_EQ(w->q->dst->cidr.str(), "192.168.1.7/32");

  auto a = parse("can any reach database");
  ASSERT_TRUE(a->q);
  EXPECT_EQ(a->q->src->kind, K::Any);
}

TEST(QueryParser, HttpRequests) {
  auto p = parse("can client reach api:8080 GET /api/v1/users?limit=10&x=%20");
  ASSERT_TRUE(p->q);
  ASSERT_TRUE(p->q->http);
  EXPECT_EQ(p->q->http->method, "GET");
  EXPECT_EQ(p->q->http->path, "/api/v1/users?limit=10&x=%20");
  // A final '?' asks the question; a lower-case method is still a method.
  auto q = parse("can client reach api:8080 get /admin?");
  ASSERT_TRUE(q->q);
  EXPECT_EQ(q->q->http->method, "get");
  EXPECT_EQ(q->q->http->path, "/admin");
  auto r = parse("can client reach api:8080/tcp POST /x ?");
  ASSERT_TRUE(r->q);
  EXPECT_EQ(r->q->http->path, "/x");
}

TEST(QueryParser, WhoAndWhat) {
  auto w = parse("who can reach database:5432?");
  ASSERT_TRUE(w->q);
  EXPECT_EQ(w->q->kind, ir::QueryKind::Who);
  EXPECT_FALSE(w->q->src);
  EXPECT_EQ(w->q->dst->name, "database");
  auto x = parse("what can frontend reach");
  ASSERT_TRUE(x->q);
  EXPECT_EQ(x->q->kind, ir::QueryKind::What);
  EXPECT_EQ(x->q->src->name, "frontend");
  EXPECT_FALSE(x->q->dst);
}

TEST(QueryParser, BatchProbeLines) {
  auto p = parse("default/frontend-0 -> default/backend-0:80/tcp", frontend::QueryMode::Probe);
  ASSERT_TRUE(p->q);
  EXPECT_EQ(p->q->kind, ir::QueryKind::Probe);
  EXPECT_EQ(p->q->src->ns, "default");
  EXPECT_EQ(p->q->dst->name, "backend-0");
  auto h = parse("world -> 8.8.8.8:53/udp", frontend::QueryMode::Probe);
  ASSERT_TRUE(h->q);
  EXPECT_EQ(h->q->src->kind, K::World);
  auto l = parse("default/client -> default/api:8080/tcp get /get", frontend::QueryMode::Probe);
  ASSERT_TRUE(l->q);
  EXPECT_EQ(l->q->http->method, "get");
  // A question is not a probe, and a probe is not a question.
  EXPECT_FALSE(parse("can a reach b", frontend::QueryMode::Probe)->q);
  EXPECT_FALSE(parse("a -> b:80/tcp")->q);
}

TEST(QueryParser, SyntaxErrorsPointAtTheColumn) {
  auto [c1, m1] = error_of("can frontend rech database");
  EXPECT_EQ(c1, 14u);
  EXPECT_NE(m1.find("unexpected 'rech'"), std::string::npos) << m1;
  EXPECT_NE(m1.find("'reach'"), std::string::npos) << m1;

  auto [c2, m2] = error_of("can frontend reach");
  EXPECT_EQ(c2, 19u);
  EXPECT_NE(m2.find("end of the question"), std::string::npos) << m2;

  auto [c3, m3] = error_of("can a reach b:99999");
  EXPECT_EQ(c3, 15u);
  EXPECT_NE(m3.find("out of range"), std::string::npos) << m3;

  auto [c4, m4] = error_of("can 10.0.0.1/8 reach b");
  EXPECT_EQ(c4, 5u);
  EXPECT_NE(m4.find("host bits"), std::string::npos) << m4;

  auto [c5, m5] = error_of("can {app=x reach b");
  EXPECT_NE(m5.find("unexpected"), std::string::npos) << m5;
  EXPECT_GT(c5, 5u);

  auto [c6, m6] = error_of("can a reach b:80 GET");
  EXPECT_EQ(c6, 18u);

  auto [c7, m7] = error_of("can a reach 300.1.1.1");
  EXPECT_EQ(c7, 13u);
  EXPECT_NE(m7.find("invalid IP"), std::string::npos) << m7;

  auto [c8, m8] = error_of("can a reach b $");
  EXPECT_EQ(c8, 15u);
}

TEST(QueryParser, ColumnsAreRelativeToTheGivenLocation) {
  ir::DiagnosticEngine diags;
  auto q = frontend::parse_query("a -> b:80/tcq", frontend::QueryMode::Probe, ir::SourceLoc{3, 7, 5}, diags);
  EXPECT_FALSE(q);
  ASSERT_EQ(diags.diagnostics().size(), 1u);
  EXPECT_EQ(diags.diagnostics()[0].loc.file, 3u);
  EXPECT_EQ(diags.diagnostics()[0].loc.line, 7u);
  EXPECT_EQ(diags.diagnostics()[0].loc.col, 5u + 10u);
}

TEST(QueryParser, NeverThrowsOnGarbage) {
  for (const char* s : {"", "?", "can", "{", "}", "can {} reach {}/{}/{}", "who can reach", "can a reach b c d",
                        "can a reach b:80 GET /x GET /y", "::::", "can \xff reach b", "can a reach b/{x}"}) {
    auto p = parse(s);
    if (!p->q) {
      EXPECT_TRUE(p->diags.has_errors()) << s;
    }
  }
}

// --- assertions (polc lint --assert): the same endpoints, six forms --------------------------

std::optional<ir::Assertion> assertion(const std::string& text, ir::DiagnosticEngine& diags) {
  return frontend::parse_assertion(text, ir::SourceLoc{1, 3, 5}, diags);
}

TEST(AssertionParser, EveryFormGivesItsKindAndSides) {
  struct Case {
    const char* text;
    ir::AssertionKind kind;
    const char* src;
    const char* dst;
  };
  const Case cases[] = {
      {"frontend must not reach database:5432", ir::AssertionKind::MustNotReach, "frontend", "database"},
      {"frontend cannot reach database", ir::AssertionKind::MustNotReach, "frontend", "database"},
      {"frontend CAN NOT reach database", ir::AssertionKind::MustNotReach, "frontend", "database"},
      {"backend must reach database:5432/tcp", ir::AssertionKind::MustReach, "backend", "database"},
      {"backend can reach svc:db:5432", ir::AssertionKind::MustReach, "backend", "svc:db"},
      {"only {app=backend} can reach database:5432", ir::AssertionKind::OnlyCanReach, "{app=backend}", "database"},
      {"database:5432 is not reachable from world", ir::AssertionKind::MustNotReach, "world", "database"},
      {"prod/{} is reachable from any", ir::AssertionKind::MustReach, "any", "prod/{}"},
      {"no pod in namespace payments is reachable from world", ir::AssertionKind::MustNotReach, "world",
       "any pod in namespace payments"},
  };
  for (const auto& c : cases) {
    ir::DiagnosticEngine diags;
    auto a = assertion(c.text, diags);
    ASSERT_TRUE(a) << c.text << ": " << (diags.diagnostics().empty() ? "" : diags.diagnostics()[0].message);
    EXPECT_EQ(a->kind, c.kind) << c.text;
    EXPECT_EQ(a->query.kind, ir::QueryKind::Can) << c.text;
    EXPECT_EQ(a->query.src->text, c.src) << c.text;
    EXPECT_EQ(a->query.dst->text, c.dst) << c.text;
    EXPECT_EQ(a->loc.line, 3u);
    EXPECT_EQ(a->loc.col, 5u);
  }
}

TEST(AssertionParser, NamespaceFormSelectsEveryPodOfTheNamespace) {
  ir::DiagnosticEngine diags;
  auto a = assertion("no pods in namespace payments is reachable from 0.0.0.0/0", diags);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->query.dst->kind, K::Selector);
  EXPECT_EQ(a->query.dst->ns, "payments");
  EXPECT_TRUE(a->query.dst->pod.matches_all());
  EXPECT_EQ(a->query.dst->loc.col, 5u + 21u);
  EXPECT_EQ(a->query.src->kind, K::Address);
}

TEST(AssertionParser, PortProtocolAndRequest) {
  ir::DiagnosticEngine diags;
  auto a = assertion("web must not reach api:8080 GET /admin", diags);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->query.port->number, 8080);
  ASSERT_TRUE(a->query.http);
  EXPECT_EQ(a->query.http->method, "GET");
  EXPECT_EQ(a->query.http->path, "/admin");
}

TEST(AssertionParser, KeywordsAreNamesToo) {
  ir::DiagnosticEngine diags;
  auto a = assertion("only must not reach from/namespace:5432", diags);
  ASSERT_TRUE(a) << (diags.diagnostics().empty() ? "" : diags.diagnostics()[0].message);
  EXPECT_EQ(a->kind, ir::AssertionKind::MustNotReach);
  EXPECT_EQ(a->query.src->name, "only");
  EXPECT_EQ(a->query.dst->ns, "from");
  EXPECT_EQ(a->query.dst->name, "namespace");
  // ... and questions still take them as names.
  auto q = parse("can no reach is:80");
  ASSERT_TRUE(q->q);
  EXPECT_EQ(q->q->src->name, "no");
  EXPECT_EQ(q->q->dst->name, "is");
}

TEST(AssertionParser, SyntaxErrorsAreAssertionSyntaxAtTheColumn) {
  ir::DiagnosticEngine diags;
  EXPECT_FALSE(assertion("web mustnt reach api", diags));
  ASSERT_EQ(diags.diagnostics().size(), 1u);
  const auto& d = diags.diagnostics()[0];
  EXPECT_EQ(d.id, ir::DiagId::AssertionSyntax);
  EXPECT_EQ(d.loc.col, 5u + 4u);
  EXPECT_NE(d.message.find("unexpected 'mustnt'"), std::string::npos) << d.message;
  EXPECT_NE(d.hint.find("an assertion reads"), std::string::npos) << d.hint;
  ir::DiagnosticEngine d2;
  EXPECT_FALSE(assertion("can web reach api", d2));  // a question is not an assertion
  ASSERT_EQ(d2.diagnostics().size(), 1u);
  EXPECT_EQ(d2.diagnostics()[0].id, ir::DiagId::AssertionSyntax);
}

TEST(AssertionParser, FileSkipsCommentsAndBlankLinesAndKeepsGoing) {
  ir::DiagnosticEngine diags;
  auto as = frontend::parse_assertions(
      "# expectations\n\nweb must reach api:80   # trailing comment\r\n  bad line here\napi cannot reach web\n", 7,
      diags);
  ASSERT_EQ(as.size(), 2u);
  EXPECT_EQ(as[0].text, "web must reach api:80");
  EXPECT_EQ(as[0].loc.file, 7u);
  EXPECT_EQ(as[0].loc.line, 3u);
  EXPECT_EQ(as[1].loc.line, 5u);
  ASSERT_EQ(diags.diagnostics().size(), 1u);
  EXPECT_EQ(diags.diagnostics()[0].loc.line, 4u);
  EXPECT_EQ(diags.diagnostics()[0].loc.col, 3u + 4u);
}

}  // namespace
}  // namespace polc
