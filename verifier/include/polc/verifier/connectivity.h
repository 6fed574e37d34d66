// ListConnectivity: who can reach whom, on which ports, computed over equivalence classes (the
// per-class verdict tables of ir/policy_tables.h) instead of one solver call per pair. Used by
// `polc query "who can reach X"`, `"what can X reach"` and `polc matrix`; checked against the
// reference evaluator and the Z3 encoding by tests/verifier.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "polc/ir/model.h"
#include "polc/ir/policy_tables.h"
#include "polc/verifier/resolve.h"

namespace polc::verifier {

/// Endpoints that every policy treats alike (one address class and one subject context), the
/// unit of connectivity listings.
struct Group {
  enum class Kind : uint8_t { Pods, Node, World };
  Kind kind = Kind::Pods;
  uint32_t cls = 0;                        ///< ir::AddrClass id
  uint32_t ctx = ir::PolicyTables::kNone;  ///< ir::Context id (Pods)
  std::vector<ir::EndpointId> endpoints;   ///< Pods: the pods; Node: its host-network pods
  ir::NodeId node;                         ///< Node; for Pods the node of the pods
  std::string workload;                    ///< display unit: "ns/workload", "node node-1", "world", "world 10.0.0.0/8"
};

/// Sets of (protocol, port): per protocol bucket (ir::ProtoBucket) sorted disjoint ranges.
struct PortSet {
  using Ranges = std::vector<std::pair<uint16_t, uint16_t>>;
  std::array<Ranges, ir::kProtoBuckets> allowed;
  std::array<Ranges, ir::kProtoBuckets> l7;  ///< the part of `allowed` where HTTP rules filter requests

  [[nodiscard]] bool empty() const;
  [[nodiscard]] bool full() const;  ///< every port of every protocol
  [[nodiscard]] bool contains(uint8_t proto, uint16_t port) const;
  [[nodiscard]] PortSet intersect(const PortSet& o) const;
  void unite(const PortSet& o);
  /// Keeps only `proto` (and `port` when given).
  [[nodiscard]] PortSet restrict(std::optional<uint8_t> proto, std::optional<uint16_t> port) const;
  /// "80/TCP, 8000-8080/TCP, 53/UDP, ICMP", "any", "none"; an HTTP-filtered range gets " (HTTP)".
  [[nodiscard]] std::string str() const;
  static PortSet everything();
  static PortSet single(uint8_t proto, uint16_t port);
};

class Connectivity {
 public:
  Connectivity(const ir::Model& m, const ir::PolicyTables& t);

  [[nodiscard]] const std::vector<Group>& groups() const { return groups_; }
  /// The group of a pod (or of the node of a host-network pod).
  [[nodiscard]] uint32_t group_of_endpoint(ir::EndpointId e) const { return group_of_endpoint_[e.v]; }
  [[nodiscard]] uint32_t group_of_node(ir::NodeId n) const { return group_of_node_[n.v]; }
  /// What the policies allow from any member of `src` to any other member of `dst`. Pairs with
  /// no policy on either side (node or world to node or world) allow everything; a single pod
  /// to itself allows everything too.
  [[nodiscard]] const PortSet& allowed(uint32_t src, uint32_t dst) const { return port_set(allowed_id(src, dst)); }
  /// The same as an interned id: equal sets have equal ids. `distinct`: two different pods even
  /// when `src == dst` is a single pod (pods of the same behavior, see below).
  [[nodiscard]] uint32_t allowed_id(uint32_t src, uint32_t dst, bool distinct = false) const;
  [[nodiscard]] const PortSet& port_set(uint32_t id) const { return sets_[id]; }
  /// True when `src` and `dst` are the same single pod (only self traffic).
  [[nodiscard]] bool self_only(uint32_t src, uint32_t dst) const;
  /// Pod groups whose policies treat them alike in every respect but the node they run on
  /// (the same verdict tables row in both directions and the same address class): the matrix
  /// computes one of them and reuses it. Index per group; node and world groups map to themselves.
  [[nodiscard]] const std::vector<uint32_t>& behavior_of_group() const { return behavior_; }

 private:
  [[nodiscard]] uint32_t intern(PortSet p) const;
  [[nodiscard]] uint32_t function_set(uint32_t fid) const;
  const ir::Model& m_;
  const ir::PolicyTables& t_;
  std::vector<Group> groups_;
  std::vector<uint32_t> group_of_endpoint_;
  std::vector<uint32_t> group_of_node_;
  std::vector<uint32_t> behavior_;
  mutable std::deque<PortSet> sets_;                          ///< interned (a deque: references stay valid)
  mutable std::map<std::string, uint32_t> set_ids_;           ///< serialized set -> id
  mutable std::vector<uint32_t> function_sets_;               ///< per ir::PortFunction id (kNone = not yet)
  mutable std::unordered_map<uint64_t, uint32_t> pair_sets_;  ///< egress fid << 32 | ingress fid
};

/// One row of a who/what listing: a workload (or node, or world region) and what it may do.
struct ReachRow {
  std::string workload;
  Group::Kind kind = Group::Kind::Pods;
  std::vector<ir::EndpointId> pods;  ///< the workload's pods concerned
  PortSet ports;                     ///< allowed to/from at least one pod of the other side
  bool uniform = true;               ///< every pod pair of the row allows the same ports
};

struct ReachListing {
  std::vector<ReachRow> allowed;  ///< sorted by workload
  std::vector<ReachRow> denied;   ///< nothing allowed (ports empty)
};

/// `who can reach DST`: every group's ports towards the destination pods (restricted to the
/// question's protocol/port and to each candidate's own ports for services and named ports).
[[nodiscard]] ReachListing who_can_reach(const Connectivity& c, const ir::Model& m, const EndpointSet& dst,
                                         std::optional<uint8_t> proto, std::optional<uint16_t> port);
/// `what can SRC reach`.
[[nodiscard]] ReachListing what_can_reach(const Connectivity& c, const ir::Model& m, const EndpointSet& src,
                                          std::optional<uint8_t> proto, std::optional<uint16_t> port);

/// One cell of the matrix: workload to workload.
struct MatrixCell {
  std::string src, dst;
  PortSet ports;
  bool uniform = true;
};

struct MatrixOptions {
  std::optional<PortSet> ports;  ///< only these (protocol, port) pairs; none = every port
  bool include_world = true;     ///< world regions as sources and destinations
  bool include_nodes = true;     ///< nodes as sources and destinations
};

/// The full connectivity matrix between workloads (and nodes, world regions), only allowed
/// cells, sorted. `rows` receives every row/column name (also those with no allowed cell).
[[nodiscard]] std::vector<MatrixCell> connectivity_matrix(const Connectivity& c, const ir::Model& m,
                                                          const MatrixOptions& opt,
                                                          std::vector<std::string>* names = nullptr);

}  // namespace polc::verifier
