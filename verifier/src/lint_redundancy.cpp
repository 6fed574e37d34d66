// Lint: redundant rules, peers and ports, allows made dead by denies, and useless denies.
// Rule-level facts are decided on the policy tables, i.e. for the pods in the inventory;
// peer/port overlaps inside one rule are decided syntactically.
#include <fmt/format.h>

#include <map>
#include <set>

#include "lint_context.h"

namespace polc::verifier {

using ir::DiagId;

namespace {

/// What happens to the traffic a rule matches, over every (context, class, port segment).
struct Coverage {
  bool matched = false;           ///< the rule matches some traffic
  bool sole = false;              ///< somewhere it is the only rule allowing it
  bool live = false;              ///< somewhere its traffic is allowed (not denied)
  std::set<ir::RuleId> covering;  ///< other rules allowing the same traffic
  std::set<ir::RuleId> denying;   ///< deny rules killing it
  bool overlaps_allow = false;    ///< deny: somewhere its traffic would otherwise be allowed
  std::set<uint32_t> allow_sets;  ///< rule sets (PolicyTables::rule_sets) of its Allow segments
};

/// Whether port group member `pm` matches some port of `proto` in [lo, hi] towards `dst`.
/// Segments with one outcome and rule set are merged, so a Deny or DefaultAllow segment may
/// straddle the port boundaries of an allow rule: test the overlap, not one port.
bool port_overlaps(const ir::PortMatch& pm, uint8_t proto, uint16_t lo, uint16_t hi, const ir::Endpoint* dst) {
  if (!pm.protos.contains(proto)) return false;
  if (pm.named.empty()) return pm.range.lo <= hi && lo <= pm.range.hi;
  if (dst == nullptr) return false;
  for (const auto& cp : dst->ports)
    if (cp.name == pm.named && cp.proto == proto && lo <= cp.port && cp.port <= hi) return true;
  return false;
}

}  // namespace

void check_redundancy(Linter& l) {
  const ir::Model& m = l.m;
  const auto& t = l.tables();
  // Without pods there are no contexts, so only the syntactic redundant-port check reports.
  std::map<ir::RuleId, Coverage> cov;
  for (const auto& c : t.contexts) {
    const ir::Endpoint& subject = m.endpoint(c.endpoints.front());
    for (auto pid : c.policies) {
      const ir::Policy& pol = m.policy(pid);
      for (auto rid : pol.rules) {
        const ir::Rule& r = m.rule(rid);
        if (r.action == ir::Action::Pass) continue;
        bool has_l7 = std::any_of(r.ports.begin(), r.ports.end(), [](const ir::PortGroup& g) { return g.has_l7(); });
        if (has_l7) continue;  // L7 coverage is a different question (see l7-ineffective)
        Coverage& cv = cov[rid];
        for (size_t k = 0; k < t.classes.size(); ++k) {
          bool peer = std::any_of(r.peers.begin(), r.peers.end(), [&](const ir::Peer& p) {
            return ir::peer_matches(m, pol, p, subject, t.class_rep[k]);
          });
          if (!peer) continue;
          const ir::Endpoint* dst = r.dir == ir::Direction::Ingress                  ? &subject
                                    : t.class_rep[k].kind == ir::Resolved::Kind::Pod ? &m.endpoint(t.class_rep[k].ep)
                                                                                     : nullptr;
          const auto& f = t.function(c.id, r.dir, static_cast<uint32_t>(k));
          for (int b = 0; b < ir::kProtoBuckets; ++b) {
            uint8_t proto = b == 0 ? 6 : b == 1 ? 17 : b == 2 ? 132 : b == 3 ? 1 : 47;
            for (const auto& seg : f.buckets[b]) {
              // Does the rule match some port of this segment?
              bool hit = r.ports.empty();
              for (const auto& g : r.ports) {
                if (g.ports.empty()) hit = true;
                for (const auto& pm : g.ports) hit = hit || port_overlaps(pm, proto, seg.lo, seg.hi, dst);
              }
              if (!hit) continue;
              cv.matched = true;
              const auto& rules = t.rule_sets[seg.rules];
              if (r.action == ir::Action::Deny) {
                // Would this traffic be allowed without the denies?
                if (c.isolated[static_cast<int>(r.dir)] == false) cv.overlaps_allow = true;
                continue;
              }
              if (seg.outcome == ir::Outcome::Deny) {
                for (auto d : rules) cv.denying.insert(d);
                continue;
              }
              cv.live = true;
              if (seg.outcome != ir::Outcome::Allow) continue;
              cv.allow_sets.insert(seg.rules);
              if (rules.size() == 1) cv.sole = true;
            }
          }
        }
      }
    }
  }
  // A deny overlaps allowed traffic when some allow rule it kills exists.
  for (auto& [rid, cv] : cov)
    for (auto d : cv.denying) cov[d].overlaps_allow = true;

  // Redundancy is decided against the rules that stay: of two rules covering each other only
  // the later one is reported (rules are visited last first and drop out once reported).
  std::set<ir::RuleId> dropped;
  for (auto it = cov.rbegin(); it != cov.rend(); ++it) {
    auto& [rid, cv] = *it;
    if (m.rule(rid).action != ir::Action::Allow || !cv.live || cv.sole || cv.allow_sets.empty()) continue;
    std::set<ir::RuleId> covering;
    bool covered = true;
    for (auto set : cv.allow_sets) {
      bool other = false;
      for (auto x : t.rule_sets[set])
        if (x != rid && !dropped.count(x)) {
          other = true;
          covering.insert(x);
        }
      covered = covered && other;
    }
    if (!covered) continue;
    cv.covering = std::move(covering);
    dropped.insert(rid);
  }

  for (const auto& [rid, cv] : cov) {
    const ir::Rule& r = m.rule(rid);
    if (!cv.matched) continue;  // matches nothing in the inventory: see peer-matches-nothing
    if (r.action == ir::Action::Deny) {
      if (!cv.overlaps_allow)
        l.report(r.policy, DiagId::UselessDeny, r.loc,
                 fmt::format("deny rule {} overlaps no allowed traffic: what it denies is denied anyway", r.path));
      continue;
    }
    if (!cv.live && !cv.denying.empty()) {
      auto* d = l.report(r.policy, DiagId::ShadowedRule, r.loc,
                         fmt::format("allow rule {} never takes effect: deny rules block all of its traffic", r.path),
                         "remove the rule, or narrow the deny");
      if (d)
        for (auto x : cv.denying) d->notes.push_back({m.rule(x).loc, "denied by " + l.where_rule(x)});
      continue;
    }
    if (dropped.count(rid)) {
      auto* d = l.report(r.policy, DiagId::RedundantRule, r.loc,
                         fmt::format("rule {} is redundant: other rules already allow all of its traffic", r.path),
                         "remove it, or narrow the covering rules if this one states the intent");
      if (d) {
        size_t n = 0;
        for (auto x : cv.covering) {
          if (++n > 5) break;
          d->notes.push_back({m.rule(x).loc, "covered by " + l.where_rule(x)});
        }
      }
    }
  }

  // Inside one rule: a port range contained in another of the same group, or a peer whose pods
  // another peer of the rule already matches.
  for (const auto& r : m.rules) {
    for (const auto& g : r.ports)
      for (size_t i = 0; i < g.ports.size(); ++i)
        for (size_t j = 0; j < g.ports.size(); ++j) {
          const auto &a = g.ports[i], &b = g.ports[j];
          if (i == j || !a.named.empty() || !b.named.empty()) continue;
          bool contained = b.range.lo <= a.range.lo && a.range.hi <= b.range.hi &&
                           (a.protos.bits() & ~b.protos.bits()) == 0 &&
                           (a.range != b.range || a.protos != b.protos || i > j);
          if (contained) {
            auto* d = l.report(r.policy, DiagId::RedundantPort, a.loc,
                               fmt::format("port {} is already covered by {} in the same rule", a.str(), b.str()));
            if (d) d->notes.push_back({b.loc, "covering port"});
            break;
          }
        }
    if (!l.has_pods() || r.peers.size() < 2) continue;
    auto subjects = l.selected_pods(r.policy);
    if (subjects.empty()) continue;
    const ir::Endpoint& subject = m.endpoint(subjects.front());
    const ir::Policy& pol = m.policy(r.policy);
    std::vector<std::set<uint32_t>> sets(r.peers.size());
    for (size_t i = 0; i < r.peers.size(); ++i)
      for (size_t k = 0; k < t.classes.size(); ++k)
        if (ir::peer_matches(m, pol, r.peers[i], subject, t.class_rep[k])) sets[i].insert(static_cast<uint32_t>(k));
    // Later peers first, so of two equal peers the later one is reported; a reported peer no
    // longer covers others, and the largest covering peer is named.
    std::vector<bool> dropped_peer(r.peers.size());
    for (size_t i = r.peers.size(); i-- > 0;) {
      if (sets[i].empty()) continue;
      std::optional<size_t> best;
      for (size_t j = 0; j < r.peers.size(); ++j) {
        if (i == j || dropped_peer[j]) continue;
        if (!std::includes(sets[j].begin(), sets[j].end(), sets[i].begin(), sets[i].end())) continue;
        if (!best || sets[j].size() > sets[*best].size()) best = j;
      }
      if (!best) continue;
      dropped_peer[i] = true;
      auto* d = l.report(r.policy, DiagId::RedundantPeer, r.peers[i].loc,
                         fmt::format("peer '{}' adds nothing: '{}' in the same rule already matches everything it "
                                     "matches in the inventory",
                                     r.peers[i].str(), r.peers[*best].str()));
      if (d) d->notes.push_back({r.peers[*best].loc, "covering peer"});
    }
  }
}

}  // namespace polc::verifier
