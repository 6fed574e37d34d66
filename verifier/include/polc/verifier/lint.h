// polc lint: checks a policy set for mistakes and reports them as diagnostics from the catalog
// (ir/include/polc/ir/diagnostics.def, group "lint"), with notes at related rules and hints.
#pragma once

#include <string>
#include <vector>

#include "polc/ir/diagnostic.h"
#include "polc/ir/model.h"
#include "polc/ir/query.h"

namespace polc::verifier {

struct LintOptions {
  /// Run the Z3-backed checks (redundancy, shadowing); the structural ones always run.
  bool prove = true;
  /// The user's assertions (frontend::parse_assertions), checked with Z3 on every run: one that
  /// does not hold is `assertion-failed` at its line, with the packet that breaks it and the
  /// deciding rules as notes. Names they use that do not exist are query-unknown-endpoint.
  std::vector<ir::Assertion> assertions;
};

/// Runs every lint check on `m` and reports findings to `out`. Findings inside a policy that
/// carries the annotation `polc.dev/lint-disable: "id,id"` (or "all") are suppressed.
/// Never throws; solver failures become diagnostics.
void lint(const ir::Model& m, const LintOptions& opt, ir::DiagnosticEngine& out);

/// Checks only the assertions (the part of lint() that `assertions` drives).
void check_assertions(const ir::Model& m, const std::vector<ir::Assertion>& assertions, ir::DiagnosticEngine& out);

/// The annotation that suppresses lint findings inside a policy.
inline constexpr const char* kLintDisableAnnotation = "polc.dev/lint-disable";

}  // namespace polc::verifier
