// Resolution of question names against a model, and the answers of the Z3 encoding on small
// clusters whose semantics are known: witnesses, deciding rules, isolation, new pods, L7.
#include "polc/verifier/reach.h"

#include <gtest/gtest.h>

#include "polc/frontend/loader.h"
#include "polc/frontend/query_parser.h"
#include "polc/ir/policy_tables.h"
#include "polc/verifier/connectivity.h"
#include "polc/verifier/explain.h"
#include "polc/verifier/resolve.h"

namespace polc {
namespace {

frontend::LoadResult load_sample(const std::string& name) {
  ir::DiagnosticEngine diags;
  auto res = frontend::load_inputs({std::string(POLC_SOURCE_DIR) + "/samples/" + name}, diags);
  EXPECT_FALSE(diags.has_errors()) << name;
  return res;
}

frontend::LoadResult load_yaml(const std::string& yaml) {
  ir::DiagnosticEngine diags;
  auto res = frontend::load_text("test.yaml", yaml, diags);
  std::string errors;
  for (const auto& d : diags.diagnostics())
    if (d.severity == ir::Severity::Error) errors += ir::render_text(d, res.model.sources);
  EXPECT_FALSE(diags.has_errors()) << errors;
  return res;
}

struct Asked {
  std::optional<verifier::ReachQuery> q;
  std::optional<verifier::ReachAnswer> a;
  ir::DiagnosticEngine diags;
};

std::unique_ptr<Asked> ask(const ir::Model& m, const std::string& question) {
  auto out = std::make_unique<Asked>();
  auto q = frontend::parse_query(question, frontend::QueryMode::Question, ir::SourceLoc{1, 1, 1}, out->diags);
  if (!q) return out;
  auto rq = verifier::resolve_reach(m, *q, out->diags);
  if (!rq) return out;
  out->q = std::move(*rq);
  verifier::ReachOptions opt;
  opt.unsat_core = true;
  auto a = verifier::check_reach(m, *out->q, opt);
  EXPECT_TRUE(a.ok()) << question << ": " << (a.ok() ? "" : a.error().message);
  if (a) out->a = std::move(*a);
  return out;
}

/// The first diagnostic of a question that fails to resolve.
const ir::Diagnostic& resolve_error(const Asked& a) {
  EXPECT_FALSE(a.q);
  EXPECT_FALSE(a.diags.diagnostics().empty());
  return a.diags.diagnostics().front();
}

/// Re-checks a witness with the reference evaluator (both ends must exist).
bool evaluator_allows(const ir::Model& m, const verifier::Packet& p) {
  auto s = p.src.address(), d = p.dst.address();
  EXPECT_TRUE(s && d);
  ir::Probe probe{*s, *d, p.proto, p.port, p.http};
  return ir::evaluate(m, probe).allowed;
}

// ---------------------------------------------------------------------------------------------
// Resolution

TEST(Resolve, WorkloadsPodsAndNamespaces) {
  auto r = load_sample("demo");
  const auto& m = r.model;
  auto a = ask(m, "can frontend reach default/database-0:5432");
  ASSERT_TRUE(a->q);
  EXPECT_EQ(a->q->src.candidates.size(), 2u);  // both replicas
  ASSERT_EQ(a->q->dst.candidates.size(), 1u);
  EXPECT_EQ(m.endpoint_name(a->q->dst.candidates[0].ep), "default/database-0");
  EXPECT_EQ(a->q->port, 5432);
  EXPECT_EQ(a->q->proto, 6);  // a bare port means TCP
}

TEST(Resolve, UnknownNamesSuggestTheClosest) {
  auto r = load_sample("demo");
  auto a = ask(r.model, "can fronted reach database");
  const auto& d = resolve_error(*a);
  EXPECT_EQ(d.id, ir::DiagId::QueryUnknownEndpoint);
  EXPECT_EQ(d.loc.col, 5u);
  EXPECT_NE(d.message.find("fronted"), std::string::npos);
  EXPECT_EQ(d.hint, "did you mean 'frontend'?");

  auto b = ask(r.model, "can frontend reach defualt/database");
  EXPECT_EQ(resolve_error(*b).hint, "did you mean 'default'?");
  auto c = ask(r.model, "can frontend reach svc:databse:5432");
  EXPECT_EQ(resolve_error(*c).hint, "did you mean 'database'?");
  auto n = ask(r.model, "can node:node-7 reach database");
  EXPECT_EQ(resolve_error(*n).hint, "did you mean 'node-1'?");
}

TEST(Resolve, AmbiguousNamesAskForANamespace) {
  auto r = load_yaml(R"(
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: a}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: b}
)");
  auto a = ask(r.model, "can web reach web");
  const auto& d = resolve_error(*a);
  EXPECT_EQ(d.id, ir::DiagId::QueryAmbiguous);
  EXPECT_NE(d.message.find("a/web, b/web"), std::string::npos) << d.message;
  EXPECT_EQ(d.hint, "qualify it, e.g. 'a/web'");
  EXPECT_TRUE(ask(r.model, "can a/web reach b/web")->q);
}

TEST(Resolve, ServicesGoThroughTargetPortsPerBackend) {
  auto r = load_yaml(R"(
apiVersion: v1
kind: Pod
metadata: {name: api-1, labels: {app: api}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-2, labels: {app: api}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{name: web, port: 80, targetPort: http}]
)");
  auto a = ask(r.model, "can client reach svc:api:80");
  ASSERT_TRUE(a->q);
  ASSERT_EQ(a->q->dst.candidates.size(), 2u);
  EXPECT_EQ(a->q->dst.candidates[0].ports, (std::vector<std::pair<uint8_t, uint16_t>>{{6, 8080}}));
  EXPECT_EQ(a->q->dst.candidates[1].ports, (std::vector<std::pair<uint8_t, uint16_t>>{{6, 9090}}));
  EXPECT_FALSE(a->q->port);
  ASSERT_TRUE(a->a);
  EXPECT_TRUE(a->a->allowed);
  EXPECT_TRUE(a->a->packet.port == 8080 || a->a->packet.port == 9090);

  auto by_name = ask(r.model, "can client reach svc:api:web");
  ASSERT_TRUE(by_name->q);
  EXPECT_EQ(by_name->q->dst.candidates.size(), 2u);
  auto wrong = ask(r.model, "can client reach svc:api:443");
  EXPECT_NE(resolve_error(*wrong).message.find("it has web=80/TCP"), std::string::npos);
  // Named container ports resolve per pod too.
  auto named = ask(r.model, "can client reach {app=api}:http");
  ASSERT_TRUE(named->q);
  EXPECT_EQ(named->q->dst.named_port, "http");
  EXPECT_EQ(named->q->dst.candidates.size(), 2u);
  auto none = ask(r.model, "can client reach client:http");
  EXPECT_NE(resolve_error(*none).message.find("no pod of 'client' has a container port named 'http'"),
            std::string::npos);
}

TEST(Resolve, AddressesResolveToPodsNodesOrTheWorld) {
  auto r = load_sample("demo");
  const auto& m = r.model;
  auto db = m.find_endpoint("default", "database-0");
  auto a = ask(m, "can " + m.endpoint(*db).ip.str() + " reach 192.168.65.2");
  ASSERT_TRUE(a->q);
  ASSERT_EQ(a->q->src.candidates.size(), 1u);
  EXPECT_EQ(a->q->src.candidates[0].ep, *db);
  EXPECT_FALSE(a->q->src.external);
  ASSERT_EQ(a->q->dst.candidates.size(), 1u);
  EXPECT_EQ(a->q->dst.candidates[0].kind, verifier::Candidate::Kind::Node);
  auto w = ask(m, "can 203.0.113.0/24 reach database");
  ASSERT_TRUE(w->q);
  EXPECT_TRUE(w->q->src.candidates.empty());
  ASSERT_TRUE(w->q->src.external);
  EXPECT_EQ(w->q->src.external->cidr.str(), "203.0.113.0/24");
}

// ---------------------------------------------------------------------------------------------
// Answers

TEST(Reach, DemoFrontendToDatabaseIsDeniedByIsolation) {
  auto r = load_sample("demo");
  const auto& m = r.model;
  auto a = ask(m, "can frontend reach database:5432?");
  ASSERT_TRUE(a->a);
  EXPECT_FALSE(a->a->allowed);
  const auto& in = a->a->verdict.ingress;
  EXPECT_EQ(in.reason, ir::Reason::NoRuleMatched);
  ASSERT_FALSE(in.isolating.empty());
  EXPECT_EQ(m.policy(in.isolating[0]).name, "default-deny");
  EXPECT_EQ(a->a->verdict.egress.reason, ir::Reason::NoRuleMatched);
  EXPECT_FALSE(evaluator_allows(m, a->a->packet));
  // The unsat core names isolation facts and rules.
  EXPECT_FALSE(a->a->core.empty());
  std::string text = verifier::render_reach_text(m, *a->q, *a->a);
  EXPECT_NE(text.find("DENY  default/frontend-"), std::string::npos) << text;
  EXPECT_NE(text.find("ingress: database is isolated by NetworkPolicy default/default-deny ("), std::string::npos)
      << text;
  EXPECT_NE(text.find("/samples/demo/policies.yaml:"), std::string::npos) << text;
  EXPECT_NE(text.find("no ingress rule admits frontend on 5432/TCP"), std::string::npos) << text;
}

TEST(Reach, DemoBackendToDatabaseNamesTheAllowingRules) {
  auto r = load_sample("demo");
  const auto& m = r.model;
  auto a = ask(m, "can backend reach database:5432");
  ASSERT_TRUE(a->a);
  EXPECT_TRUE(a->a->allowed);
  EXPECT_TRUE(evaluator_allows(m, a->a->packet));
  ASSERT_EQ(a->a->verdict.egress.rules.size(), 1u);
  EXPECT_EQ(m.policy(m.rule(a->a->verdict.egress.rules[0]).policy).name, "allow-backend-to-database-egress");
  ASSERT_EQ(a->a->verdict.ingress.rules.size(), 1u);
  EXPECT_EQ(m.rule(a->a->verdict.ingress.rules[0]).path, "spec.ingress[0]");
  EXPECT_FALSE(a->a->counterexample);  // both replicas are allowed

  // Without a port, the witness is the one port that works.
  auto any = ask(m, "can backend reach database");
  ASSERT_TRUE(any->a);
  EXPECT_TRUE(any->a->allowed);
  EXPECT_EQ(any->a->packet.port, 5432);
  EXPECT_EQ(any->a->packet.proto, 6);
}

TEST(Reach, SelfTrafficAndOwnNodeAreAlwaysAllowed) {
  auto r = load_sample("demo");
  const auto& m = r.model;
  auto self = ask(m, "can database-0 reach database-0:1234/udp");
  ASSERT_TRUE(self->a);
  EXPECT_TRUE(self->a->allowed);
  EXPECT_EQ(self->a->verdict.ingress.reason, ir::Reason::SelfTraffic);
  // Two replicas of one workload are two pods: their traffic meets policy.
  auto pair = ask(m, "can frontend reach frontend:80");
  ASSERT_TRUE(pair->a);
  EXPECT_FALSE(pair->a->allowed);
  auto node = ask(m, "can node:node-1 reach database:5432");
  ASSERT_TRUE(node->a);
  EXPECT_TRUE(node->a->allowed);
  EXPECT_EQ(node->a->verdict.ingress.reason, ir::Reason::FromOwnNode);
}

TEST(Reach, NewPodsInNewNamespacesAreConsidered) {
  auto r = load_yaml(R"(
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {team: a}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, labels: {app: web}}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: data, labels: {app: db}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-team-b, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
    - from: [{namespaceSelector: {matchLabels: {team: b}}, podSelector: {matchLabels: {app: web}}}]
      ports: [{port: 5432}]
)");
  const auto& m = r.model;
  // No existing web pod can reach the database, but a web pod in a namespace labelled team=b can.
  auto existing = ask(m, "can web reach db:5432");
  ASSERT_TRUE(existing->a);
  EXPECT_FALSE(existing->a->allowed);
  auto any = ask(m, "can {app=web} reach data/{app=db}:5432");
  ASSERT_TRUE(any->a);
  ASSERT_TRUE(any->a->allowed);
  const auto& src = any->a->packet.src;
  EXPECT_EQ(src.kind, verifier::EndpointView::Kind::NewPod);
  EXPECT_TRUE(src.new_namespace);
  EXPECT_EQ(src.ns_labels.at("team"), "b");
  EXPECT_EQ(src.labels.at("app"), "web");
  EXPECT_TRUE(r.model.config.pod_cidr.contains(src.ip));
  EXPECT_FALSE(r.model.endpoint_by_ip(src.ip));
  // Pinned to namespace prod (team=a), no pod can.
  auto prod = ask(m, "can prod/{app=web} reach data/{app=db}:5432");
  ASSERT_TRUE(prod->a);
  EXPECT_FALSE(prod->a->allowed);
  auto other_port = ask(m, "can {team=b}/{app=web} reach data/{app=db}:5433");
  ASSERT_TRUE(other_port->a);
  EXPECT_FALSE(other_port->a->allowed);
}

TEST(Reach, HttpRulesGiveAnExampleRequestAndDenyOthers) {
  auto r = load_sample("l7-api");
  const auto& m = r.model;
  auto conn = ask(m, "can default/client reach api:8080");
  ASSERT_TRUE(conn->a);
  EXPECT_TRUE(conn->a->allowed);
  EXPECT_TRUE(conn->a->verdict.ingress.l7_restricted);
  ASSERT_TRUE(conn->a->example_request);
  verifier::Packet with = conn->a->packet;
  with.http = conn->a->example_request;
  EXPECT_TRUE(evaluator_allows(m, with)) << conn->a->example_request->method << " " << conn->a->example_request->path;

  auto admin = ask(m, "can default/client reach api:8080 GET /admin");
  ASSERT_TRUE(admin->a);
  EXPECT_FALSE(admin->a->allowed);
  EXPECT_EQ(admin->a->verdict.ingress.reason, ir::Reason::L7Denied);
  auto users = ask(m, "can default/client reach api:8080 GET /api/v1/users");
  ASSERT_TRUE(users->a);
  EXPECT_TRUE(users->a->allowed);
}

TEST(Reach, DenyRulesOverrideAllows) {
  auto r = load_yaml(R"(
apiVersion: v1
kind: Pod
metadata: {name: a, labels: {app: a}}
---
apiVersion: v1
kind: Pod
metadata: {name: b, labels: {app: b}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: b-policy}
spec:
  endpointSelector: {matchLabels: {app: b}}
  ingress:
    - fromEndpoints: [{}]
  ingressDeny:
    - fromEndpoints: [{matchLabels: {app: a}}]
      toPorts: [{ports: [{port: "22"}]}]
)");
  const auto& m = r.model;
  auto ssh = ask(m, "can a reach b:22");
  ASSERT_TRUE(ssh->a);
  EXPECT_FALSE(ssh->a->allowed);
  EXPECT_EQ(ssh->a->verdict.ingress.reason, ir::Reason::DeniedByRule);
  ASSERT_EQ(ssh->a->verdict.ingress.rules.size(), 1u);
  EXPECT_EQ(m.rule(ssh->a->verdict.ingress.rules[0]).path, "spec.ingressDeny[0]");
  auto web = ask(m, "can a reach b:80");
  ASSERT_TRUE(web->a);
  EXPECT_TRUE(web->a->allowed);
  // Without a port, some port is allowed; the counterexample on the witness's port, if any, is not 22.
  auto any = ask(m, "can a reach b");
  ASSERT_TRUE(any->a);
  EXPECT_TRUE(any->a->allowed);
  EXPECT_NE(any->a->packet.port, 22);
}

TEST(Reach, DebugSmtDumpsTheEncoding) {
  auto r = load_sample("demo");
  ir::DiagnosticEngine diags;
  auto q = frontend::parse_query("can frontend reach database:5432", frontend::QueryMode::Question,
                                 ir::SourceLoc{1, 1, 1}, diags);
  auto rq = verifier::resolve_reach(r.model, *q, diags);
  verifier::ReachOptions opt;
  opt.debug_smt = true;
  auto a = verifier::check_reach(r.model, *rq, opt);
  ASSERT_TRUE(a);
  EXPECT_NE(a->smt2.find("(declare-fun src_ip () (_ BitVec 32))"), std::string::npos);
  EXPECT_NE(a->smt2.find("(check-sat)"), std::string::npos);
  // No rule of either side can match frontend -> database: none is encoded, isolation decides.
  EXPECT_EQ(a->rules_encoded, 0u);
  EXPECT_FALSE(a->allowed);
  auto q2 = frontend::parse_query("can backend reach database:5432", frontend::QueryMode::Question,
                                  ir::SourceLoc{1, 1, 1}, diags);
  auto rq2 = verifier::resolve_reach(r.model, *q2, diags);
  auto a2 = verifier::check_reach(r.model, *rq2, opt);
  ASSERT_TRUE(a2);
  EXPECT_TRUE(a2->allowed);
  EXPECT_EQ(a2->rules_encoded, 2u) << "backend's egress to database and database's ingress from backend";
}

// ---------------------------------------------------------------------------------------------
// Who / what

TEST(Listing, WhoCanReachTheDatabase) {
  auto r = load_sample("demo");
  const auto& m = r.model;
  ir::DiagnosticEngine diags;
  auto q =
      frontend::parse_query("who can reach database", frontend::QueryMode::Question, ir::SourceLoc{1, 1, 1}, diags);
  ASSERT_TRUE(q);
  auto dst = verifier::resolve_endpoint(m, *q->dst, *q, true, diags);
  ASSERT_TRUE(dst);
  auto tables = ir::resolve_policies(m);
  verifier::Connectivity c(m, tables);
  auto l = verifier::who_can_reach(c, m, *dst, std::nullopt, std::nullopt);
  std::map<std::string, std::string> allowed;
  for (const auto& row : l.allowed) allowed[row.workload] = row.ports.str();
  EXPECT_EQ(allowed["default/backend"], "5432/TCP");
  EXPECT_EQ(allowed["node node-1"], "any");
  EXPECT_EQ(allowed.size(), 2u);
  std::set<std::string> denied;
  for (const auto& row : l.denied) denied.insert(row.workload);
  EXPECT_TRUE(denied.count("default/frontend"));
  EXPECT_TRUE(denied.count("world"));

  auto what = verifier::what_can_reach(c, m, *dst, std::nullopt, std::nullopt);
  std::map<std::string, std::string> reach;
  for (const auto& row : what.allowed) reach[row.workload] = row.ports.str();
  EXPECT_EQ(reach["kube-system/coredns"], "53/TCP, 53/UDP");
  EXPECT_FALSE(reach.count("default/backend"));
}

TEST(Listing, PortSetsPrintReadably) {
  verifier::PortSet p;
  p.unite(verifier::PortSet::single(6, 80));
  p.unite(verifier::PortSet::single(6, 81));
  p.unite(verifier::PortSet::single(17, 53));
  p.unite(verifier::PortSet::single(1, 8));
  EXPECT_EQ(p.str(), "80-81/TCP, 53/UDP, ICMP type 8");
  EXPECT_TRUE(p.contains(6, 81));
  EXPECT_FALSE(p.contains(6, 82));
  EXPECT_EQ(verifier::PortSet::everything().str(), "any");
  EXPECT_EQ(verifier::PortSet().str(), "none");
  EXPECT_EQ(verifier::PortSet::everything().restrict(17, std::nullopt).str(), "all UDP");
}

}  // namespace
}  // namespace polc
