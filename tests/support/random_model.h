// Random clusters and probes for differential tests and benchmarks: seeded YAML inventories with
// NetworkPolicies and Cilium policies covering every semantic feature the frontend supports,
// and probes aimed at the interesting corners (rule ports, CIDR edges, named ports, L7 rules).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "polc/ir/evaluator.h"
#include "polc/ir/model.h"

namespace polc::testing {

/// Size and mix of a random cluster. With `exact` false the counts are upper bounds and the
/// generator draws the actual counts (small, varied models for differential tests); with
/// `exact` true it generates exactly `pods` pods and `policies` policies (benchmarks).
struct RandomOptions {
  size_t namespaces = 4;      ///< namespaces besides "default"
  size_t nodes = 3;           ///< 1..nodes nodes
  size_t workloads = 8;       ///< bare pods, Deployments and StatefulSets
  size_t max_replicas = 3;    ///< replicas per Deployment/StatefulSet
  size_t services = 4;        ///< Services over the workloads
  size_t policies = 8;        ///< NetworkPolicies + Cilium (clusterwide) policies
  double cilium_share = 0.5;  ///< fraction of policies that are Cilium policies
  bool l7 = true;             ///< emit Cilium HTTP rules
  bool exact = false;
  size_t pods = 0;  ///< with `exact`: total pods (replicas are spread to reach it)

  /// Options for a benchmark cluster: exactly `pods` pods in `namespaces` namespaces with
  /// `policies` policies.
  static RandomOptions large(size_t pods, size_t namespaces, size_t policies);
};

/// A YAML text (multi-document) holding namespaces (with labels), nodes, pods and workloads with
/// labels and named container ports (the same name mapped to different numbers on different
/// pods), sometimes a hostNetwork pod, services, and a mix of policies. Always valid input for
/// the frontend (no error diagnostics). Deterministic for a given seed and options.
[[nodiscard]] std::string random_cluster_yaml(uint64_t seed, const RandomOptions& opt = {});

/// `n` probes over `m`: pod->pod (by id and by IP), world IP->pod, pod->world IP, node->pod,
/// pod->node, host-network pods, self traffic; ports that hit rule ports, range edges and named
/// ports, and misses; TCP, UDP, SCTP, ICMP and other protocols; HTTP requests (matching and not)
/// on ports with L7 rules. Deterministic for a given model and seed.
[[nodiscard]] std::vector<ir::Probe> random_probes(const ir::Model& m, uint64_t seed, size_t n);

/// A readable one-line form of a probe: "default/a-0 -> 10.10.3.4:80/TCP GET /x".
[[nodiscard]] std::string probe_str(const ir::Model& m, const ir::Probe& p);

/// A small deterministic random generator (the standard distributions are not portable).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n); 0 when n == 0.
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
  /// Uniform in [lo, hi].
  size_t range(size_t lo, size_t hi) { return lo + below(hi - lo + 1); }
  /// True with probability p.
  bool chance(double p) { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0) < p; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }

 private:
  uint64_t s_;
};

}  // namespace polc::testing
