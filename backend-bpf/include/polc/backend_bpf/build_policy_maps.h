// BuildPolicyMaps: the policy tables of ir::resolve_policies(), restricted to one node's pods and
// encoded as the datapath's maps: endpoints, contexts, (context, dir, peer class) -> port
// function, port classes, and (function, bucket, port class) -> verdict.
#pragma once

#include "polc/backend_bpf/map_contents.h"
#include "polc/ir/policy_tables.h"

namespace polc::backend_bpf {

struct PolicyMapOptions {
  uint32_t config_flags = POLC_CFG_EVENTS_DROPPED | POLC_CFG_EVENTS_ALLOWED;  ///< ALLOW_FROM_OWN_NODE from the model
  uint32_t ct_timeout_tcp = 21600;                                            ///< seconds
  uint32_t ct_timeout_tcp_closing = 10;
  uint32_t ct_timeout_other = 60;
};

/// Lowers the tables for the policy-managed pods on `node`. Contexts and functions are
/// renumbered densely for the node (PolicyMaps::context_ids / function_ids map back); classes
/// and rule sets keep the tables' ids. Per (context, direction) the function most peer classes
/// share becomes the context's default and gets no polc_policy entries; per (function, bucket)
/// the verdict most port classes share becomes the function's default. Deterministic; never
/// fails (capacity is checked by PlanCapacity).
[[nodiscard]] PolicyMaps build_policy_maps(const ir::Model& m, const ir::PolicyTables& t, const NodeTarget& node,
                                           uint32_t node_class, const PolicyMapOptions& opt = {});

/// The verdict struct of a segment (rule: the first rule of the segment's rule set).
[[nodiscard]] polc_verdict verdict_of(const ir::PolicyTables& t, const ir::Segment& s);

/// The largest port of a bucket the datapath can present (65535, ICMP 255, other protocols 0).
[[nodiscard]] uint32_t bucket_port_max(int bucket);

}  // namespace polc::backend_bpf
