// Lint: selectors that match nothing in the inventory, with the closest existing label as a hint.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "lint_context.h"

namespace polc::verifier {

using ir::DiagId;

namespace {

/// Suggests the closest existing `key=value` for requirements no labels satisfy.
std::string label_hint(const ir::LabelSelector& sel, const std::vector<const ir::Labels*>& universe, const char* what) {
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
      if (auto best = ir::closest_match(want, pairs))
        return fmt::format("no {} has {}; did you mean {}?", what, want, *best);
      // The value exists under another key (e.g. name=kube-system vs kubernetes.io/metadata.name=kube-system).
      for (const auto& p : pairs)
        if (p.size() > r.values[0].size() && p.substr(p.size() - r.values[0].size() - 1) == "=" + r.values[0])
          return fmt::format("no {} has {}; {} has {}", what, want, what, p);
      if (std::find(keys.begin(), keys.end(), r.key) != keys.end()) {
        // The key exists with other values: list them (e.g. app=frontend when pods say app=web).
        std::vector<std::string> have;
        for (const auto& p : pairs)
          if (p.rfind(r.key + "=", 0) == 0) have.push_back(p);
        std::sort(have.begin(), have.end());
        // One value that is a prefix of the other (app=payment-service vs app=payment).
        std::vector<std::string> prefixed;
        for (const auto& p : have)
          if (want.rfind(p, 0) == 0 || p.rfind(want, 0) == 0) prefixed.push_back(p);
        if (prefixed.size() == 1) return fmt::format("no {} has {}; did you mean {}?", what, want, prefixed[0]);
        std::string values;
        for (size_t i = 0; i < have.size() && i < 4; ++i) values += (i ? ", " : "") + have[i];
        if (have.size() > 4) values += fmt::format(" (+{} more)", have.size() - 4);
        return fmt::format("no {} has {}; {}s have {}", what, want, what, values);
      }
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
        std::set<std::string> elsewhere;  // namespaces where the pod selector alone would match
        for (const auto& e : m.endpoints) {
          if (e.host_network) continue;
          if (pe->sel.ns.matches(m.ns_labels(e)))
            pod_labels.push_back(&e.labels);
          else if (!pe->sel.pod.matches_all() && pe->sel.pod.matches(e.labels))
            elsewhere.insert(m.ns(e.ns).name);
        }
        std::string hint = label_hint(pe->sel.pod, pod_labels, "pod");
        if (!elsewhere.empty()) {
          std::string names;
          for (const auto& n : elsewhere) names += (names.empty() ? "'" : ", '") + n + "'";
          hint = fmt::format("the pods matching {} are in namespace {}; to select them, {}", pe->sel.pod.str(), names,
                             pol.kind == ir::PolicyKind::NetworkPolicy
                                 ? "put a namespaceSelector and this podSelector in the same peer"
                                 : "add the label k8s:io.kubernetes.pod.namespace to this selector");
        }
        l.report(pol.id, DiagId::PeerMatchesNothing, peer.loc,
                 fmt::format("{} peer matches no pod ({})", r.path, pe->sel.str()), hint);
      }
    }
  }
}

}  // namespace polc::verifier
