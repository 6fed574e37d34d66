// Renders the IR for people (text) and machines (JSON): `polc dump`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "polc/ir/model.h"

namespace polc::ir {

/// The whole model as JSON: namespaces, nodes, identities, endpoints, services, and policies
/// with normalized rules and their provenance. Deterministic (sorted as stored).
[[nodiscard]] nlohmann::json dump_json(const Model& m);
/// A readable listing of the same content.
[[nodiscard]] std::string dump_text(const Model& m);

/// "file:line:col" of a rule, relative path as given.
[[nodiscard]] std::string rule_origin(const Model& m, RuleId id);
/// One-line description of a rule: "ingress allow from {app=frontend} to 8080/TCP".
[[nodiscard]] std::string rule_summary(const Model& m, const Rule& r);
[[nodiscard]] nlohmann::json peer_json(const Peer& p);
[[nodiscard]] nlohmann::json labels_json(const Labels& l);

}  // namespace polc::ir
