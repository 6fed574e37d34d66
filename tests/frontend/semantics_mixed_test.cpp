// Kubernetes NetworkPolicy and Cilium policies on the same pods combine as Cilium enforces them:
// allows add up across kinds, and a Cilium deny beats every allow (docs/semantics.md §9).
#include <gtest/gtest.h>

#include "semantics_harness.h"

namespace polc::testing {
namespace {

const std::vector<SemanticCase>& mixed_cases() {
  static const std::vector<SemanticCase> cases = {
      {"knp_and_cnp_allows_are_a_union",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 80}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api-metrics, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: api}}]
    toPorts: [{ports: [{port: "9090", protocol: TCP}]}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule rule=allow-client/spec.ingress[0]"},
           {"web/api -> web/web TCP/9090", kAllow, "ingress=allowed-by-rule rule=api-metrics/spec.ingress[0]"},
           {"web/client -> web/web TCP/9090", kDeny, "ingress=no-rule-matched"},
           {"web/api -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"cnp_deny_beats_knp_allow",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-client, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingressDeny: [{fromEndpoints: [{matchLabels: {app: client}}]}]
)",
       {
           {"web/client -> web/web TCP/80", kDeny, "ingress=denied-by-rule rule=deny-client/spec.ingressDeny[0]"},
           {"web/api -> web/web TCP/80", kAllow, "ingress=allowed-by-rule rule=allow-all/spec.ingress[0]"},
           {"203.0.113.10 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
       }},

      {"ccnp_egress_deny_beats_knp_egress_allow",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-out-all, namespace: web}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{}]
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: clients-no-world}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egressDeny: [{toEntities: [world]}]
)",
       {
           {"web/client -> 203.0.113.10 TCP/443", kDeny, "egress=denied-by-rule"},
           {"dev/client -> 203.0.113.10 TCP/443", kDeny, "egress=denied-by-rule"},
           {"web/client -> web/web TCP/80", kAllow, "egress=allowed-by-rule rule=client-out-all/spec.egress[0]"},
           // The deny-only CCNP puts every client into egress default deny.
           {"dev/client -> dev/web TCP/8081", kDeny, "egress=no-rule-matched"},
           {"web/api -> 203.0.113.10 TCP/443", kAllow, "egress=not-isolated"},
       }},

      {"knp_isolates_and_cnp_without_default_deny_adds_allows",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lock-web, namespace: web}
spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-in, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  enableDefaultDeny: {ingress: false}
  ingress: [{fromEndpoints: [{matchLabels: {app: client}}]}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule rule=client-in/spec.ingress[0]"},
           {"web/api -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
           {"web/client -> web/api TCP/8080", kAllow, "ingress=not-isolated"},
       }},

      {"knp_ip_block_matches_pods_cilium_cidr_does_not",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: knp-range, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 10.10.1.0/24}}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: cnp-range, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress: [{fromCIDR: [10.10.1.0/24]}]
)",
       {
           {"web/client -> web/web TCP/80", kAllow, "ingress=allowed-by-rule rule=knp-range/spec.ingress[0]"},
           {"web/client -> web/api TCP/8080", kDeny, "ingress=no-rule-matched"},
           {"10.10.1.200 -> web/api TCP/8080", kAllow, "ingress=allowed-by-rule rule=cnp-range/spec.ingress[0]"},
           {"10.10.1.200 -> web/web TCP/80", kAllow, "ingress=allowed-by-rule"},
           {"db/client -> web/web TCP/80", kDeny, "ingress=no-rule-matched"},
       }},

      {"knp_l4_allow_makes_cnp_l7_moot",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-80, namespace: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 80}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: http-only, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET, path: /x}]}
  - fromEndpoints: [{matchLabels: {app: api}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET, path: /x}]}
)",
       {
           {"web/client -> web/web TCP/80 POST /y", kAllow,
            "ingress=allowed-by-rule !l7 rule=client-80/spec.ingress[0]"},
           {"web/api -> web/web TCP/80 POST /y", kDeny, "ingress=l7-denied"},
           {"web/api -> web/web TCP/80 GET /x", kAllow, "ingress=allowed-by-rule rule=http-only/spec.ingress[1]"},
       }},

      {"knp_egress_and_cnp_ingress_both_required",
       R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-to-db, namespace: web}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {team: db}}}], ports: [{port: 5432}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db-from-web, namespace: db}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": web, app: client}}]
)",
       {
           {"web/client -> db/db TCP/5432", kAllow, "egress=allowed-by-rule ingress=allowed-by-rule"},
           {"web/client -> db/db TCP/5433", kDeny, "egress=no-rule-matched ingress=allowed-by-rule"},
           {"web/api -> db/db TCP/5432", kDeny, "egress=not-isolated ingress=no-rule-matched"},
           {"web/client -> db/client TCP/5432", kAllow, "egress=allowed-by-rule ingress=not-isolated"},
       }},
  };
  return cases;
}

class MixedSemantics : public ::testing::TestWithParam<SemanticCase> {};

TEST_P(MixedSemantics, ProbesMatch) {
  run_semantic_case(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Mixed, MixedSemantics, ::testing::ValuesIn(mixed_cases()), CaseName{});

}  // namespace
}  // namespace polc::testing
