// Lint: named ports nobody declares, allowed ports nobody listens on, broad CIDRs and allows.
#include <fmt/format.h>

#include "lint_context.h"

namespace polc::verifier {

using ir::DiagId;

namespace {

/// Destination pods of a rule: the policy's pods for ingress, the peers' pods for egress.
std::vector<ir::EndpointId> destination_pods(const Linter& l, const ir::Rule& r) {
  const ir::Model& m = l.m;
  if (r.dir == ir::Direction::Ingress) return l.selected_pods(r.policy);
  std::vector<ir::EndpointId> out;
  auto subjects = l.selected_pods(r.policy);
  if (subjects.empty()) return out;
  const ir::Endpoint& subject = m.endpoint(subjects.front());
  const ir::Policy& pol = m.policy(r.policy);
  for (const auto& e : m.endpoints) {
    if (e.host_network) continue;
    ir::Resolved rem{ir::Resolved::Kind::Pod, e.id, e.node, e.ip};
    for (const auto& peer : r.peers)
      if (ir::peer_matches(m, pol, peer, subject, rem)) {
        out.push_back(e.id);
        break;
      }
  }
  return out;
}

}  // namespace

void check_ports(Linter& l) {
  const ir::Model& m = l.m;
  if (!l.has_pods()) return;
  for (const auto& r : m.rules) {
    if (r.action == ir::Action::Deny) continue;
    std::optional<std::vector<ir::EndpointId>> dst;
    for (const auto& g : r.ports)
      for (const auto& pm : g.ports) {
        if (!dst) dst = destination_pods(l, r);
        if (dst->empty()) continue;
        if (!pm.named.empty()) {
          bool declared = false;
          std::vector<std::string> names;
          for (auto ep : *dst)
            for (const auto& cp : m.endpoint(ep).ports) {
              if (cp.name == pm.named && pm.protos.contains(cp.proto)) declared = true;
              if (!cp.name.empty() && cp.name != pm.named) names.push_back(cp.name);
            }
          auto best = ir::closest_match(pm.named, names);
          if (!declared)
            l.report(r.policy, DiagId::UndeclaredNamedPort, pm.loc,
                     fmt::format("no destination pod declares a port named '{}' ({}: {})", pm.named,
                                 r.dir == ir::Direction::Ingress ? "selected pods" : "peer pods", l.pod_list(*dst)),
                     best ? fmt::format("did you mean '{}'?", *best)
                          : "name the container port in the pod spec, or use the port number");
          continue;
        }
        bool has_ports = pm.protos.contains(6) || pm.protos.contains(17) || pm.protos.contains(132);
        if (r.dir != ir::Direction::Ingress || pm.range.is_all() || !has_ports) continue;
        bool any_declared = false, listening = false;
        std::set<std::string> declared;
        for (auto ep : *dst)
          for (const auto& cp : m.endpoint(ep).ports) {
            any_declared = true;
            declared.insert(fmt::format("{}/{}", cp.port, ir::protocol_name(cp.proto)));
            if (pm.protos.contains(cp.proto) && pm.range.contains(cp.port)) listening = true;
          }
        if (any_declared && !listening) {
          std::string list;
          for (const auto& d : declared) list += (list.empty() ? "" : ", ") + d;
          l.report(r.policy, DiagId::PortNotListening, pm.loc,
                   fmt::format("no selected pod declares a container port in {} (they declare {})", pm.str(), list),
                   "policies apply to the pod's port (a service's targetPort), not the service port");
        }
      }
  }
}

void check_cidrs(Linter& l) {
  const ir::Model& m = l.m;
  for (const auto& r : m.rules) {
    if (r.action != ir::Action::Allow) continue;
    for (const auto& peer : r.peers) {
      if (const auto* c = std::get_if<ir::PeerCidr>(&peer.v)) {
        if (c->matches_cluster && c->cidr.overlaps(m.config.pod_cidr)) {
          bool excluded = std::any_of(c->except.begin(), c->except.end(),
                                      [&](const ir::Cidr& x) { return x.contains(m.config.pod_cidr); });
          if (!excluded)
            l.report(r.policy, DiagId::IpBlockOverlapsPods, peer.loc,
                     fmt::format("ipBlock {} overlaps the pod network {}; whether an ipBlock matches pod traffic "
                                 "differs between CNIs (Cilium never matches pods with it)",
                                 c->cidr.str(), m.config.pod_cidr.str()),
                     fmt::format("select pods with podSelector/namespaceSelector, and add 'except: [{}]'",
                                 m.config.pod_cidr.str()));
        }
        if (c->cidr.len == 0 && c->except.empty() && r.dir == ir::Direction::Ingress)
          l.report(r.policy, DiagId::OverlyBroadAllow, peer.loc, "allows ingress from every address (0.0.0.0/0)");
      } else if (const auto* e = std::get_if<ir::PeerEntity>(&peer.v)) {
        if (r.dir == ir::Direction::Ingress && (e->entity == ir::Entity::All || e->entity == ir::Entity::World)) {
          bool implicit = peer.loc == r.loc;  // a rule without 'from' (Kubernetes) or any from* peer (Cilium)
          bool knp = m.policy(r.policy).kind == ir::PolicyKind::NetworkPolicy;
          l.report(r.policy, DiagId::OverlyBroadAllow, peer.loc,
                   implicit ? fmt::format("{} has no {}: it allows ingress from every source", r.path,
                                          knp ? "'from'" : "peer (fromEndpoints, fromCIDR, fromEntities, ...)")
                            : fmt::format("allows ingress from entity '{}'", ir::entity_name(e->entity)));
        }
      } else if (const auto* pe = std::get_if<ir::PeerEndpoints>(&peer.v)) {
        bool knp_egress = r.dir == ir::Direction::Egress && m.policy(r.policy).kind == ir::PolicyKind::NetworkPolicy;
        if (pe->sel.ns.matches_all() && pe->sel.pod.matches_all())
          l.report(r.policy, DiagId::OverlyBroadAllow, peer.loc,
                   fmt::format("allows {} every pod in every namespace",
                               r.dir == ir::Direction::Ingress ? "ingress from" : "egress to"),
                   knp_egress ? "'namespaceSelector: {}' selects pods only, not the internet: external addresses "
                                "need an ipBlock"
                              : "");
      }
    }
  }
}

}  // namespace polc::verifier
