#include "polc/ir/evaluator.h"

#include <algorithm>
#include <cassert>
#include <cctype>

namespace polc::ir {

const char* reason_name(Reason r) {
  switch (r) {
    case Reason::Unmanaged: return "unmanaged";
    case Reason::SelfTraffic: return "self";
    case Reason::FromOwnNode: return "from-own-node";
    case Reason::NotIsolated: return "not-isolated";
    case Reason::AllowedByRule: return "allowed-by-rule";
    case Reason::DeniedByRule: return "denied-by-rule";
    case Reason::NoRuleMatched: return "no-rule-matched";
    case Reason::L7Denied: return "l7-denied";
    case Reason::OrderedAllow: return "ordered-allow";
    case Reason::OrderedDeny: return "ordered-deny";
  }
  return "?";
}

Resolved resolve_address(const Model& m, const Address& a) {
  Resolved r;
  if (const auto* id = std::get_if<EndpointId>(&a.v)) {
    assert(id->v < m.endpoints.size() && "probe names an unknown endpoint");
    const Endpoint& e = m.endpoint(*id);
    r.ip = e.ip;
    r.node = e.node;
    if (e.host_network) {
      r.kind = Resolved::Kind::Node;
    } else {
      r.kind = Resolved::Kind::Pod;
      r.ep = e.id;
    }
    return r;
  }
  r.ip = std::get<Ipv4>(a.v);
  if (auto ep = m.endpoint_by_ip(r.ip)) {
    r.kind = Resolved::Kind::Pod;
    r.ep = *ep;
    r.node = m.endpoint(*ep).node;
  } else if (auto n = m.node_by_ip(r.ip)) {
    r.kind = Resolved::Kind::Node;
    r.node = *n;
  }
  return r;
}

bool peer_matches(const Model& m, const Policy& pol, const Peer& peer, const Endpoint& subject,
                  const Resolved& remote) {
  using K = Resolved::Kind;
  if (const auto* pe = std::get_if<PeerEndpoints>(&peer.v)) {
    if (remote.kind != K::Pod) return false;
    const Endpoint& r = m.endpoint(remote.ep);
    return pe->sel.matches(m.ns_labels(r), r.labels);
  }
  if (const auto* pc = std::get_if<PeerCidr>(&peer.v)) {
    if (!pc->matches_cluster && remote.kind != K::External) return false;
    return pc->contains(remote.ip);
  }
  if (const auto* en = std::get_if<PeerEntity>(&peer.v)) {
    bool is_apiserver = std::find(m.config.apiserver_ips.begin(), m.config.apiserver_ips.end(), remote.ip) !=
                        m.config.apiserver_ips.end();
    switch (en->entity) {
      case Entity::All: return true;
      case Entity::World: return remote.kind == K::External && !is_apiserver;
      case Entity::Cluster: return remote.kind != K::External || is_apiserver;  // includes kube-apiserver
      case Entity::Host: return remote.kind == K::Node && remote.node == subject.node;
      case Entity::RemoteNode: return remote.kind == K::Node && remote.node != subject.node;
      case Entity::KubeApiserver: return is_apiserver;
      case Entity::Init:
      case Entity::Health:
      case Entity::Unmanaged:
      case Entity::Ingress: return false;
    }
    return false;
  }
  (void)pol;
  return false;  // PeerUnresolved matches nothing
}

bool port_matches(const PortMatch& pm, uint8_t proto, uint16_t port, const Endpoint* dst) {
  if (!pm.protos.contains(proto)) return false;
  if (pm.named.empty()) return pm.range.contains(port);
  if (dst == nullptr) return false;
  for (const auto& cp : dst->ports)
    if (cp.name == pm.named && cp.proto == proto && cp.port == port) return true;
  return false;
}

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

bool http_matches(const HttpMatch& hm, const HttpRequest& req) {
  if (hm.method && !hm.method->full_match(req.method)) return false;
  if (hm.path && !hm.path->full_match(req.path)) return false;
  if (hm.host && !hm.host->full_match(req.host)) return false;
  for (const auto& h : hm.headers) {
    bool found = false;
    for (const auto& [name, value] : req.headers)
      if (iequals(name, h.name) && (!h.value || *h.value == value)) found = true;
    if (!found) return false;
  }
  return true;
}

namespace {

/// The rule's port groups that match the packet (all of them when the rule lists none).
struct PortHit {
  bool matched = false;
  bool l4_only = false;  ///< some matching group has no L7 restriction
  bool l7_ok = false;    ///< some matching L7 group matches the HTTP request
};

PortHit match_ports(const Rule& r, const Probe& p, const Endpoint* dst_pod) {
  PortHit h;
  if (r.ports.empty()) {
    h.matched = h.l4_only = true;
    return h;
  }
  for (const auto& g : r.ports) {
    bool any = g.ports.empty();
    for (const auto& pm : g.ports)
      if (port_matches(pm, p.proto, p.port, dst_pod)) any = true;
    if (!any) continue;
    h.matched = true;
    if (!g.has_l7()) {
      h.l4_only = true;
    } else if (p.http) {
      for (const auto& hm : g.http)
        if (http_matches(hm, *p.http)) h.l7_ok = true;
    }
  }
  return h;
}

bool rule_peer_matches(const Model& m, const Rule& r, const Endpoint& subject, const Resolved& remote) {
  const Policy& pol = m.policy(r.policy);
  return std::any_of(r.peers.begin(), r.peers.end(),
                     [&](const Peer& peer) { return peer_matches(m, pol, peer, subject, remote); });
}

DirectionVerdict evaluate_direction(const Model& m, Direction dir, const Endpoint& subject, const Resolved& remote,
                                    const Probe& p) {
  DirectionVerdict v;
  v.dir = dir;
  // Named ports resolve against the destination pod: the subject for ingress, the remote for egress.
  const Endpoint* dst_pod = nullptr;
  if (dir == Direction::Ingress)
    dst_pod = &subject;
  else if (remote.kind == Resolved::Kind::Pod)
    dst_pod = &m.endpoint(remote.ep);

  const auto& selecting = m.policies_selecting(subject.id);

  // Ordered policies (tiers) first: the first matching rule decides; Pass skips to the next layer.
  std::vector<const Policy*> ordered;
  for (auto pid : selecting)
    if (m.policy(pid).tier && *m.policy(pid).tier < 1000) ordered.push_back(&m.policy(pid));
  std::stable_sort(ordered.begin(), ordered.end(), [](const Policy* a, const Policy* b) {
    return std::pair(*a->tier, a->order) < std::pair(*b->tier, b->order);
  });
  for (const Policy* pol : ordered) {
    for (auto rid : pol->rules) {
      const Rule& r = m.rule(rid);
      if (r.dir != dir || !rule_peer_matches(m, r, subject, remote)) continue;
      if (!match_ports(r, p, dst_pod).matched) continue;
      if (r.action == Action::Pass) goto default_layer;
      v.allowed = r.action == Action::Allow;
      v.reason = v.allowed ? Reason::OrderedAllow : Reason::OrderedDeny;
      v.rules = {rid};
      return v;
    }
  }
default_layer:
  std::vector<RuleId> allows_l4, allows_l7_match, allows_l7_other, denies;
  bool isolated = false;
  for (auto pid : selecting) {
    const Policy& pol = m.policy(pid);
    if (pol.tier) continue;
    if (pol.isolates[static_cast<int>(dir)]) {
      isolated = true;
      v.isolating.push_back(pid);
    }
    for (auto rid : pol.rules) {
      const Rule& r = m.rule(rid);
      if (r.dir != dir || !rule_peer_matches(m, r, subject, remote)) continue;
      PortHit h = match_ports(r, p, dst_pod);
      if (!h.matched) continue;
      if (r.action == Action::Deny) {
        denies.push_back(rid);
      } else if (r.action == Action::Allow) {
        if (h.l4_only)
          allows_l4.push_back(rid);
        else if (h.l7_ok)
          allows_l7_match.push_back(rid);
        else
          allows_l7_other.push_back(rid);
      }
    }
  }
  if (!denies.empty()) {
    v.allowed = false;
    v.reason = Reason::DeniedByRule;
    v.rules = denies;
    return v;
  }
  // enableDefaultDeny does not apply to L7: an L7 allow with no L4-only allow for this peer and
  // port still filters requests where nothing isolates the subject (Cilium policy intro.rst).
  bool l7_filters = allows_l4.empty() && (!allows_l7_match.empty() || !allows_l7_other.empty());
  if (!isolated && !l7_filters) {
    // Baseline ordered policies (tier >= 1000) only speak where nothing isolates.
    std::vector<const Policy*> baseline;
    for (auto pid : selecting)
      if (m.policy(pid).tier && *m.policy(pid).tier >= 1000) baseline.push_back(&m.policy(pid));
    std::stable_sort(baseline.begin(), baseline.end(), [](const Policy* a, const Policy* b) {
      return std::pair(*a->tier, a->order) < std::pair(*b->tier, b->order);
    });
    for (const Policy* pol : baseline)
      for (auto rid : pol->rules) {
        const Rule& r = m.rule(rid);
        if (r.dir != dir || r.action == Action::Pass || !rule_peer_matches(m, r, subject, remote)) continue;
        if (!match_ports(r, p, dst_pod).matched) continue;
        v.allowed = r.action == Action::Allow;
        v.reason = v.allowed ? Reason::OrderedAllow : Reason::OrderedDeny;
        v.rules = {rid};
        return v;
      }
    v.allowed = true;
    v.reason = Reason::NotIsolated;
    return v;
  }
  if (!allows_l4.empty()) {
    v.allowed = true;
    v.reason = Reason::AllowedByRule;
    v.rules = allows_l4;
    return v;
  }
  if (!allows_l7_match.empty() || !allows_l7_other.empty()) {
    if (!p.http) {  // an L4 probe: the connection opens, requests are filtered
      v.allowed = true;
      v.reason = Reason::AllowedByRule;
      v.l7_restricted = true;
      v.rules = allows_l7_other;
      return v;
    }
    if (!allows_l7_match.empty()) {
      v.allowed = true;
      v.reason = Reason::AllowedByRule;
      v.rules = allows_l7_match;
      return v;
    }
    v.allowed = false;
    v.reason = Reason::L7Denied;
    v.rules = allows_l7_other;
    return v;
  }
  v.allowed = false;
  v.reason = Reason::NoRuleMatched;
  return v;
}

}  // namespace

Verdict evaluate(const Model& m, const Probe& p) {
  Resolved src = resolve_address(m, p.src);
  Resolved dst = resolve_address(m, p.dst);
  Verdict v;
  v.egress.dir = Direction::Egress;
  v.ingress.dir = Direction::Ingress;
  bool self = src.ip == dst.ip && src.kind == Resolved::Kind::Pod && dst.kind == Resolved::Kind::Pod;
  if (self) {
    v.egress.reason = v.ingress.reason = Reason::SelfTraffic;
    return v;
  }
  if (src.kind == Resolved::Kind::Pod) v.egress = evaluate_direction(m, Direction::Egress, m.endpoint(src.ep), dst, p);
  if (dst.kind == Resolved::Kind::Pod) {
    const Endpoint& d = m.endpoint(dst.ep);
    if (m.config.allow_from_own_node && src.kind == Resolved::Kind::Node && src.node == d.node) {
      v.ingress.reason = Reason::FromOwnNode;
    } else {
      v.ingress = evaluate_direction(m, Direction::Ingress, d, src, p);
    }
  }
  v.allowed = v.egress.allowed && v.ingress.allowed;
  return v;
}

}  // namespace polc::ir
