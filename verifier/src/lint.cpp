#include "polc/verifier/lint.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "lint_context.h"
#include "polc/ir/dump.h"

namespace polc::verifier {

using ir::DiagId;

Linter::Linter(const ir::Model& model, const LintOptions& options, ir::DiagnosticEngine& out)
    : m(model), opt(options), out_(out), tables_(ir::resolve_policies(model)) {
  has_pods_ =
      std::any_of(m.endpoints.begin(), m.endpoints.end(), [](const ir::Endpoint& e) { return !e.host_network; });
}

ir::Diagnostic* Linter::report(std::optional<ir::PolicyId> policy, DiagId id, ir::SourceLoc loc, std::string message,
                               std::string hint) {
  if (policy) {
    const auto& ann = m.policy(*policy).annotations;
    auto it = ann.find(kLintDisableAnnotation);
    if (it != ann.end()) {
      std::string name(ir::diag_spec(id).name);
      std::stringstream ss(it->second);
      std::string item;
      while (std::getline(ss, item, ',')) {
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (item == name || item == "all") return nullptr;
      }
    }
  }
  return out_.report(id, loc, std::move(message), std::move(hint));
}

std::vector<ir::EndpointId> Linter::selected_pods(ir::PolicyId p) const {
  std::vector<ir::EndpointId> out;
  for (const auto& e : m.endpoints) {
    const auto& sel = m.policies_selecting(e.id);
    if (std::binary_search(sel.begin(), sel.end(), p)) out.push_back(e.id);
  }
  return out;
}

std::vector<ir::EndpointId> Linter::matching_pods(const ir::EndpointSelector& sel) const {
  std::vector<ir::EndpointId> out;
  for (const auto& e : m.endpoints)
    if (!e.host_network && sel.matches(m.ns_labels(e), e.labels)) out.push_back(e.id);
  return out;
}

std::string Linter::pod_list(const std::vector<ir::EndpointId>& eps, size_t max) const {
  std::string s;
  for (size_t i = 0; i < eps.size() && i < max; ++i) s += (i ? ", " : "") + m.endpoint_name(eps[i]);
  if (eps.size() > max) s += fmt::format(" (+{} more)", eps.size() - max);
  return s;
}

std::string Linter::where(ir::PolicyId p) const {
  return m.policy(p).display() + " (" + m.sources.format(m.policy(p).loc) + ")";
}

std::string Linter::where_rule(ir::RuleId r) const {
  const auto& rule = m.rule(r);
  return m.policy(rule.policy).display() + " " + rule.path;
}

void lint(const ir::Model& m, const LintOptions& opt, ir::DiagnosticEngine& out) {
  Linter l(m, opt, out);
  if (!l.has_pods())
    out.report(DiagId::InventoryMissing, ir::SourceLoc{},
               "the input has no pods: checks that need the inventory (selectors matching nothing, named ports, DNS "
               "reachability, default-deny gaps, L7 rules without effect) were skipped; redundant, shadowed and "
               "useless rules were proved for any pod that could exist",
               "add the cluster inventory (kubectl get ns,pods,deploy,svc -A -o yaml) next to the policies");
  check_selectors(l);
  check_isolation(l);
  check_ports(l);
  check_cidrs(l);
  check_l7(l);
  if (opt.prove) check_redundancy(l);
  check_assertions(m, opt.assertions, out);
  out.sort();
}

}  // namespace polc::verifier
