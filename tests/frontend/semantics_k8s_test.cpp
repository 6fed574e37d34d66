// Kubernetes NetworkPolicy semantics, rule by rule (docs/semantics.md part B, DESIGN.md), checked
// through the reference evaluator. The shared inventory is described in semantics_harness.cpp.
#include <gtest/gtest.h>

#include "semantics_harness.h"

namespace polc::testing {
namespace {

const std::vector<SemanticCase>& k8s_cases() {
  static const std::vector<SemanticCase> cases = {
      {"pod_selector_match_labels",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 80}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow,
            "ingress=allowed-by-rule egress=not-isolated rule=allow-client/spec.ingress[0]"},
           {"web/api -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web TCP/9090", kDeny, "ingress=no-rule-matched"},
           // A podSelector alone selects pods in the policy's namespace only.
           {"dev/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/api TCP/8080", kAllow, "ingress=not-isolated"},
           // The subject selector is scoped to the policy's namespace too.
           {"dev/client -> dev/web TCP/8081", kAllow, "ingress=not-isolated"},
       }},

      {"match_expressions_in",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: tiers, namespace: web}
spec:
  podSelector: {matchExpressions: [{key: tier, operator: In, values: [front, back]}]}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchExpressions: [{key: app, operator: In, values: [client, nothing]}]}}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/api TCP/8080", kAllow, "ingress=allowed-by-rule"},
           {"web/plain -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/api -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/web -> web/plain TCP/80", kAllow, "ingress=not-isolated"},
           {"web/web -> web/client TCP/80", kAllow, "ingress=not-isolated"},
       }},

      {"match_expressions_not_in_matches_absent_key",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: not-front, namespace: web}
spec:
  podSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [front]}]}
  ingress:
  - from: [{podSelector: {matchExpressions: [{key: role, operator: NotIn, values: [frontend]}]}}]
)",
       {
           // client and plain have no tier label: NotIn selects them.
           {"web/web -> web/client TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/plain -> web/api TCP/8080", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/api TCP/8080", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/plain TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web TCP/80", kAllow, "ingress=not-isolated"},
       }},

      {"match_expressions_exists",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: tiered, namespace: web}
spec:
  podSelector: {matchExpressions: [{key: tier, operator: Exists}]}
  ingress:
  - from: [{podSelector: {matchExpressions: [{key: role, operator: Exists}]}}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/api TCP/8080", kAllow, "ingress=allowed-by-rule"},
           {"web/plain -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/api -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/web -> web/plain TCP/80", kAllow, "ingress=not-isolated"},
       }},

      {"match_expressions_does_not_exist",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: untiered, namespace: web}
spec:
  podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}
  ingress:
  - from: [{podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}}]
)",
       {
           {"web/plain -> web/client TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/plain TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/web -> web/client TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/api -> web/plain TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web TCP/80", kAllow, "ingress=not-isolated"},
       }},

      {"empty_pod_selector_selects_own_namespace_only",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: web}
spec: {podSelector: {}, policyTypes: [Ingress]}
)",
       {
           {"web/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"dev/client -> web/plain TCP/80", kDeny, "ingress=no-rule-matched"},
           {"203.0.113.10 -> web/api TCP/8080", kDeny, "ingress=no-rule-matched"},
           {"dev/client -> dev/web TCP/8081", kAllow, "ingress=not-isolated"},
           {"web/client -> db/db TCP/5432", kAllow, "egress=not-isolated ingress=not-isolated"},
       }},

      {"policy_types_inferred_ingress_only",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-in, namespace: web}
spec:
  podSelector: {matchLabels: {app: client}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
)",
       {
           {"web/client -> web/api TCP/8080", kAllow, "egress=not-isolated"},
           {"web/client -> 203.0.113.10 TCP/443", kAllow, "egress=not-isolated ingress=unmanaged"},
           {"web/web -> web/client TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/api -> web/client TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"policy_types_inferred_egress_when_egress_rules",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-out, namespace: web}
spec:
  podSelector: {matchLabels: {app: client}}
  egress:
  - to: [{podSelector: {matchLabels: {app: web}}}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "egress=allowed-by-rule rule=client-out/spec.egress[0]"},
           {"web/client -> web/api TCP/8080", kDeny, "egress=no-rule-matched"},
           {"web/client -> 203.0.113.10 TCP/443", kDeny, "egress=no-rule-matched"},
           // Ingress is always among the inferred types, and there are no ingress rules.
           {"web/web -> web/client TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"empty_egress_list_does_not_imply_egress",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-empty-egress, namespace: web}
spec:
  podSelector: {matchLabels: {app: client}}
  egress: []
)",
       {
           {"web/client -> web/api TCP/8080", kAllow, "egress=not-isolated"},
           {"web/client -> 203.0.113.10 TCP/443", kAllow, "egress=not-isolated"},
           {"web/web -> web/client TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"policy_types_egress_only_ignores_ingress_rules",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-only, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
  egress:
  - to: [{podSelector: {matchLabels: {app: api}}}]
)",
       {
           {"web/api -> web/web TCP/80", kAllow, "ingress=not-isolated"},
           {"web/client -> web/web TCP/80", kAllow, "ingress=not-isolated"},
           {"web/web -> web/api TCP/8080", kAllow, "egress=allowed-by-rule rule=spec.egress[0]"},
           {"web/web -> web/client TCP/80", kDeny, "egress=no-rule-matched"},
           {"web/web -> db/db TCP/5432", kDeny, "egress=no-rule-matched"},
       },
       {"ingress rules are ignored: policyTypes does not list Ingress"}},

      {"policy_types_both_without_rules_deny_all",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lock-web, namespace: web}
spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress, Egress]}
)",
       {
           {"web/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched egress=not-isolated"},
           {"web/web -> web/client TCP/80", kDeny, "egress=no-rule-matched ingress=not-isolated"},
           {"web/web -> 203.0.113.10 TCP/443", kDeny, "egress=no-rule-matched"},
           {"web/client -> web/api TCP/8080", kAllow, "egress=not-isolated ingress=not-isolated"},
       }},

      {"policy_types_empty_list_is_defaulted",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: empty-types, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: []
  egress:
  - to: [{podSelector: {matchLabels: {app: api}}}]
)",
       {
           // policyTypes: [] defaults like a missing list: Ingress, plus Egress (egress rules exist).
           {"web/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/web -> web/api TCP/8080", kAllow, "egress=allowed-by-rule"},
           {"web/web -> web/client TCP/80", kDeny, "egress=no-rule-matched"},
           {"web/client -> web/api TCP/8080", kAllow, "ingress=not-isolated"},
       }},

      {"peer_namespace_selector_alone",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-team-web, namespace: db}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: web}}}]
)",
       {
           {"web/client -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"web/api -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"dev/client -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           {"db/client -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           {"203.0.113.10 -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
       }},

      {"peer_namespace_and_pod_selector_is_and",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-clients, namespace: db}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: web}}, podSelector: {matchLabels: {app: client}}}]
)",
       {
           {"web/client -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"web/api -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           {"dev/client -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           {"db/client -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
       }},

      {"peer_two_peers_is_or",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: either, namespace: db}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: web}}
    - podSelector: {matchLabels: {app: client}}
)",
       {
           {"web/api -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"db/client -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"dev/client -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           {"tools/probe -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
       }},

      {"peer_empty_namespace_selector_is_all_namespaces",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: clients-anywhere, namespace: db}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: client}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: any-pod, namespace: web}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{namespaceSelector: {}}]
)",
       {
           {"web/client -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"dev/client -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"db/client -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"web/api -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           {"203.0.113.10 -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           {"tools/probe -> web/api TCP/8080", kAllow, "ingress=allowed-by-rule"},
           // Pods only: no external address, no (remote) node, no host-network pod.
           {"203.0.113.10 -> web/api TCP/8080", kDeny, "ingress=no-rule-matched"},
           {"node:node-1 -> web/api TCP/8080", kDeny, "ingress=no-rule-matched"},
           {"kube-system/agent -> web/api TCP/8080", kDeny, "ingress=no-rule-matched"},
       }},

      {"namespace_name_label",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-dev-and-tools, namespace: db}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: dev}}
    - namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [tools]}]}
)",
       {
           {"dev/client -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           // tools has no Namespace object: the synthesized namespace carries the label too.
           {"tools/probe -> db/db TCP/5432", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           {"db/client -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
       }},

      {"ip_block_cidr_with_except",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-net, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}}]
)",
       {
           {"203.0.113.10 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule rule=spec.ingress[0]"},
           {"203.0.113.127 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"203.0.113.128 -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"203.0.113.200 -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"198.51.100.7 -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"ip_block_host_bits_are_masked_and_ipv6_peers_skipped",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: sloppy, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - ipBlock: {cidr: 203.0.113.77/24, except: [203.0.113.129/25]}
    - ipBlock: {cidr: "2001:db8::/32"}
    - podSelector: {matchLabels: {app: client}}
)",
       {
           // Kubernetes' legacy CIDR parsing accepts host bits: 203.0.113.77/24 is 203.0.113.0/24.
           {"203.0.113.1 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"203.0.113.200 -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           // The IPv6 peer is not modelled; the rule's other peers still apply.
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/api -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
       },
       {"CIDR '203.0.113.77/24' has host bits set", "IPv6 CIDR '2001:db8::/32' is not modelled"}},

      {"ip_block_matches_pod_and_node_ips",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: pod-range, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{ipBlock: {cidr: 10.10.1.0/24, except: [10.10.1.3/32]}}]
  egress:
  - to: [{ipBlock: {cidr: 10.10.2.0/24}}]
  - to: [{ipBlock: {cidr: 192.168.65.12/32}}]
)",
       {
           // DESIGN.md: a Kubernetes ipBlock also matches pod IPs inside it.
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/api -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"db/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/web -> db/db TCP/5432", kAllow, "egress=allowed-by-rule rule=spec.egress[0]"},
           {"web/web -> dev/client TCP/80", kDeny, "egress=no-rule-matched"},
           // ... and node IPs.
           {"web/web -> node:node-2 TCP/10250", kAllow, "egress=allowed-by-rule rule=spec.egress[1]"},
           // Egress to the pod's own node is not implicit.
           {"web/web -> node:node-1 TCP/10250", kDeny, "egress=no-rule-matched"},
       }},

      {"missing_or_empty_from_allows_every_source",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: any-source, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: empty-from, namespace: web}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [], ports: [{port: 8080}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: no-rules, namespace: db}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: []
)",
       {
           {"203.0.113.10 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule rule=any-source/spec.ingress[0]"},
           {"dev/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"node:node-2 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"203.0.113.10 -> web/web TCP/81", kDeny, "ingress=no-rule-matched"},
           {"203.0.113.10 -> web/api TCP/8080", kAllow, "ingress=allowed-by-rule rule=empty-from/spec.ingress[0]"},
           {"web/client -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
       }},

      {"missing_or_empty_ports_allow_every_port_and_protocol",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ports-missing, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ports-empty, namespace: web}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: []}]
)",
       {
           {"web/client -> web/web TCP/12345", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web UDP/53", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web SCTP/9", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web ICMP/8", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/api TCP/1", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/api ICMP/0", kAllow, "ingress=allowed-by-rule"},
           {"web/plain -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"ports_protocols_and_end_port",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ports, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports:
    - port: 80
    - {protocol: UDP, port: 53}
    - {protocol: SCTP, port: 7777}
    - {port: 8000, endPort: 8100}
  - from: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{protocol: UDP}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule rule=spec.ingress[0]"},
           // The protocol defaults to TCP.
           {"web/client -> web/web UDP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web UDP/53", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/53", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web SCTP/7777", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/7777", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web TCP/8000", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/8050", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/8100", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/8101", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web TCP/7999", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web ICMP/8", kDeny, "ingress=no-rule-matched"},
           // A port entry with only a protocol covers every port of that protocol.
           {"web/api -> web/web UDP/31337", kAllow, "ingress=allowed-by-rule rule=spec.ingress[1]"},
           {"web/client -> web/web UDP/31337", kDeny, "ingress=no-rule-matched"},
           {"web/api -> web/web TCP/31337", kDeny, "ingress=no-rule-matched"},
       }},

      {"named_ports_resolve_per_destination_pod",
       R"(apiVersion: v1
kind: Pod
metadata: {name: web-alt, namespace: web, labels: {app: web}}
spec:
  nodeName: node-2
  containers:
  - name: c
    ports: [{name: http, containerPort: 8081}, {name: metrics, containerPort: 9090, protocol: UDP}]
status: {podIP: 10.10.1.5}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: http}, {port: metrics}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web TCP/8081", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web-alt TCP/8081", kAllow, "ingress=allowed-by-rule"},
           {"web/client -> web/web-alt TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web TCP/9090", kAllow, "ingress=allowed-by-rule"},
           // web-alt's 'metrics' is UDP; the policy port (protocol TCP by default) does not match it.
           {"web/client -> web/web-alt TCP/9090", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web-alt UDP/9090", kDeny, "ingress=no-rule-matched"},
       }},

      {"named_ports_on_egress_resolve_against_destination",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-http-out, namespace: web}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{ports: [{port: http}]}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "egress=allowed-by-rule"},
           {"web/client -> web/api TCP/8080", kAllow, "egress=allowed-by-rule"},
           {"web/client -> dev/web TCP/8081", kAllow, "egress=allowed-by-rule"},
           {"web/client -> web/web TCP/8080", kDeny, "egress=no-rule-matched"},
           {"web/client -> web/api TCP/80", kDeny, "egress=no-rule-matched"},
           // A named port resolves only on a destination pod.
           {"web/client -> 203.0.113.10 TCP/80", kDeny, "egress=no-rule-matched"},
           {"web/client -> node:node-1 TCP/80", kDeny, "egress=no-rule-matched"},
       }},

      {"policies_are_additive",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b, namespace: web}
spec:
  podSelector: {matchLabels: {tier: front}}
  ingress: [{from: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: 9090}]}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule rule=a/spec.ingress[0]"},
           {"web/api -> web/web TCP/9090", kAllow, "ingress=allowed-by-rule rule=b/spec.ingress[0]"},
           {"web/api -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/web TCP/9090", kDeny, "ingress=no-rule-matched"},
           {"web/plain -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"egress_and_ingress_are_both_required",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-to-web, namespace: web}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: web}}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-api, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: api}}}]}]
)",
       {
           {"web/client -> web/web TCP/80", kDeny, "egress=allowed-by-rule ingress=no-rule-matched"},
           {"web/api -> web/web TCP/80", kAllow, "egress=not-isolated ingress=allowed-by-rule"},
           {"web/client -> web/api TCP/8080", kDeny, "egress=no-rule-matched ingress=not-isolated"},
           {"web/plain -> web/api TCP/8080", kAllow, "egress=not-isolated ingress=not-isolated"},
       }},

      {"non_isolated_namespaces_are_open",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lock-web, namespace: web}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
)",
       {
           {"dev/client -> db/db TCP/5432", kAllow, "egress=not-isolated ingress=not-isolated"},
           {"db/client -> dev/web TCP/8081", kAllow, "egress=not-isolated ingress=not-isolated"},
           {"dev/client -> web/web TCP/80", kDeny, "egress=not-isolated ingress=no-rule-matched"},
           {"web/client -> db/db TCP/5432", kDeny, "egress=no-rule-matched ingress=not-isolated"},
       }},

      {"self_traffic_is_always_allowed",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lock-web, namespace: web}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
)",
       {
           {"web/web -> web/web TCP/80", kAllow, "egress=self ingress=self"},
           {"web/web -> 10.10.1.2 TCP/9999", kAllow, "egress=self ingress=self"},
           {"10.10.1.1 -> web/client UDP/53", kAllow, "ingress=self"},
           {"web/web -> web/client TCP/80", kDeny, "egress=no-rule-matched"},
       }},

      {"ingress_from_own_node_is_allowed",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lock-web, namespace: web}
spec: {podSelector: {}, policyTypes: [Ingress]}
)",
       {
           {"node:node-1 -> web/web TCP/80", kAllow, "ingress=from-own-node"},
           {"node:node-2 -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"node:node-2 -> web/api TCP/8080", kAllow, "ingress=from-own-node"},
           // A host-network pod is its node.
           {"kube-system/agent -> web/client TCP/80", kAllow, "ingress=from-own-node"},
           {"kube-system/agent -> web/api TCP/8080", kDeny, "ingress=no-rule-matched"},
           // A pod on the same node is not the node.
           {"dev/web -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"host_network_pods_are_treated_as_their_node",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lock-kube-system, namespace: kube-system}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-kube-system, namespace: db}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-node-1, namespace: dev}
spec:
  podSelector: {matchLabels: {app: client}}
  ingress:
  - from: [{ipBlock: {cidr: 192.168.65.11/32}}]
)",
       {
           // Never selected by a policy, even one selecting every pod of its namespace.
           {"web/client -> kube-system/agent TCP/8080", kAllow, "ingress=unmanaged"},
           {"kube-system/agent -> web/api TCP/8080", kAllow, "egress=unmanaged ingress=not-isolated"},
           // Not a peer of pod or namespace selectors either...
           {"kube-system/agent -> db/db TCP/5432", kDeny, "ingress=no-rule-matched"},
           // ... but its node IP is in an ipBlock.
           {"kube-system/agent -> dev/client TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"node:node-1 -> dev/client TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"203.0.113.10 -> dev/client TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"services_are_not_peers",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-to-web, namespace: web}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 80}]}]
)",
       {
           // Policy judges the backend pod after load balancing, not the ClusterIP.
           {"web/client -> web/web TCP/80", kAllow, "egress=allowed-by-rule"},
           {"web/client -> svc:web/web TCP/80", kDeny, "egress=no-rule-matched ingress=unmanaged"},
           {"web/client -> web/web TCP/8080", kDeny, "egress=no-rule-matched"},
       }},
  };
  return cases;
}

class K8sSemantics : public ::testing::TestWithParam<SemanticCase> {};

TEST_P(K8sSemantics, ProbesMatch) {
  run_semantic_case(GetParam());
}

INSTANTIATE_TEST_SUITE_P(NetworkPolicy, K8sSemantics, ::testing::ValuesIn(k8s_cases()), CaseName{});

}  // namespace
}  // namespace polc::testing
