// ResolvePolicies: folds the Model into per-class verdict tables, the shared form behind the
// connectivity matrix and the BPF datapath maps. Addresses are grouped into classes that every
// policy treats alike, subjects into contexts selected by the same policies; for each
// (context, direction, peer class) the tables give a port function: per protocol, sorted
// disjoint port segments covering 0-65535, each with its final verdict. Checked against the
// reference evaluator by tests (tests/ir/policy_tables_test.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "polc/ir/evaluator.h"
#include "polc/ir/model.h"

namespace polc::ir {

/// A set of addresses no policy distinguishes (the ipcache value and the matrix unit).
struct AddrClass {
  enum class Kind : uint8_t { Pods, Node, World };
  uint32_t id = 0;
  Kind kind = Kind::World;
  std::vector<EndpointId> endpoints;  ///< Pods: the member pods (one identity), sorted
  NodeId node;                        ///< Node: the node (host-network pods share its IP)
  /// ipcache entries mapping to this class: /32s for pods and nodes; for World the prefixes
  /// whose longest-prefix region is this class (0.0.0.0/0 included for the default region).
  std::vector<Cidr> prefixes;
  std::string name;  ///< display: "default/frontend", "node node-1", "world 10.0.0.0/8"
};

/// Subjects (non-host-network pods) selected by the same policies, with the same referenced
/// named container ports, and on the same node when one of those policies has host or
/// remote-node peers: every policy decision about them is the same. A context may span nodes.
struct Context {
  uint32_t id = 0;
  std::vector<EndpointId> endpoints;  ///< sorted; possibly on several nodes
  NodeId node;                        ///< the node of the first endpoint
  std::vector<PolicyId> policies;     ///< the policies selecting them
  std::array<bool, 2> isolated{false, false};
};

/// The final verdict of a port segment, isolation already folded in.
enum class Outcome : uint8_t {
  DefaultAllow,  ///< no policy isolates the subject in this direction
  DefaultDeny,   ///< isolated, and no rule allows it
  Allow,         ///< allowed at L4 by `rules`
  AllowL7,       ///< the connection is allowed; HTTP requests must match l7 set `l7`
  Deny,          ///< a deny rule (`rules`) matches; beats every allow
};
[[nodiscard]] const char* outcome_name(Outcome o);
[[nodiscard]] inline bool outcome_allows_l4(Outcome o) {
  return o != Outcome::DefaultDeny && o != Outcome::Deny;
}

/// Protocol buckets of a port function.
enum class ProtoBucket : uint8_t { Tcp = 0, Udp = 1, Sctp = 2, Icmp = 3, Other = 4 };
inline constexpr int kProtoBuckets = 5;
[[nodiscard]] ProtoBucket proto_bucket(uint8_t proto);
[[nodiscard]] const char* proto_bucket_name(ProtoBucket b);

struct Segment {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  Outcome outcome = Outcome::DefaultDeny;
  uint32_t rules = 0;  ///< index into PolicyTables::rule_sets (deciding rules), 0 = none
  uint32_t l7 = 0;     ///< AllowL7: index into PolicyTables::l7_sets
};

/// Per protocol bucket: sorted, disjoint segments covering 0..65535 exactly.
struct PortFunction {
  std::array<std::vector<Segment>, kProtoBuckets> buckets;
  [[nodiscard]] const Segment& at(uint8_t proto, uint16_t port) const;
};

/// One HTTP match of one allowing rule (the rule's port group `group`, match `match`).
struct L7Ref {
  RuleId rule;
  uint32_t group = 0;
  uint32_t match = 0;
};
/// The union of HTTP matches that allow requests on an AllowL7 segment.
struct L7Set {
  std::vector<L7Ref> matches;
};

struct PolicyTables {
  std::vector<AddrClass> classes;
  std::vector<Context> contexts;
  std::vector<PortFunction> functions;         ///< interned
  std::vector<std::vector<RuleId>> rule_sets;  ///< interned; [0] is the empty set
  std::vector<L7Set> l7_sets;                  ///< interned; [0] is unused
  std::vector<uint32_t> class_of_endpoint;     ///< per endpoint; host-network pods: their node's class
  std::vector<uint32_t> context_of_endpoint;   ///< per endpoint; kNone for host-network pods
  /// Per class, an address of it as the evaluator sees a remote side (for probes and checks).
  std::vector<Resolved> class_rep;
  static constexpr uint32_t kNone = 0xffffffffu;

  /// Function id for (context, direction, peer class).
  [[nodiscard]] uint32_t function_id(uint32_t ctx, Direction d, uint32_t cls) const {
    size_t cd = static_cast<size_t>(ctx) * 2 + static_cast<size_t>(d);
    size_t n = node_count();
    if (cls >= first_node_class_ && cls < first_node_class_ + n)
      return node_functions_[cd * n + (cls - first_node_class_)];
    return rows_[row_of_[cd]][cls];
  }
  /// The interned row of (context, direction): two contexts with the same row in both
  /// directions have identical function ids towards every class but the nodes.
  [[nodiscard]] uint32_t row_id(uint32_t ctx, Direction d) const {
    return row_of_[static_cast<size_t>(ctx) * 2 + static_cast<size_t>(d)];
  }
  [[nodiscard]] const PortFunction& function(uint32_t ctx, Direction d, uint32_t cls) const {
    return functions[function_id(ctx, d, cls)];
  }
  /// The class of an arbitrary IPv4 address (pods and nodes by /32, else longest prefix).
  [[nodiscard]] uint32_t class_of_ip(Ipv4 ip) const;

  /// The same question as ir::evaluate, answered from the tables (for the matrix, and as the
  /// model of what the datapath computes). HTTP requests are matched against the L7 sets.
  [[nodiscard]] bool allowed(const Model& m, const Probe& p) const;

  // The table (context, direction, class) -> function, stored as interned rows for every class
  // but the nodes (contexts that differ only by node share them) plus the node columns per
  // context: at 10,000 pods on 100 nodes a dense table would take hundreds of MB.
  [[nodiscard]] size_t node_count() const { return node_count_; }
  std::vector<std::vector<uint32_t>> rows_;  ///< interned rows: a function id per class (node columns unused)
  std::vector<uint32_t> row_of_;             ///< per context x 2: index into rows_
  std::vector<uint32_t> node_functions_;     ///< per context x 2 x node: the node columns
  uint32_t first_node_class_ = 0;            ///< node classes are contiguous from here
  size_t node_count_ = 0;
};

/// Builds the tables. Ordered (tiered) policies are not folded yet: asserts none are present.
[[nodiscard]] PolicyTables resolve_policies(const Model& m);

}  // namespace polc::ir
