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
};

}  // namespace

void check_redundancy(Linter& l) {
  const ir::Model& m = l.m;
  const auto& t = l.tables();
  if (!l.has_pods()) return;
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
          const ir::Endpoint* dst = r.dir == ir::Direction::Ingress ? &subject
                                    : t.class_rep[k].kind == ir::Resolved::Kind::Pod ? &m.endpoint(t.class_rep[k].ep)
                                                                                     : nullptr;
          const auto& f = t.function(c.id, r.dir, static_cast<uint32_t>(k));
          for (int b = 0; b < ir::kProtoBuckets; ++b) {
            uint8_t proto = b == 0 ? 6 : b == 1 ? 17 : b == 2 ? 132 : b == 3 ? 1 : 47;
            for (const auto& seg : f.buckets[b]) {
              // Does the rule match this segment? (Segments never straddle a rule's port boundary.)
              bool hit = r.ports.empty();
              for (const auto& g : r.ports) {
                if (g.ports.empty()) hit = true;
                for (const auto& pm : g.ports) hit = hit || ir::port_matches(pm, proto, seg.lo, dst);
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
              bool other = false;
              for (auto x : rules)
                if (x != rid) {
                  other = true;
                  cv.covering.insert(x);
                }
              if (!other) cv.sole = true;
            }
          }
        }
      }
    }
  }
  // A deny overlaps allowed traffic when some allow rule it kills exists.
  for (auto& [rid, cv] : cov)
    for (auto d : cv.denying) cov[d].overlaps_allow = true;

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
    if (cv.live && !cv.sole && !cv.covering.empty()) {
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
                           (a.protos.bits() & ~b.protos.bits()) == 0 && (a.range != b.range || a.protos != b.protos || i > j);
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
    for (size_t i = 0; i < r.peers.size(); ++i) {
      if (sets[i].empty()) continue;
      for (size_t j = 0; j < r.peers.size(); ++j) {
        if (i == j) continue;
        bool sub = std::includes(sets[j].begin(), sets[j].end(), sets[i].begin(), sets[i].end());
        if (sub && (sets[i] != sets[j] || i > j)) {
          auto* d = l.report(r.policy, DiagId::RedundantPeer, r.peers[i].loc,
                             fmt::format("peer '{}' adds nothing: '{}' in the same rule already matches everything it "
                                         "matches in the inventory",
                                         r.peers[i].str(), r.peers[j].str()));
          if (d) d->notes.push_back({r.peers[j].loc, "covering peer"});
          break;
        }
      }
    }
  }
}

}  // namespace polc::verifier
