// Lint: selectors that match nothing in the inventory, with the closest existing label as a hint.
#include <fmt/format.h>

#include <set>

#include "lint_context.h"

namespace polc::verifier {

using ir::DiagId;

namespace {

/// Suggests the closest existing `key=value` for requirements no labels satisfy.
std::string label_hint(const ir::LabelSelector& sel, const std::vector<const ir::Labels*>& universe,
                       const char* what) {
  std::vector<std::string> pairs, keys;
  std::set<std::string> seen;
  for (const auto* l : universe)
    for (const auto& [k, v] : *l) {
      if (seen.insert(k + "=" + v).second) pairs.push_back(k + "=" + v);
      if (seen.insert("key:" + k).second) keys.push_back(k);
    }
  for (const auto& r : sel.reqs) {
    bool satisfied = std::any_of(universe.begin(), universe.end(), [&](const ir::Labels* l) { return r.matches(*l); });
    if (satisfied) continue;
    if (r.op == ir::SelectorOp::In && r.values.size() == 1) {
      std::string want = r.key + "=" + r.values[0];
      if (auto best = ir::closest_match(want, pairs)) return fmt::format("no {} has {}; did you mean {}?", what, want, *best);
      // The value exists under another key (e.g. name=kube-system vs kubernetes.io/metadata.name=kube-system).
      for (const auto& p : pairs)
        if (p.size() > r.values[0].size() && p.substr(p.size() - r.values[0].size() - 1) == "=" + r.values[0])
          return fmt::format("no {} has {}; {} has {}", what, want, what, p);
      if (auto best = ir::closest_match(r.key, keys))
        return fmt::format("no {} has the label key '{}'; did you mean '{}'?", what, r.key, *best);
      return fmt::format("no {} has {}", what, want);
    }
    if (r.op == ir::SelectorOp::Exists) {
      if (auto best = ir::closest_match(r.key, keys))
        return fmt::format("no {} has the label key '{}'; did you mean '{}'?", what, r.key, *best);
      return fmt::format("no {} has the label key '{}'", what, r.key);
    }
  }
  return {};
}

}  // namespace

void check_selectors(Linter& l) {
  const ir::Model& m = l.m;
  if (!l.has_pods()) return;
  for (const auto& pol : m.policies) {
    if (l.selected_pods(pol.id).empty()) {
      std::vector<const ir::Labels*> universe;
      bool ns_has_pods = false;
      for (const auto& e : m.endpoints)
        if (!e.host_network && (!pol.ns.valid() || e.ns == pol.ns) && pol.subject.ns.matches(m.ns_labels(e))) {
          universe.push_back(&e.labels);
          ns_has_pods = true;
        }
      std::string msg = pol.display() + " selects no pod";
      std::string hint;
      if (!ns_has_pods && pol.ns.valid()) {
        msg += fmt::format(": namespace '{}' has no pods in the inventory", pol.ns_name);
      } else {
        msg += " (" + pol.subject.pod.str() + ")";
        hint = label_hint(pol.subject.pod, universe, "pod");
      }
      l.report(pol.id, DiagId::SelectorMatchesNothing, pol.subject_loc, msg, hint);
    }
    for (auto rid : pol.rules) {
      const ir::Rule& r = m.rule(rid);
      for (const auto& peer : r.peers) {
        const auto* pe = std::get_if<ir::PeerEndpoints>(&peer.v);
        if (!pe || !l.matching_pods(pe->sel).empty()) continue;
        std::vector<const ir::Labels*> ns_labels;
        bool any_ns = false;
        for (const auto& ns : m.namespaces) {
          ns_labels.push_back(&ns.labels);
          any_ns = any_ns || pe->sel.ns.matches(ns.labels);
        }
        if (!any_ns) {
          l.report(pol.id, DiagId::PeerMatchesNothing, peer.loc,
                   fmt::format("{} peer matches no namespace (namespaces {{{}}})", r.path, pe->sel.ns.str()),
                   label_hint(pe->sel.ns, ns_labels, "namespace"));
          continue;
        }
        std::vector<const ir::Labels*> pod_labels;
        for (const auto& e : m.endpoints)
          if (!e.host_network && pe->sel.ns.matches(m.ns_labels(e))) pod_labels.push_back(&e.labels);
        l.report(pol.id, DiagId::PeerMatchesNothing, peer.loc,
                 fmt::format("{} peer matches no pod ({})", r.path, pe->sel.str()),
                 label_hint(pe->sel.pod, pod_labels, "pod"));
      }
    }
  }
}

}  // namespace polc::verifier
