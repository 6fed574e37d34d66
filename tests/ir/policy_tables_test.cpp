// The tables must give the reference evaluator's verdict for every probe.
#include "polc/ir/policy_tables.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "polc/frontend/loader.h"
#include "random_model.h"

namespace polc::ir {
namespace {

namespace fs = std::filesystem;

std::vector<Probe> exhaustive_probes(const Model& m, const PolicyTables& t) {
  std::vector<Address> addrs;
  for (const auto& e : m.endpoints) addrs.push_back(Address::pod(e.id));
  for (const auto& n : m.nodes) addrs.push_back(Address::ip(n.ip));
  // One address per world class plus a few fixed ones.
  for (const auto& c : t.classes)
    if (c.kind == AddrClass::Kind::World)
      for (const auto& p : c.prefixes) addrs.push_back(Address::ip(Ipv4{p.last()}));
  for (const char* ip : {"203.0.113.7", "10.10.0.1", "8.8.8.8"}) addrs.push_back(Address::ip(*Ipv4::parse(ip)));
  // Ports: every segment boundary of every function, plus container ports.
  std::set<std::pair<uint8_t, uint16_t>> ports{{6, 80}, {17, 53}, {6, 53}, {1, 8}, {132, 9}, {47, 0}, {6, 65535}};
  for (const auto& f : t.functions)
    for (int b = 0; b < kProtoBuckets; ++b)
      for (const auto& s : f.buckets[b]) {
        uint8_t proto = b == 0 ? 6 : b == 1 ? 17 : b == 2 ? 132 : b == 3 ? 1 : 47;
        ports.insert({proto, s.lo});
        ports.insert({proto, s.hi});
      }
  for (const auto& e : m.endpoints)
    for (const auto& p : e.ports) ports.insert({p.proto, p.port});
  std::vector<Probe> probes;
  for (const auto& s : addrs)
    for (const auto& d : addrs)
      for (const auto& [proto, port] : ports) probes.push_back(Probe{s, d, proto, port, std::nullopt});
  return probes;
}

void check_model(const Model& m, const std::string& what) {
  PolicyTables t = resolve_policies(m);
  size_t n = 0, mismatches = 0;
  for (const auto& p : exhaustive_probes(m, t)) {
    bool want = evaluate(m, p).allowed;
    bool got = t.allowed(m, p);
    ++n;
    if (want != got && ++mismatches <= 5) {
      auto name = [&](const Address& a) {
        if (const auto* id = std::get_if<EndpointId>(&a.v)) return m.endpoint_name(*id);
        return std::get<Ipv4>(a.v).str();
      };
      ADD_FAILURE() << what << ": " << name(p.src) << " -> " << name(p.dst) << " " << int(p.proto) << "/" << p.port
                    << " evaluator=" << want << " tables=" << got;
    }
  }
  EXPECT_EQ(mismatches, 0u) << what << " (" << n << " probes)";
  EXPECT_GT(n, 0u);
}

TEST(PolicyTables, SamplesAgreeWithEvaluator) {
  for (const auto& dir : fs::directory_iterator(fs::path(POLC_SOURCE_DIR) / "samples")) {
    if (!dir.is_directory()) continue;
    DiagnosticEngine diags;
    auto res = frontend::load_inputs({dir.path().string()}, diags);
    ASSERT_FALSE(diags.has_errors()) << dir.path();
    check_model(res.model, dir.path().filename().string());
  }
}

TEST(PolicyTables, FeaturesAgreeWithEvaluator) {
  const char* yaml = R"(
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {team: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 192.168.65.10}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
status: {addresses: [{type: InternalIP, address: 192.168.65.11}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web1, namespace: a, labels: {app: web}}
spec: {nodeName: n1, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.10.1.5}
---
apiVersion: v1
kind: Pod
metadata: {name: web2, namespace: a, labels: {app: web}}
spec: {nodeName: n2, containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]}
status: {podIP: 10.10.2.5}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: b, labels: {app: db}}
spec: {nodeName: n2, containers: [{name: c, ports: [{name: sql, containerPort: 5432}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: hostpod, namespace: b, labels: {app: agent}}
spec: {nodeName: n1, hostNetwork: true}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-in, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
    - from: [{ipBlock: {cidr: 10.10.0.0/16, except: [10.10.2.0/24]}}]
      ports: [{port: http}]
    - from: [{namespaceSelector: {}, podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [web]}]}}]
      ports: [{port: 1000, endPort: 2000, protocol: UDP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-out, namespace: a}
spec:
  podSelector: {}
  egress:
    - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: b}}}]
      ports: [{port: sql}]
    - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: b}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
    - fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: a}}]
      toPorts: [{ports: [{port: "5432", protocol: TCP}], rules: {http: [{method: GET, path: "/x/.*"}]}}]
    - fromEntities: [host, remote-node]
    - fromCIDRSet: [{cidr: 198.51.100.0/24, except: [198.51.100.128/25]}]
      toPorts: [{ports: [{port: "0"}]}]
  ingressDeny:
    - fromCIDR: [198.51.100.7/32]
  egress:
    - toEntities: [world]
      toPorts: [{ports: [{port: "443"}]}]
)";
  DiagnosticEngine diags;
  auto res = frontend::load_text("features.yaml", yaml, diags);
  for (const auto& d : diags.diagnostics()) ADD_FAILURE() << render_text(d, res.model.sources);
  check_model(res.model, "features");
  PolicyTables t = resolve_policies(res.model);
  // web1 and web2 differ in their named port, so they are distinct contexts and classes.
  EXPECT_NE(t.context_of_endpoint[0], t.context_of_endpoint[1]);
  // HTTP requests on the L7 port are filtered.
  Probe get{Address::pod(EndpointId(0)), Address::pod(EndpointId(2)), 6, 5432, HttpRequest{"GET", "/x/1", "", {}}};
  Probe post = get;
  post.http->method = "POST";
  EXPECT_EQ(t.allowed(res.model, get), evaluate(res.model, get).allowed);
  EXPECT_EQ(t.allowed(res.model, post), evaluate(res.model, post).allowed);
  EXPECT_TRUE(evaluate(res.model, get).allowed);
  EXPECT_FALSE(evaluate(res.model, post).allowed);
}

TEST(PolicyTables, RandomModelsAgreeWithEvaluator) {
  size_t total = 0;
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    std::string yaml = testing::random_cluster_yaml(seed);
    DiagnosticEngine diags;
    auto res = frontend::load_text("random.yaml", yaml, diags);
    ASSERT_FALSE(diags.has_errors()) << "seed " << seed;
    PolicyTables t = resolve_policies(res.model);
    size_t bad = 0;
    for (const auto& p : testing::random_probes(res.model, seed, 400)) {
      ++total;
      bool want = evaluate(res.model, p).allowed, got = t.allowed(res.model, p);
      if (want != got && ++bad <= 3)
        ADD_FAILURE() << "seed " << seed << ": " << testing::probe_str(res.model, p) << " evaluator=" << want
                      << " tables=" << got;
    }
    if (bad) {
      ADD_FAILURE() << "seed " << seed << ": " << bad << " mismatches; model:\n" << yaml;
      return;
    }
  }
  EXPECT_EQ(total, 150u * 400u);
}

}  // namespace
}  // namespace polc::ir
