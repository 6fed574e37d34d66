// polc diff: the semantic difference between two policy sets over the same (or a changed)
// inventory — which flows become allowed or denied, and which rules decide them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "polc/ir/model.h"

namespace polc::verifier {

/// One changed flow group: sources x destinations x a port range of one protocol.
struct FlowChange {
  bool now_allowed = false;               ///< true: denied before, allowed now; false: the reverse
  std::vector<std::string> sources;       ///< "ns/pod", node names, or world CIDRs
  std::vector<std::string> destinations;  ///< "ns/pod"
  uint8_t proto = 6;
  uint16_t lo = 0, hi = 0;
  std::vector<std::string> old_rules;  ///< deciding rules before ("policy path (file:line:col)")
  std::vector<std::string> new_rules;  ///< deciding rules after
};

struct DiffResult {
  std::vector<FlowChange> changes;
  std::vector<std::string> added_pods, removed_pods;
  bool l7_compared = false;  ///< HTTP-level differences are not compared (yet)
};

/// Compares every flow between pods present in both models (and from world/nodes to them),
/// on every port either model distinguishes. Deterministic order.
[[nodiscard]] DiffResult diff_models(const ir::Model& before, const ir::Model& after);

[[nodiscard]] std::string diff_text(const DiffResult& d);
[[nodiscard]] nlohmann::json diff_json(const DiffResult& d);

}  // namespace polc::verifier
