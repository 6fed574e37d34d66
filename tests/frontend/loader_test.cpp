// The loader: which files it reads, how documents and lists are split, and how the inventory
// (namespaces, nodes, pods, workloads, services) becomes IR endpoints and services.
#include "polc/frontend/loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

namespace polc::frontend {
namespace {

namespace fs = std::filesystem;

/// A scratch directory under the build tree, removed when the test ends.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) : path_(fs::path(POLC_BINARY_DIR) / "loader_test_tmp" / name) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  void write(const std::string& rel, const std::string& text) const {
    fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  [[nodiscard]] std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

std::string pod(const std::string& name, const std::string& ns = "default", const std::string& extra = "") {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: " + ns + ", labels: {app: " + name +
         "}}\n" + extra;
}

/// Loads text and expects no error; returns the result.
LoadResult load_ok(const std::string& text, ir::DiagnosticEngine* out = nullptr) {
  ir::DiagnosticEngine local;
  ir::DiagnosticEngine& diags = out ? *out : local;
  auto res = load_text("test.yaml", text, diags);
  for (const auto& d : diags.diagnostics())
    EXPECT_NE(d.severity, ir::Severity::Error) << ir::render_text(d, res.model.sources);
  return res;
}

std::set<std::string> endpoint_names(const ir::Model& m) {
  std::set<std::string> out;
  for (const auto& e : m.endpoints) out.insert(m.endpoint_name(e.id));
  return out;
}

const ir::Endpoint& endpoint(const ir::Model& m, const std::string& ns, const std::string& name) {
  auto id = m.find_endpoint(ns, name);
  EXPECT_TRUE(id) << "no endpoint " << ns << "/" << name;
  static const ir::Endpoint none;
  return id ? m.endpoint(*id) : none;
}

bool has_diag(const ir::DiagnosticEngine& d, ir::DiagId id, const std::string& text = "") {
  for (const auto& x : d.diagnostics())
    if (x.id == id && x.message.find(text) != std::string::npos) return true;
  return false;
}

TEST(LoaderFiles, DirectoriesAreSearchedRecursivelyForYamlYmlAndJson) {
  ScratchDir dir("recursive");
  dir.write("a.yaml", pod("a"));
  dir.write("sub/b.yml", pod("b"));
  dir.write("sub/deeper/c.json",
            R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c", "labels": {"app": "c"}}})");
  // Other extensions are ignored even when they hold valid YAML.
  dir.write("notes.txt", pod("txt"));
  dir.write("sub/backup.yaml.bak", pod("bak"));
  dir.write("README.md", "# not yaml: [");
  ir::DiagnosticEngine diags;
  auto res = load_inputs({dir.str()}, diags);
  EXPECT_FALSE(diags.has_errors());
  EXPECT_EQ(res.stats.files, 3u);
  EXPECT_EQ(endpoint_names(res.model), (std::set<std::string>{"default/a", "default/b", "default/c"}));
}

TEST(LoaderFiles, SeveralPathsAndAFileArgument) {
  ScratchDir dir("paths");
  dir.write("one/a.yaml", pod("a"));
  dir.write("two.yaml", pod("b"));
  ir::DiagnosticEngine diags;
  auto res = load_inputs({dir.str() + "/one", dir.str() + "/two.yaml"}, diags);
  EXPECT_FALSE(diags.has_errors());
  EXPECT_EQ(endpoint_names(res.model), (std::set<std::string>{"default/a", "default/b"}));
}

TEST(LoaderFiles, MissingPathIsAnIoError) {
  ir::DiagnosticEngine diags;
  auto res = load_inputs({"/nonexistent/polc/input"}, diags);
  EXPECT_TRUE(has_diag(diags, ir::DiagId::IoError, "no such file or directory"));
  EXPECT_TRUE(res.model.endpoints.empty());
}

TEST(LoaderFiles, ErrorsInEveryFileAreReportedUpToTheLimit) {
  ScratchDir dir("errors");
  dir.write("a.yaml", pod("a", "default", "spec: {hostNetwork: maybe}\n"));
  dir.write("b/b.yaml", pod("b", "default", "status: {podIP: 10.0.0.300}\n"));
  ir::DiagnosticEngine diags;
  auto res = load_inputs({dir.str()}, diags);
  EXPECT_EQ(diags.error_count(), 2u);
  EXPECT_TRUE(has_diag(diags, ir::DiagId::WrongType, "'spec.hostNetwork' must be true or false"));
  EXPECT_TRUE(has_diag(diags, ir::DiagId::InvalidCidr, "invalid IPv4 address '10.0.0.300'"));
  // Past the limit, errors are counted and one too-many-errors diagnostic says so.
  std::string many;
  for (int i = 0; i < 30; ++i)
    many += pod("p" + std::to_string(i), "default", "spec: {hostNetwork: maybe}\n") + "---\n";
  ir::DiagnosticEngine limited(10);
  auto res2 = load_text("many.yaml", many, limited);
  EXPECT_GT(limited.error_count(), 10u);
  EXPECT_EQ(limited.count(ir::Severity::Error), 11u);  // 10 stored + too-many-errors
  EXPECT_TRUE(has_diag(limited, ir::DiagId::TooManyErrors));
}

TEST(LoaderFiles, DashReadsStdin) {
  std::istringstream in(pod("from-stdin"));
  auto* old = std::cin.rdbuf(in.rdbuf());
  ir::DiagnosticEngine diags;
  auto res = load_inputs({"-"}, diags);
  std::cin.rdbuf(old);
  EXPECT_FALSE(diags.has_errors());
  EXPECT_EQ(endpoint_names(res.model), (std::set<std::string>{"default/from-stdin"}));
  EXPECT_EQ(res.model.sources.path(1), "<stdin>");
}

TEST(LoaderDocuments, MultiDocumentFilesAndEmptyDocuments) {
  auto res = load_ok("---\n" + pod("a") + "---\n---\n# only a comment\n---\n" + pod("b") + "...\n---\n" + pod("c"));
  EXPECT_EQ(res.stats.documents, 3u);
  EXPECT_EQ(endpoint_names(res.model), (std::set<std::string>{"default/a", "default/b", "default/c"}));
}

TEST(LoaderDocuments, KindListAndTypedLists) {
  auto res = load_ok(R"(apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: a, labels: {app: a}}}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: np}
  spec: {podSelector: {}}
---
apiVersion: v1
kind: PodList
items:
- {apiVersion: v1, kind: Pod, metadata: {name: b, namespace: other}}
)");
  EXPECT_EQ(endpoint_names(res.model), (std::set<std::string>{"default/a", "other/b"}));
  ASSERT_EQ(res.model.policies.size(), 1u);
  EXPECT_EQ(res.model.policies[0].name, "np");
  EXPECT_EQ(res.stats.kinds.at("Pod"), 2u);
}

TEST(LoaderDocuments, JsonInputKeepsNumbersAndStringsApart) {
  auto res = load_ok(R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
  "metadata": {"name": "json", "namespace": "web"},
  "spec": {"podSelector": {"matchLabels": {"app": "web"}},
           "ingress": [{"ports": [{"port": 8080}, {"port": "http", "protocol": "UDP"}]}]}})");
  ASSERT_EQ(res.model.rules.size(), 1u);
  const auto& g = res.model.rules[0].ports.at(0);
  ASSERT_EQ(g.ports.size(), 2u);
  EXPECT_TRUE(g.ports[0].named.empty());
  EXPECT_EQ(g.ports[0].range.lo, 8080);
  EXPECT_EQ(g.ports[0].range.hi, 8080);
  EXPECT_EQ(g.ports[1].named, "http");
  EXPECT_EQ(g.ports[1].protos.str(), "UDP");
}

TEST(LoaderDocuments, UnknownKindsAreSkippedAndCounted) {
  ir::DiagnosticEngine diags;
  LoadOptions opt;
  opt.verbose = true;
  auto res = load_text("t.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n" + pod("a"), diags, opt);
  EXPECT_FALSE(diags.has_errors());
  EXPECT_EQ(res.stats.skipped.at("ConfigMap"), 1u);
  EXPECT_EQ(res.stats.kinds.count("ConfigMap"), 0u);
  EXPECT_TRUE(has_diag(diags, ir::DiagId::SkippedKind, "skipped object of kind 'ConfigMap'"));
}

TEST(LoaderWorkloads, ReplicasBecomeNumberedEndpointsWithTemplateLabels) {
  auto res = load_ok(R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {owner: team-a}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: scaled-down, namespace: shop}
spec:
  replicas: 0
  template: {metadata: {labels: {app: idle}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: default-one, namespace: shop}
spec:
  template: {metadata: {labels: {app: one}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  replicas: 2
  serviceName: db
  template: {metadata: {labels: {app: db}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs, namespace: shop}
spec:
  replicas: 2
  template: {metadata: {labels: {app: rs}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: batch, namespace: shop}
spec:
  parallelism: 3
  template: {metadata: {labels: {app: batch}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: single, namespace: shop}
spec:
  template: {metadata: {labels: {app: single}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: shop}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template: {metadata: {labels: {app: nightly}}}
)");
  const auto& m = res.model;
  EXPECT_EQ(endpoint_names(m),
            (std::set<std::string>{"shop/web-0", "shop/web-1", "shop/web-2", "shop/default-one-0", "shop/db-0",
                                   "shop/db-1", "shop/rs-0", "shop/rs-1", "shop/batch-0", "shop/batch-1",
                                   "shop/batch-2", "shop/single-0", "shop/nightly-0"}));
  const auto& w = endpoint(m, "shop", "web-2");
  EXPECT_EQ(w.labels, (ir::Labels{{"app", "web"}, {"tier", "front"}}));  // template labels, not the Deployment's
  EXPECT_EQ(w.workload_kind, "Deployment");
  EXPECT_EQ(w.workload, "web");
  EXPECT_EQ(w.replica, 2);
  ASSERT_EQ(w.ports.size(), 1u);
  EXPECT_EQ(w.ports[0].name, "http");
  EXPECT_EQ(w.ports[0].port, 8080);
  EXPECT_TRUE(w.ip_synthetic);
  EXPECT_EQ(endpoint(m, "shop", "nightly-0").labels.at("app"), "nightly");
  EXPECT_EQ(endpoint(m, "shop", "db-1").workload_kind, "StatefulSet");
  EXPECT_EQ(endpoint(m, "shop", "batch-0").workload_kind, "Job");
  // Replicas share one identity.
  EXPECT_EQ(endpoint(m, "shop", "web-0").identity, endpoint(m, "shop", "web-1").identity);
  EXPECT_NE(endpoint(m, "shop", "web-0").identity, endpoint(m, "shop", "db-0").identity);
}

TEST(LoaderWorkloads, DaemonSetRunsOnePodPerNode) {
  auto res = load_ok(R"(apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 192.168.1.10}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 192.168.1.11}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  template:
    metadata: {labels: {app: agent}}
    spec: {hostNetwork: true}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: logger, namespace: kube-system}
spec:
  template: {metadata: {labels: {app: logger}}}
)");
  const auto& m = res.model;
  EXPECT_EQ(endpoint_names(m), (std::set<std::string>{"kube-system/agent-0", "kube-system/agent-1",
                                                      "kube-system/logger-0", "kube-system/logger-1"}));
  const auto& a0 = endpoint(m, "kube-system", "agent-0");
  const auto& a1 = endpoint(m, "kube-system", "agent-1");
  EXPECT_NE(a0.node_name, a1.node_name);
  EXPECT_TRUE(a0.host_network);
  EXPECT_EQ(a0.ip, m.node(a0.node).ip);  // a host-network pod has its node's IP
  EXPECT_FALSE(a0.identity.valid());
  EXPECT_NE(endpoint(m, "kube-system", "logger-0").node, endpoint(m, "kube-system", "logger-1").node);
}

TEST(LoaderWorkloads, DaemonSetCoversNodesKnownOnlyFromPods) {
  auto res = load_ok(pod("a", "default", "spec: {nodeName: worker-1}\n") + "---\n" +
                     pod("b", "default", "spec: {nodeName: worker-2}\n") + R"(---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds, namespace: kube-system}
spec:
  template: {metadata: {labels: {app: ds}}}
)");
  const auto& m = res.model;
  EXPECT_EQ(m.nodes.size(), 2u);
  std::set<std::string> ds_nodes;
  for (const auto& e : m.endpoints)
    if (e.workload == "ds") ds_nodes.insert(e.node_name);
  EXPECT_EQ(ds_nodes, (std::set<std::string>{"worker-1", "worker-2"}));
}

TEST(LoaderPods, StatusPodIpIsUsed) {
  auto res = load_ok(pod("a", "default", "status: {podIP: 10.1.2.3}\n"));
  const auto& e = endpoint(res.model, "default", "a");
  EXPECT_EQ(e.ip.str(), "10.1.2.3");
  EXPECT_FALSE(e.ip_synthetic);
  EXPECT_EQ(res.model.endpoint_by_ip(e.ip), e.id);
}

TEST(LoaderPods, SyntheticIpsAreStablePerName) {
  auto ip_of = [](const std::string& text, const std::string& name) {
    auto res = load_ok(text);
    const auto& e = endpoint(res.model, "default", name);
    EXPECT_TRUE(e.ip_synthetic);
    EXPECT_TRUE(res.model.config.pod_cidr.contains(e.ip)) << e.ip.str();
    return e.ip;
  };
  ir::Ipv4 alone = ip_of(pod("alpha"), "alpha");
  std::string others =
      pod("beta") + "---\n" + pod("gamma") + "---\n" + pod("delta", "default", "status: {podIP: 10.10.0.7}\n");
  EXPECT_EQ(ip_of(pod("alpha") + "---\n" + others, "alpha"), alone);
  EXPECT_EQ(ip_of(others + "---\n" + pod("alpha"), "alpha"), alone);
  // Workload replicas too: web-0 keeps its address whatever else is loaded.
  std::string deploy =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2, template: {}}\n";
  ir::Ipv4 web0 = ip_of(deploy, "web-0");
  EXPECT_EQ(ip_of(others + "---\n" + deploy, "web-0"), web0);
  // Distinct pods get distinct addresses.
  auto res = load_ok(pod("alpha") + "---\n" + others);
  std::set<uint32_t> ips;
  for (const auto& e : res.model.endpoints) ips.insert(e.ip.value);
  EXPECT_EQ(ips.size(), res.model.endpoints.size());
}

TEST(LoaderPods, HostNetworkPodsTakeTheirNodesIp) {
  auto res = load_ok(R"(apiVersion: v1
kind: Node
metadata: {name: n1, labels: {zone: a}}
status: {addresses: [{type: ExternalIP, address: 1.2.3.4}, {type: InternalIP, address: 192.168.7.7}]}
---
apiVersion: v1
kind: Pod
metadata: {name: exporter, namespace: monitoring, labels: {app: exporter}}
spec: {nodeName: n1, hostNetwork: true}
)");
  const auto& m = res.model;
  const auto& e = endpoint(m, "monitoring", "exporter");
  EXPECT_TRUE(e.host_network);
  EXPECT_EQ(e.ip.str(), "192.168.7.7");
  EXPECT_FALSE(e.identity.valid());
  EXPECT_FALSE(m.endpoint_by_ip(e.ip));  // the address belongs to the node
  EXPECT_TRUE(m.node_by_ip(e.ip));
  EXPECT_TRUE(m.identities.empty());
}

TEST(LoaderPods, Yaml11BooleansAsKubernetesReadsThem) {
  auto res = load_ok(pod("a", "default", "spec: {hostNetwork: yes}\n") + "---\n" +
                     pod("b", "default", "spec: {hostNetwork: off}\n"));
  EXPECT_TRUE(endpoint(res.model, "default", "a").host_network);
  EXPECT_FALSE(endpoint(res.model, "default", "b").host_network);
}

TEST(LoaderPods, HugeScalarsAreReportedNotFatal) {
  // A million-digit label value: checking whether it is a number must not recurse per character
  // (std::regex did, and overflowed the stack).
  ir::DiagnosticEngine diags;
  auto res = load_text(
      "huge.yaml",
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    x: " + std::string(1000000, '1') + "\n", diags);
  EXPECT_TRUE(has_diag(diags, ir::DiagId::InvalidLabel) || has_diag(diags, ir::DiagId::WrongType));
  ir::DiagnosticEngine diags2;
  auto res2 =
      load_text("huge2.yaml", pod("b", "default", "spec: {nodeName: " + std::string(1000000, '7') + "x}\n"), diags2);
  EXPECT_FALSE(diags2.has_errors());
}

TEST(LoaderServices, PortsTargetsAndTypes) {
  auto res = load_ok(R"(apiVersion: v1
kind: Pod
metadata: {name: a, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: elsewhere, labels: {app: web}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  clusterIP: 10.96.5.5
  selector: {app: web}
  ports:
  - {name: by-name, port: 80, targetPort: http, nodePort: 30080}
  - {name: by-number, port: 81, targetPort: 8081}
  - {name: same, port: 82, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: headless, namespace: shop}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: synthetic, namespace: shop}
spec:
  ports: [{port: 80}]
)");
  const auto& m = res.model;
  auto web = m.find_service("shop", "web");
  ASSERT_TRUE(web);
  const auto& s = m.service(*web);
  EXPECT_EQ(s.type, ir::ServiceType::NodePort);
  EXPECT_EQ(s.cluster_ip->str(), "10.96.5.5");
  ASSERT_EQ(s.ports.size(), 3u);
  EXPECT_EQ(std::get<std::string>(s.ports[0].target), "http");
  EXPECT_EQ(s.ports[0].node_port, 30080);
  EXPECT_EQ(std::get<uint16_t>(s.ports[1].target), 8081);
  EXPECT_EQ(std::get<uint16_t>(s.ports[2].target), 82);  // targetPort defaults to port
  EXPECT_EQ(s.ports[2].proto, 17);
  // Backends: same namespace only; a named targetPort resolves per backend pod.
  auto backends = m.service_backends(*web);
  ASSERT_EQ(backends.size(), 2u);
  EXPECT_EQ(m.target_port(s.ports[0], endpoint(m, "shop", "a")), 8080);
  EXPECT_EQ(m.target_port(s.ports[0], endpoint(m, "shop", "b")), 9090);
  EXPECT_EQ(m.target_port(s.ports[1], endpoint(m, "shop", "b")), 8081);
  auto headless = m.find_service("shop", "headless");
  ASSERT_TRUE(headless);
  EXPECT_FALSE(m.service(*headless).cluster_ip);
  auto synth = m.find_service("shop", "synthetic");
  ASSERT_TRUE(synth);
  ASSERT_TRUE(m.service(*synth).cluster_ip);
  EXPECT_TRUE(m.config.service_cidr.contains(*m.service(*synth).cluster_ip));
  EXPECT_FALSE(m.service(*synth).has_selector);
  EXPECT_TRUE(m.service_backends(*synth).empty());
}

TEST(LoaderServices, WeightsAnnotation) {
  ir::DiagnosticEngine diags;
  auto res = load_text("w.yaml", R"(apiVersion: v1
kind: Service
metadata:
  name: canary
  annotations: {polc.dev/weights: "version=v1:80,version=v2:20"}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: broken
  annotations: {polc.dev/weights: "v1-80"}
spec: {selector: {app: web}, ports: [{port: 80}]}
)",
                       diags);
  auto id = res.model.find_service("default", "canary");
  ASSERT_TRUE(id);
  const auto& w = res.model.service(*id).weights;
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].subset, (ir::Labels{{"version", "v1"}}));
  EXPECT_EQ(w[0].weight, 80u);
  EXPECT_EQ(w[1].subset, (ir::Labels{{"version", "v2"}}));
  EXPECT_EQ(w[1].weight, 20u);
  EXPECT_TRUE(has_diag(diags, ir::DiagId::InvalidValue, "invalid polc.dev/weights annotation 'v1-80'"));
}

TEST(LoaderNamespaces, SynthesizedNamespacesCarryTheirNameLabel) {
  auto res = load_ok(pod("a", "apps") + "---\n" +
                     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: "
                     "policies-only}\nspec: {podSelector: {}}\n");
  const auto& m = res.model;
  for (const char* name : {"apps", "policies-only"}) {
    auto id = m.find_namespace(name);
    ASSERT_TRUE(id) << name;
    EXPECT_FALSE(m.ns(*id).declared);
    EXPECT_EQ(m.ns(*id).labels, (ir::Labels{{"kubernetes.io/metadata.name", name}}));
  }
}

TEST(LoaderNamespaces, DeclaredNamespaceAfterItsPodsIsOneNamespace) {
  // Directory order often puts workloads before namespaces.yaml.
  auto res = load_ok(pod("a", "apps") +
                     "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: "
                     "{team: blue}}\n");
  const auto& m = res.model;
  size_t count = 0;
  for (const auto& ns : m.namespaces) count += ns.name == "apps";
  EXPECT_EQ(count, 1u);
  const auto& e = endpoint(m, "apps", "a");
  EXPECT_TRUE(m.ns(e.ns).declared);
  EXPECT_EQ(m.ns_labels(e), (ir::Labels{{"kubernetes.io/metadata.name", "apps"}, {"team", "blue"}}));
}

TEST(LoaderNamespaces, NamesAreUniquePerKindAndNamespaceOnly) {
  ir::DiagnosticEngine diags;
  auto res = load_text("dups.yaml", pod("a") + "---\n" + pod("a", "other") + R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a}
spec: {podSelector: {}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: a}
spec: {endpointSelector: {}, ingress: [{}]}
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: a}
spec: {endpointSelector: {}, ingress: [{}]}
)",
                       diags);
  EXPECT_FALSE(diags.has_errors());
  EXPECT_EQ(res.model.endpoints.size(), 2u);
  EXPECT_EQ(res.model.policies.size(), 3u);
}

TEST(LoaderNodes, NodesFromPodsAndDefaultNode) {
  auto none = load_ok(pod("a"));
  ASSERT_EQ(none.model.nodes.size(), 1u);
  EXPECT_TRUE(none.model.nodes[0].synthetic);
  EXPECT_EQ(none.model.endpoints[0].node, none.model.nodes[0].id);
  auto named =
      load_ok(pod("a", "default", "spec: {nodeName: w1}\n") + "---\n" + pod("b", "default", "spec: {nodeName: w2}\n"));
  ASSERT_EQ(named.model.nodes.size(), 2u);
  EXPECT_EQ(endpoint(named.model, "default", "a").node_name, "w1");
  EXPECT_EQ(endpoint(named.model, "default", "b").node_name, "w2");
  EXPECT_NE(named.model.nodes[0].ip, named.model.nodes[1].ip);
}

}  // namespace
}  // namespace polc::frontend
