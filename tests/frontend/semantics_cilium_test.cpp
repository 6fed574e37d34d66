// CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy semantics, rule by rule (docs/semantics.md
// part A, DESIGN.md), checked through the reference evaluator. The shared inventory is described
// in semantics_harness.cpp.
#include <gtest/gtest.h>

#include "semantics_harness.h"

namespace polc::testing {
namespace {

const std::vector<SemanticCase>& cilium_cases() {
  static const std::vector<SemanticCase> cases = {
      {"endpoint_selector_is_scoped_to_its_namespace",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-in, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: client}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web}}]
)",
       {
           {"web/web -> web/client TCP/80", kAllow, "ingress=allowed-by-rule rule=client-in/spec.ingress[0]"},
           {"web/api -> web/client TCP/80", kDeny, "ingress=no-rule-matched"},
           // fromEndpoints without a namespace key selects the policy's namespace only.
           {"dev/web -> web/client TCP/80", kDeny, "ingress=no-rule-matched"},
           // dev/client and db/client carry app=client but live elsewhere: not selected.
           {"dev/web -> dev/client TCP/80", kAllow, "ingress=not-isolated"},
           {"db/db -> db/client TCP/80", kAllow, "ingress=not-isolated"},
       }},

      {"label_source_prefixes",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: prefixed, namespace: web}
spec:
  endpointSelector: {matchLabels: {"k8s:app": client}}
  ingress:
  - fromEndpoints: [{matchLabels: {"k8s:app": web}}, {matchLabels: {"any:app": api}}]
)",
       {
           {"web/web -> web/client TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/api -> web/client TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/plain -> web/client TCP/80", kDeny, "ingress=no-rule-matched"},
           {"dev/web -> dev/client TCP/80", kAllow, "ingress=not-isolated"},
       }},

      {"from_endpoints_naming_the_namespace_label",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: cross-ns, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: client}}
  ingress:
  - fromEndpoints:
    - matchLabels: {"k8s:io.kubernetes.pod.namespace": dev, app: web}
    - matchLabels: {app: db}
      matchExpressions: [{key: io.kubernetes.pod.namespace, operator: Exists}]
)",
       {
           {"dev/web -> web/client TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/web -> web/client TCP/80", kDeny, "ingress=no-rule-matched"},
           {"db/db -> web/client TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"dev/client -> web/client TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"cnp_from_endpoints_empty_selector_is_own_namespace",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: same-ns, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{}]}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/plain -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"db/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"dev/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"203.0.113.10 -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"node:node-2 -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"ccnp_from_endpoints_empty_selector_is_every_pod",
       R"(apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: db-from-pods}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress: [{fromEndpoints: [{}]}]
)",
       {
           {"web/client -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"dev/client -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"tools/probe -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"203.0.113.10 -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           {"node:node-1 -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           {"kube-system/agent -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
       }},

      {"namespace_labels_in_peer_selectors",
       R"(apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: db-from-team-web}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {io.cilium.k8s.namespace.labels.team: web}}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: pinned, namespace: db}
spec:
  endpointSelector: {matchLabels: {app: client}}
  ingress:
  - fromEndpoints: [{matchLabels: {"k8s:io.cilium.k8s.namespace.labels.env": prod}}]
)",
       {
           {"web/client -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"dev/client -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           {"db/client -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           // In a CNP a namespace-label-only peer is still pinned to the policy's namespace.
           {"db/db -> db/client TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> db/client TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"entity_world",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: from-world, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEntities: [world]}]
)",
       {
           {"203.0.113.10 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"198.51.100.7 -> web/web TCP/443", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"dev/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"node:node-2 -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"entity_cluster",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: from-cluster, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress: [{fromEntities: [cluster]}]
)",
       {
           {"web/client -> web/api TCP/8080", kAllow, "ingress=allowed-by-rule"},
           {"dev/client -> web/api TCP/8080", kAllow, "ingress=allowed-by-rule"},
           {"node:node-1 -> web/api TCP/8080", kAllow, "ingress=allowed-by-rule"},
           {"kube-system/agent -> web/api TCP/8080", kAllow, "ingress=allowed-by-rule"},
           {"203.0.113.10 -> web/api TCP/8080", kDeny, "ingress=no-rule-matched"},
       }},

      {"entity_host_and_remote_node",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db-to-host, namespace: db}
spec:
  endpointSelector: {matchLabels: {app: db}}
  egress: [{toEntities: [host]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-to-remote, namespace: db}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress: [{toEntities: [remote-node]}]
)",
       {
           // db/db runs on node-2: host is node-2, remote-node is node-1.
           {"db/db -> node:node-2 TCP/10250", kAllow, "egress=allowed-by-rule"},
           {"db/db -> node:node-1 TCP/10250", kDeny, "egress=no-rule-matched"},
           {"db/db -> web/web TCP/80", kDeny, "egress=no-rule-matched"},
           {"db/db -> 203.0.113.10 TCP/80", kDeny, "egress=no-rule-matched"},
           // db/client runs on node-1.
           {"db/client -> node:node-2 TCP/10250", kAllow, "egress=allowed-by-rule"},
           {"db/client -> node:node-1 TCP/10250", kDeny, "egress=no-rule-matched"},
           {"db/client -> kube-system/agent TCP/10250", kDeny, "egress=no-rule-matched"},
           {"db/client -> db/db TCP/5432", kDeny, "egress=no-rule-matched"},
       }},

      {"host_entity_covers_host_network_pods_and_reserved_selectors",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-to-host, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress: [{toEntities: [host]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api-to-host, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: api}}
  egress: [{toEndpoints: [{matchLabels: {"reserved:host": ""}}]}]
)",
       {
           // web/client and the host-network agent both run on node-1.
           {"web/client -> kube-system/agent TCP/9100", kAllow, "egress=allowed-by-rule"},
           {"web/client -> node:node-1 TCP/10250", kAllow, "egress=allowed-by-rule"},
           {"web/client -> node:node-2 TCP/10250", kDeny, "egress=no-rule-matched"},
           // A reserved: selector in toEndpoints is the entity, not a pod selector (api is on node-2).
           {"web/api -> node:node-2 TCP/10250", kAllow, "egress=allowed-by-rule"},
           {"web/api -> kube-system/agent TCP/9100", kDeny, "egress=no-rule-matched"},
           {"web/api -> web/web TCP/80", kDeny, "egress=no-rule-matched"},
       }},

      {"cidr_0_0_0_0_is_world_only",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: anywhere, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress: [{toCIDR: [0.0.0.0/0]}]
)",
       {
           {"web/client -> 203.0.113.10 TCP/443", kAllow, "egress=allowed-by-rule"},
           {"web/client -> 10.10.9.9 TCP/443", kAllow, "egress=allowed-by-rule"},
           {"web/client -> web/web TCP/80", kDeny, "egress=no-rule-matched"},
           {"web/client -> node:node-2 TCP/10250", kDeny, "egress=no-rule-matched"},
           {"web/client -> kube-system/agent TCP/9100", kDeny, "egress=no-rule-matched"},
       }},

      {"self_traffic_is_never_denied",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-everything, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingressDeny: [{fromEntities: [all]}]
  egressDeny: [{toEntities: [all]}]
)",
       {
           {"web/web -> web/web TCP/80", kAllow, "egress=self ingress=self"},
           {"web/web -> 10.10.1.2 UDP/53", kAllow, "egress=self ingress=self"},
           {"web/web -> web/client TCP/80", kDeny, "egress=denied-by-rule"},
           {"web/client -> web/web TCP/80", kDeny, "ingress=denied-by-rule"},
       }},

      {"entity_all_with_ports",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: all-443, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEntities: [all]
    toPorts: [{ports: [{port: "443", protocol: TCP}]}]
)",
       {
           {"web/client -> 203.0.113.10 TCP/443", kAllow, "egress=allowed-by-rule"},
           {"web/client -> web/web TCP/443", kAllow, "egress=allowed-by-rule"},
           {"web/client -> node:node-2 TCP/443", kAllow, "egress=allowed-by-rule"},
           {"web/client -> 203.0.113.10 TCP/80", kDeny, "egress=no-rule-matched"},
           {"web/client -> web/web UDP/443", kDeny, "egress=no-rule-matched"},
       }},

      {"cidr_rules_never_match_pods_or_nodes",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-out, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toCIDR: [10.10.0.0/16, 192.168.65.0/24]
  - toCIDRSet: [{cidr: 203.0.113.0/24, except: [203.0.113.128/25]}]
)",
       {
           {"web/client -> web/web TCP/80", kDeny, "egress=no-rule-matched"},
           {"web/client -> db/db TCP/5432", kDeny, "egress=no-rule-matched"},
           {"web/client -> node:node-2 TCP/10250", kDeny, "egress=no-rule-matched"},
           // An address in the range that is no pod and no node is world.
           {"web/client -> 10.10.9.9 TCP/80", kAllow, "egress=allowed-by-rule rule=spec.egress[0]"},
           {"web/client -> 203.0.113.10 TCP/80", kAllow, "egress=allowed-by-rule rule=spec.egress[1]"},
           {"web/client -> 203.0.113.200 TCP/80", kDeny, "egress=no-rule-matched"},
           {"web/client -> 198.51.100.7 TCP/80", kDeny, "egress=no-rule-matched"},
       }},

      {"from_cidr_and_cidr_set_on_ingress",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-from-nets, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromCIDR: [198.51.100.7]
  - fromCIDRSet: [{cidr: 10.0.0.0/8, except: [10.10.0.0/16]}]
)",
       {
           {"198.51.100.7 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule rule=spec.ingress[0]"},
           {"198.51.100.8 -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"10.20.0.1 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule rule=spec.ingress[1]"},
           {"10.10.200.1 -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"to_ports_without_l3_any_and_missing_protocol",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ports-any, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - toPorts: [{ports: [{port: "80", protocol: ANY}, {port: "53"}]}]
)",
       {
           // No L3 field: every peer, on those ports; ANY or no protocol = TCP, UDP and SCTP.
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web UDP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web SCTP/80", kAllow, "ingress=allowed-by-rule"},
           {"203.0.113.10 -> web/web UDP/53", kAllow, "ingress=allowed-by-rule"},
           {"203.0.113.10 -> web/web TCP/53", kAllow, "ingress=allowed-by-rule"},
           {"node:node-2 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/81", kDeny, "ingress=no-rule-matched"},
           // ... but not ICMP.
           {"web/client -> web/web ICMP/8", kDeny, "ingress=no-rule-matched"},
       }},

      {"port_zero_and_end_port",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ranges, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts:
    - ports: [{port: "0", protocol: UDP}]
    - ports: [{port: "8000", endPort: 8100, protocol: TCP}]
)",
       {
           {"web/client -> web/web UDP/1", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web UDP/65535", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/8000", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/8100", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/8101", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web ICMP/0", kDeny, "ingress=no-rule-matched"},
       }},

      {"named_ports",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-http, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - toPorts: [{ports: [{port: http}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-http-out, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints: [{matchExpressions: [{key: io.kubernetes.pod.namespace, operator: Exists}]}]
    toPorts: [{ports: [{port: HTTP, protocol: TCP}]}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "egress=allowed-by-rule ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/9090", kDeny, "egress=no-rule-matched ingress=no-rule-matched"},
           // Egress resolves the name on each destination pod (names compare lower-cased).
           {"web/client -> web/api TCP/8080", kAllow, "egress=allowed-by-rule"},
           {"web/client -> web/api TCP/80", kDeny, "egress=no-rule-matched"},
           {"web/client -> dev/web TCP/8081", kAllow, "egress=allowed-by-rule"},
           {"203.0.113.10 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
       }},

      {"empty_ingress_rule_isolates_and_allows_nothing",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: lock, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{}]
  egress: [{}]
)",
       {
           {"web/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/web -> web/client TCP/80", kDeny, "egress=no-rule-matched"},
           {"web/client -> web/api TCP/8080", kAllow, "ingress=not-isolated"},
           {"node:node-1 -> web/web TCP/80", kAllow, "ingress=from-own-node"},
           // Egress to the pod's own node is not implicit under Cilium.
           {"web/web -> node:node-1 TCP/10250", kDeny, "egress=no-rule-matched"},
       }},

      {"explicitly_empty_peer_list_selects_nothing",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: empty-peers, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: []
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
  - fromEndpoints: [{matchLabels: {app: api}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
)",
       {
           {"web/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"203.0.113.10 -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/api -> web/web TCP/80", kAllow, "ingress=allowed-by-rule rule=spec.ingress[1]"},
           {"web/api -> web/web TCP/81", kDeny, "ingress=no-rule-matched"},
       },
       {"'fromEndpoints: []' selects nothing"}},

      {"ingress_deny_beats_allow",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-client-80, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEntities: [all]}]
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
)",
       {
           {"web/client -> web/web TCP/80", kDeny, "ingress=denied-by-rule rule=spec.ingressDeny[0]"},
           {"web/client -> web/web TCP/9090", kAllow, "ingress=allowed-by-rule rule=spec.ingress[0]"},
           {"web/client -> web/web UDP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/api -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
       }},

      {"egress_deny_beats_allow",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: no-test-net, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress: [{toEntities: [all]}]
  egressDeny:
  - toCIDRSet: [{cidr: 203.0.113.0/24}]
  - toEndpoints: [{matchLabels: {app: db}, matchExpressions: [{key: io.kubernetes.pod.namespace, operator: Exists}]}]
)",
       {
           {"web/client -> 203.0.113.10 TCP/443", kDeny, "egress=denied-by-rule rule=spec.egressDeny[0]"},
           {"web/client -> 198.51.100.7 TCP/443", kAllow, "egress=allowed-by-rule"},
           {"web/client -> db/db TCP/5432", kDeny, "egress=denied-by-rule rule=spec.egressDeny[1]"},
           {"web/client -> web/web TCP/80", kAllow, "egress=allowed-by-rule"},
       }},

      {"ipv6_cidrs_do_not_drop_ipv4_parts_of_a_rule",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: dual-stack, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEntities: [all]}]
  ingressDeny:
  - fromCIDR: [203.0.113.0/24, "2001:db8::/32"]
  - fromCIDRSet: [{cidr: "2001:db8:1::/48"}, {cidr: 198.51.100.0/24, except: [198.51.100.0/25]}]
)",
       {
           {"203.0.113.10 -> web/web TCP/80", kDeny, "ingress=denied-by-rule rule=spec.ingressDeny[0]"},
           {"198.51.100.200 -> web/web TCP/80", kDeny, "ingress=denied-by-rule rule=spec.ingressDeny[1]"},
           {"198.51.100.7 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
       },
       {"IPv6 CIDR '2001:db8::/32' is not modelled"}},

      {"deny_beats_l7_allow",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7-and-deny, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {role: frontend}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET, path: /public}]}
  - fromEndpoints: [{matchLabels: {app: api}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET, path: /public}]}
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
)",
       {
           {"web/client -> web/web TCP/80 GET /public", kDeny, "ingress=denied-by-rule"},
           {"web/client -> web/web TCP/80", kDeny, "ingress=denied-by-rule"},
           {"web/api -> web/web TCP/80 GET /public", kAllow, "ingress=allowed-by-rule"},
           {"web/api -> web/web TCP/80 GET /private", kDeny, "ingress=l7-denied"},
       }},

      {"deny_only_policy_isolates_unless_default_deny_is_off",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-client, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingressDeny: [{fromEndpoints: [{matchLabels: {app: client}}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: subtract-only, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: api}}
  enableDefaultDeny: {ingress: false}
  ingressDeny: [{fromEndpoints: [{matchLabels: {app: client}}]}]
)",
       {
           {"web/client -> web/web TCP/80", kDeny, "ingress=denied-by-rule"},
           {"web/plain -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/api TCP/8080", kDeny, "ingress=denied-by-rule"},
           {"web/plain -> web/api TCP/8080", kAllow, "ingress=not-isolated"},
           {"web/web -> web/plain TCP/80", kAllow, "egress=not-isolated ingress=not-isolated"},
       }},

      {"enable_default_deny_false",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: no-default-deny, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: api}}
  enableDefaultDeny: {ingress: false, egress: false}
  ingress: [{fromEndpoints: [{matchLabels: {app: client}}]}]
  egress: [{toEndpoints: [{matchLabels: {app: db}}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7-no-default-deny, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  enableDefaultDeny: {ingress: false}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET}]}
)",
       {
           {"web/web -> web/api TCP/8080", kAllow, "ingress=not-isolated"},
           {"web/client -> web/api TCP/8080", kAllow, "ingress=not-isolated"},
           {"web/api -> 203.0.113.10 TCP/443", kAllow, "egress=not-isolated"},
           // enableDefaultDeny does not switch off L7 filtering (Cilium policy intro.rst).
           {"web/client -> web/web TCP/80 GET /", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/80 POST /", kDeny, "ingress=l7-denied"},
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule l7"},
           {"web/api -> web/web TCP/80 POST /", kAllow, "ingress=not-isolated"},
           {"web/client -> web/web TCP/9090", kAllow, "ingress=not-isolated"},
       }},

      {"l7_http_fields",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: http, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - {method: GET, path: "/api/v[0-9]+/.*"}
        - {method: POST, path: /submit, headers: ["X-Token: secret"]}
        - {method: "PUT|PATCH", host: "shop\\.example\\.com(:80)?"}
        - {method: DELETE, headers: [X-Admin]}
        - {method: OPTIONS, headers: ["X-Mode fast"]}
        - {method: HEAD, headerMatches: [{name: X-Env, value: prod}]}
)",
       {
           {"web/client -> web/web TCP/80 GET /api/v1/users", kAllow, "ingress=allowed-by-rule !l7"},
           // Regexes match the whole value.
           {"web/client -> web/web TCP/80 GET /api/v1", kDeny, "ingress=l7-denied"},
           {"web/client -> web/web TCP/80 GET /api/vx/users", kDeny, "ingress=l7-denied"},
           {"web/client -> web/web TCP/80 GETS /api/v1/users", kDeny, "ingress=l7-denied"},
           {"web/client -> web/web TCP/80 get /api/v1/users", kDeny, "ingress=l7-denied"},
           // Fields of one entry are AND.
           {"web/client -> web/web TCP/80 POST /api/v1/x", kDeny, "ingress=l7-denied"},
           {"web/client -> web/web TCP/80 POST /submit hdr:X-Token=secret", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/80 POST /submit hdr:x-token=secret", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/80 POST /submit", kDeny, "ingress=l7-denied"},
           {"web/client -> web/web TCP/80 POST /submit hdr:X-Token=wrong", kDeny, "ingress=l7-denied"},
           // The path is matched with its query string.
           {"web/client -> web/web TCP/80 POST /submit?x=1 hdr:X-Token=secret", kDeny, "ingress=l7-denied"},
           {"web/client -> web/web TCP/80 PUT /anything host=shop.example.com", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/80 PATCH /x host=shop.example.com:80", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/80 PUT /x host=evil.example.com", kDeny, "ingress=l7-denied"},
           {"web/client -> web/web TCP/80 DELETE /x hdr:X-Admin=anything", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/80 DELETE /x", kDeny, "ingress=l7-denied"},
           // "Name value" (no colon) is an exact value match too.
           {"web/client -> web/web TCP/80 OPTIONS / hdr:X-Mode=fast", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/80 OPTIONS / hdr:X-Mode=slow", kDeny, "ingress=l7-denied"},
           {"web/client -> web/web TCP/80 HEAD / hdr:X-Env=prod", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/80 HEAD / hdr:X-Env=dev", kDeny, "ingress=l7-denied"},
           // An L4 probe to an L7 port opens the connection; requests are then filtered.
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule l7"},
           {"web/api -> web/web TCP/80 GET /api/v1/users", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web TCP/81", kDeny, "ingress=no-rule-matched"},
       }},

      {"l4_allow_on_same_port_makes_l7_moot",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: moot, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET, path: /only}]}
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
  - fromEndpoints: [{matchLabels: {app: api}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET, path: /only}]}
  - fromEndpoints: [{matchLabels: {app: api}}]
    toPorts: [{ports: [{port: "9090", protocol: TCP}]}]
)",
       {
           {"web/client -> web/web TCP/80 POST /other", kAllow, "ingress=allowed-by-rule !l7 rule=spec.ingress[1]"},
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule !l7"},
           // An L4 allow on another port does not make the L7 rule moot.
           {"web/api -> web/web TCP/80 POST /other", kDeny, "ingress=l7-denied rule=spec.ingress[2]"},
           {"web/api -> web/web TCP/80 GET /only", kAllow, "ingress=allowed-by-rule rule=spec.ingress[2]"},
           {"web/api -> web/web TCP/80", kAllow, "ingress=allowed-by-rule l7"},
           {"web/api -> web/web TCP/9090", kAllow, "ingress=allowed-by-rule !l7"},
           {"web/plain -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"clusterwide_policy",
       R"(apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: clients}
spec:
  endpointSelector: {matchLabels: {app: client}}
  ingress: [{fromEndpoints: [{matchLabels: {app: web}}]}]
)",
       {
           {"dev/web -> web/client TCP/80", kAllow, "ingress=allowed-by-rule rule=clients/spec.ingress[0]"},
           {"web/web -> db/client TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/web -> dev/client TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/api -> dev/client TCP/80", kDeny, "ingress=no-rule-matched"},
           {"203.0.113.10 -> db/client TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/api TCP/8080", kAllow, "ingress=not-isolated"},
       }},

      {"clusterwide_endpoint_selector_by_namespace",
       R"(apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: dev-from-world}
spec:
  endpointSelector: {matchLabels: {"k8s:io.kubernetes.pod.namespace": dev}}
  ingress: [{fromEntities: [world]}]
)",
       {
           {"203.0.113.10 -> dev/web TCP/8081", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> dev/web TCP/8081", kDeny, "ingress=no-rule-matched"},
           {"dev/web -> dev/client TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web TCP/80", kAllow, "ingress=not-isolated"},
       }},

      {"specs_list_and_spec_combine",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: multi, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: client}}
  ingress: [{}]
specs:
- endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{matchLabels: {app: client}}]}]
- endpointSelector: {matchLabels: {app: api}}
  ingress: [{fromEndpoints: [{matchLabels: {app: web}}]}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule rule=multi/specs[0].ingress[0]"},
           {"web/api -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/web -> web/api TCP/8080", kAllow, "ingress=allowed-by-rule rule=specs[1].ingress[0]"},
           {"web/client -> web/api TCP/8080", kDeny, "ingress=no-rule-matched"},
           {"web/web -> web/client TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"fqdns_and_services_are_warned_and_match_nothing",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: unresolvable, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toFQDNs: [{matchName: api.example.com}]
    toPorts: [{ports: [{port: "443", protocol: TCP}]}]
  - toServices: [{k8sService: {serviceName: web, namespace: web}}]
  - toEndpoints: [{matchLabels: {app: api}}]
)",
       {
           {"web/client -> 203.0.113.10 TCP/443", kDeny, "egress=no-rule-matched"},
           {"web/client -> web/web TCP/80", kDeny, "egress=no-rule-matched"},
           {"web/client -> svc:web/web TCP/80", kDeny, "egress=no-rule-matched"},
           {"web/client -> web/api TCP/8080", kAllow, "egress=allowed-by-rule rule=spec.egress[2]"},
       },
       {"'toFQDNs' depends on DNS answers at run time", "'toServices' is not resolved statically"}},

      {"icmp_only_through_l3_only_rules_and_icmps",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: icmp, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
  - fromEndpoints: [{matchLabels: {app: api}}]
    toPorts: [{ports: [{port: "0"}]}]
  - fromEntities: [world]
    icmps: [{fields: [{type: 8}]}]
)",
       {
           {"web/client -> web/web ICMP/8", kAllow, "ingress=allowed-by-rule rule=spec.ingress[0]"},
           {"web/api -> web/web ICMP/8", kDeny, "ingress=no-rule-matched"},
           {"web/api -> web/web TCP/5", kAllow, "ingress=allowed-by-rule rule=spec.ingress[1]"},
           {"203.0.113.10 -> web/web ICMP/8", kAllow, "ingress=allowed-by-rule rule=spec.ingress[2]"},
           {"203.0.113.10 -> web/web ICMP/0", kDeny, "ingress=no-rule-matched"},
           {"203.0.113.10 -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"entity_kube_apiserver",
       R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: to-apiserver, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress: [{toEntities: [kube-apiserver]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: to-cluster, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: api}}
  egress: [{toEntities: [cluster]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: to-world, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress: [{toEntities: [world]}]
)",
       {
           {"web/client -> 203.0.113.99 TCP/443", kAllow, "egress=allowed-by-rule"},
           {"web/client -> 203.0.113.10 TCP/443", kDeny, "egress=no-rule-matched"},
           // cluster includes kube-apiserver; world does not.
           {"web/api -> 203.0.113.99 TCP/443", kAllow, "egress=allowed-by-rule"},
           {"web/api -> 203.0.113.10 TCP/443", kDeny, "egress=no-rule-matched"},
           {"web/web -> 203.0.113.99 TCP/443", kDeny, "egress=no-rule-matched"},
           {"web/web -> 203.0.113.10 TCP/443", kAllow, "egress=allowed-by-rule"},
       },
       {},
       [](ir::Model& m) { m.config.apiserver_ips = {*ir::Ipv4::parse("203.0.113.99")}; }},
  };
  return cases;
}

class CiliumSemantics : public ::testing::TestWithParam<SemanticCase> {};

TEST_P(CiliumSemantics, ProbesMatch) {
  run_semantic_case(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cilium, CiliumSemantics, ::testing::ValuesIn(cilium_cases()), CaseName{});

}  // namespace
}  // namespace polc::testing
