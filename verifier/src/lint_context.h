// Shared state of one lint run: the model, its tables, and suppression-aware reporting.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "polc/ir/evaluator.h"
#include "polc/ir/policy_tables.h"
#include "polc/verifier/lint.h"

namespace polc::verifier {

class Linter {
 public:
  Linter(const ir::Model& m, const LintOptions& opt, ir::DiagnosticEngine& out);

  const ir::Model& m;
  const LintOptions& opt;
  const ir::PolicyTables& tables() const { return tables_; }
  bool has_pods() const { return has_pods_; }

  /// Reports a finding attributed to `policy` (suppressed by its lint-disable annotation).
  ir::Diagnostic* report(std::optional<ir::PolicyId> policy, ir::DiagId id, ir::SourceLoc loc, std::string message,
                         std::string hint = {});

  /// Pods (non-host-network) a policy selects.
  std::vector<ir::EndpointId> selected_pods(ir::PolicyId p) const;
  /// Pods an endpoint peer matches.
  std::vector<ir::EndpointId> matching_pods(const ir::EndpointSelector& sel) const;
  /// "frontend-0, frontend-1 (+3 more)" grouped compactly.
  std::string pod_list(const std::vector<ir::EndpointId>& eps, size_t max = 4) const;
  /// "NetworkPolicy default/x (file:line:col)".
  std::string where(ir::PolicyId p) const;
  std::string where_rule(ir::RuleId r) const;

 private:
  ir::DiagnosticEngine& out_;
  ir::PolicyTables tables_;
  bool has_pods_ = false;
};

void check_selectors(Linter& l);
void check_isolation(Linter& l);
void check_ports(Linter& l);
void check_cidrs(Linter& l);
void check_l7(Linter& l);
void check_redundancy(Linter& l);

}  // namespace polc::verifier
