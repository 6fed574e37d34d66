// The random cluster generator (tests/support) must produce valid input that covers every
// semantic feature: it is the source of the differential tests' confidence.
#include "random_model.h"

#include <gtest/gtest.h>

#include <set>

#include "polc/frontend/loader.h"

namespace polc {
namespace {

std::string errors_of(const ir::DiagnosticEngine& diags, const ir::SourceManager& sm) {
  std::string s;
  for (const auto& d : diags.diagnostics())
    if (d.severity == ir::Severity::Error) s += ir::render_text(d, sm);
  return s;
}

TEST(RandomModel, IsDeterministic) {
  EXPECT_EQ(testing::random_cluster_yaml(7), testing::random_cluster_yaml(7));
  EXPECT_NE(testing::random_cluster_yaml(7), testing::random_cluster_yaml(8));
}

TEST(RandomModel, AlwaysValidAndCoversFeatures) {
  std::set<std::string> seen;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    std::string yaml = testing::random_cluster_yaml(seed);
    ir::DiagnosticEngine diags;
    auto res = frontend::load_text("random.yaml", yaml, diags);
    ASSERT_FALSE(diags.has_errors()) << "seed " << seed << "\n" << errors_of(diags, res.model.sources) << yaml;
    const ir::Model& m = res.model;
    for (const auto& e : m.endpoints) {
      if (e.host_network) seen.insert("hostNetwork");
      for (const auto& cp : e.ports)
        if (!cp.name.empty()) seen.insert("named container port");
    }
    for (const auto& p : m.policies) {
      seen.insert(ir::policy_kind_name(p.kind));
      if (p.spec_index >= 0) seen.insert("specs");
      if (p.kind != ir::PolicyKind::NetworkPolicy && !p.isolates[0] && !p.isolates[1]) seen.insert("no default deny");
      for (const auto& r : p.subject.pod.reqs) seen.insert(std::string("subject ") + ir::selector_op_name(r.op));
    }
    for (const auto& r : m.rules) {
      if (r.action == ir::Action::Deny) seen.insert("deny rule");
      if (r.peers.empty()) seen.insert("no peers");
      for (const auto& peer : r.peers) {
        if (const auto* c = std::get_if<ir::PeerCidr>(&peer.v)) {
          seen.insert(c->matches_cluster ? "ipBlock" : "CIDR");
          if (!c->except.empty()) seen.insert(c->matches_cluster ? "ipBlock except" : "CIDR except");
        }
        if (const auto* en = std::get_if<ir::PeerEntity>(&peer.v))
          seen.insert(std::string("entity ") + ir::entity_name(en->entity));
        if (const auto* pe = std::get_if<ir::PeerEndpoints>(&peer.v)) {
          for (const auto& q : pe->sel.pod.reqs) seen.insert(std::string("peer ") + ir::selector_op_name(q.op));
          if (!pe->sel.ns.matches_all()) seen.insert("namespace selector");
        }
        if (std::holds_alternative<ir::PeerUnresolved>(peer.v)) seen.insert("unresolved");
      }
      for (const auto& g : r.ports) {
        if (g.has_l7()) seen.insert("L7");
        for (const auto& pm : g.ports) {
          if (!pm.named.empty()) seen.insert("named port");
          if (pm.named.empty() && pm.range.lo != pm.range.hi) seen.insert("port range");
          if (pm.protos.contains(1) && !pm.protos.is_all()) seen.insert("icmp");
          if (pm.protos == ir::ProtoSet::with_ports()) seen.insert("ANY");
          if (pm.protos.contains(132) && !pm.protos.contains(6)) seen.insert("SCTP");
        }
        for (const auto& hm : g.http) {
          if (hm.method) seen.insert("http method");
          if (hm.path) seen.insert("http path");
          if (hm.host) seen.insert("http host");
          if (!hm.headers.empty()) seen.insert("http header");
        }
      }
    }
    if (!m.services.empty()) seen.insert("service");
  }
  for (const char* f : {"hostNetwork",
                        "named container port",
                        "NetworkPolicy",
                        "CiliumNetworkPolicy",
                        "CiliumClusterwideNetworkPolicy",
                        "specs",
                        "no default deny",
                        "subject In",
                        "subject NotIn",
                        "subject Exists",
                        "subject DoesNotExist",
                        "deny rule",
                        "no peers",
                        "ipBlock",
                        "ipBlock except",
                        "CIDR",
                        "CIDR except",
                        "entity all",
                        "entity world",
                        "entity cluster",
                        "entity host",
                        "entity remote-node",
                        "entity kube-apiserver",
                        "peer In",
                        "peer NotIn",
                        "peer Exists",
                        "peer DoesNotExist",
                        "namespace selector",
                        "unresolved",
                        "L7",
                        "named port",
                        "port range",
                        "icmp",
                        "ANY",
                        "SCTP",
                        "http method",
                        "http path",
                        "http host",
                        "http header",
                        "service"})
    EXPECT_TRUE(seen.count(f)) << "the generator never produced: " << f;
}

TEST(RandomModel, LargeHasExactCounts) {
  auto opt = testing::RandomOptions::large(1000, 50, 500);
  std::string yaml = testing::random_cluster_yaml(1, opt);
  ir::DiagnosticEngine diags;
  auto res = frontend::load_text("large.yaml", yaml, diags);
  ASSERT_FALSE(diags.has_errors()) << errors_of(diags, res.model.sources);
  EXPECT_EQ(res.model.endpoints.size(), 1000u);
  EXPECT_EQ(res.model.namespaces.size(), 50u);
  std::set<std::string> names;
  for (const auto& p : res.model.policies) names.insert(p.ns_name + "/" + p.name);
  EXPECT_EQ(names.size(), 500u);
}

TEST(RandomModel, ProbesAreDeterministicAndVaried) {
  std::string yaml = testing::random_cluster_yaml(3);
  ir::DiagnosticEngine diags;
  auto res = frontend::load_text("random.yaml", yaml, diags);
  auto a = testing::random_probes(res.model, 5, 200);
  auto b = testing::random_probes(res.model, 5, 200);
  ASSERT_EQ(a.size(), 200u);
  std::set<uint8_t> protos;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(testing::probe_str(res.model, a[i]), testing::probe_str(res.model, b[i]));
    protos.insert(a[i].proto);
  }
  EXPECT_TRUE(protos.count(6) && protos.count(17) && protos.count(132) && protos.count(1));
}

}  // namespace
}  // namespace polc
