// Shared helpers of the backend tests: loading samples and inline YAML.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "polc/frontend/loader.h"

namespace polc::backend_bpf::testing {

inline std::vector<std::filesystem::path> sample_dirs() {
  std::vector<std::filesystem::path> out;
  for (const auto& d : std::filesystem::directory_iterator(std::filesystem::path(POLC_SOURCE_DIR) / "samples"))
    if (d.is_directory()) out.push_back(d.path());
  std::sort(out.begin(), out.end());
  return out;
}

inline ir::Model load_dir(const std::filesystem::path& dir) {
  ir::DiagnosticEngine diags;
  auto res = frontend::load_inputs({dir.string()}, diags);
  EXPECT_FALSE(diags.has_errors()) << dir;
  return std::move(res.model);
}

inline ir::Model load_yaml(const std::string& name, const std::string& yaml) {
  ir::DiagnosticEngine diags;
  auto res = frontend::load_text(name, yaml, diags);
  EXPECT_FALSE(diags.has_errors()) << name;
  return std::move(res.model);
}

/// A model exercising CIDRs with exceptions, entities, named ports, several nodes, deny rules
/// and a host-network pod.
inline const char* kFeaturesYaml = R"(
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {team: x}}
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
      ports: [{port: http}, {port: 1000, endPort: 2000, protocol: UDP}]
  egress:
    - to: [{namespaceSelector: {}}]
      ports: [{port: sql}]
    - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 172.16.0.0/12]}}]
  policyTypes: [Ingress, Egress]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: b}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
    - fromEntities: [host, remote-node]
    - fromEndpoints: [{matchLabels: {io.kubernetes.pod.namespace: a}}]
      toPorts: [{ports: [{port: "5432", protocol: TCP}, {port: "5000", endPort: 5999, protocol: TCP}]}]
  ingressDeny:
    - fromCIDR: [203.0.113.0/24]
    - fromEndpoints: [{matchLabels: {io.kubernetes.pod.namespace: a, app: web}}]
      toPorts: [{ports: [{port: "5500", protocol: TCP}]}]
  egress:
    - toEntities: [world]
      icmps: [{fields: [{type: 8}, {type: 13}]}]
)";

}  // namespace polc::backend_bpf::testing
