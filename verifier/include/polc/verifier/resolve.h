// ResolveQuery: turns a parsed question (ir::Query) into the sets of endpoints it is about,
// checked against the Model (unknown and ambiguous names become diagnostics). The result is
// what the Z3 encoding (reach.h) quantifies over.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "polc/ir/diagnostic.h"
#include "polc/ir/evaluator.h"
#include "polc/ir/model.h"
#include "polc/ir/query.h"
#include "polc/ir/result.h"

namespace polc::verifier {

/// One concrete endpoint of a side.
struct Candidate {
  enum class Kind : uint8_t { Pod, Node };
  Kind kind = Kind::Pod;
  ir::EndpointId ep;  ///< Pod; for Node: the host-network pod the user named, if any
  ir::NodeId node;    ///< Node
  /// Destination only: the (protocol, port) pairs this candidate is reached on when the port
  /// resolves per pod (a named port, a service's targetPort). Empty = the question's port.
  std::vector<std::pair<uint8_t, uint16_t>> ports;
};

/// Any pod with these labels, existing or not.
struct Hypothetical {
  ir::LabelSelector pod;
  std::optional<ir::NamespaceId> ns;  ///< a named, existing namespace
  ir::LabelSelector ns_labels;        ///< otherwise: any namespace (existing or new) with these labels
};

/// External addresses (owned by no pod or node) inside a CIDR.
struct ExternalRange {
  ir::Cidr cidr;
  bool world_only = false;  ///< also not a kube-apiserver address (the `world` entity)
};

/// One side of a question: the union of its candidates, a hypothetical pod and external addresses.
struct EndpointSet {
  std::string text;  ///< as written
  ir::SourceLoc loc;
  std::vector<Candidate> candidates;
  std::optional<Hypothetical> hypothetical;
  std::optional<ExternalRange> external;
  /// The named port of the question, resolved per pod (hypothetical pods: a symbolic port).
  std::string named_port;
  [[nodiscard]] bool empty() const { return candidates.empty() && !hypothetical && !external; }
  /// Exactly one concrete pod and nothing else.
  [[nodiscard]] std::optional<ir::EndpointId> single_pod() const;
};

/// A reachability question over sets: is some packet from `src` to `dst` allowed?
struct ReachQuery {
  EndpointSet src;
  EndpointSet dst;
  std::optional<uint8_t> proto;         ///< none = any protocol
  std::optional<uint16_t> port;         ///< none = any port (or per candidate, see Candidate::ports)
  std::optional<ir::HttpRequest> http;  ///< a concrete request; none = a connection (L4) question
  std::string text;
};

/// Resolves one side. `as_destination` applies the question's port (named ports and services
/// resolve per destination pod). Reports query-unknown-endpoint / query-ambiguous.
[[nodiscard]] ir::Result<EndpointSet> resolve_endpoint(const ir::Model& m, const ir::QueryEndpoint& ep,
                                                       const ir::Query& q, bool as_destination,
                                                       ir::DiagnosticEngine& diags);

/// Resolves a `can` question or a batch probe line.
[[nodiscard]] ir::Result<ReachQuery> resolve_reach(const ir::Model& m, const ir::Query& q, ir::DiagnosticEngine& diags);

/// The question asked by a concrete probe (differential tests: one candidate per side).
[[nodiscard]] ReachQuery probe_query(const ir::Model& m, const ir::Probe& p);

/// "default/frontend-0", "node node-1", "203.0.113.7".
[[nodiscard]] std::string candidate_name(const ir::Model& m, const Candidate& c);

}  // namespace polc::verifier
