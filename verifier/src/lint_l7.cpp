// Lint: L7 HTTP rules that can never match, bad methods, and L7 rules made moot by L4 allows.
#include <fmt/format.h>

#include "lint_context.h"

namespace polc::verifier {

using ir::DiagId;

namespace {

const std::vector<std::string> kMethods{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

/// Whether some string accepted from state `s` exists.
bool live(const ir::Dfa& d, uint32_t s) {
  std::vector<bool> seen(d.size());
  std::vector<uint32_t> work{s};
  seen[s] = true;
  while (!work.empty()) {
    uint32_t x = work.back();
    work.pop_back();
    if (d.accepting[x]) return true;
    for (auto t : d.next[x])
      if (!seen[t]) {
        seen[t] = true;
        work.push_back(t);
      }
  }
  return false;
}

void check_regexes(Linter& l, const ir::Rule& r, const ir::HttpMatch& h) {
  auto never = [&](const ir::Regex& re, const char* field) {
    ir::Dfa d = ir::build_dfa(*re.root);
    if (d.size() == 0) return false;  // too large to decide; assume fine
    if (d.empty()) {
      l.report(r.policy, DiagId::L7NeverMatches, re.loc,
               fmt::format("HTTP {} pattern '{}' matches nothing", field, re.source));
      return true;
    }
    return false;
  };
  if (h.method && !never(*h.method, "method")) {
    bool any =
        std::any_of(kMethods.begin(), kMethods.end(), [&](const std::string& m) { return h.method->full_match(m); });
    if (!any) {
      auto best = ir::closest_match(h.method->source, kMethods);
      l.report(r.policy, DiagId::L7InvalidMethod, h.method->loc,
               fmt::format("HTTP method pattern '{}' matches no HTTP method", h.method->source),
               best ? fmt::format("did you mean '{}'?", *best) : "methods are upper-case, e.g. GET, POST");
    }
  }
  if (h.path && !never(*h.path, "path")) {
    ir::Dfa d = ir::build_dfa(*h.path->root);
    if (d.size() > 0 && !live(d, d.next[0]['/']))
      l.report(r.policy, DiagId::L7NeverMatches, h.path->loc,
               fmt::format("HTTP path pattern '{}' matches no request path: paths start with '/'", h.path->source),
               fmt::format("did you mean '/{}'?", h.path->source));
  }
  if (h.host) never(*h.host, "host");
}

}  // namespace

void check_l7(Linter& l) {
  const ir::Model& m = l.m;
  const auto& t = l.tables();
  for (const auto& r : m.rules) {
    if (r.action != ir::Action::Allow) continue;
    for (uint32_t gi = 0; gi < r.ports.size(); ++gi) {
      const auto& g = r.ports[gi];
      if (!g.has_l7()) continue;
      for (const auto& h : g.http) check_regexes(l, r, h);
      // Moot L7: wherever this rule applies, an L4-only allow on the same port lets everything through.
      std::optional<ir::RuleId> l4;
      const ir::Policy& pol = m.policy(r.policy);
      for (const auto& c : t.contexts) {
        if (!std::binary_search(c.policies.begin(), c.policies.end(), r.policy)) continue;
        const ir::Endpoint& subject = m.endpoint(c.endpoints.front());
        for (size_t k = 0; k < t.classes.size() && !l4; ++k) {
          bool peer = std::any_of(r.peers.begin(), r.peers.end(), [&](const ir::Peer& p) {
            return ir::peer_matches(m, pol, p, subject, t.class_rep[k]);
          });
          if (!peer) continue;
          const ir::Endpoint* dst = r.dir == ir::Direction::Ingress                  ? &subject
                                    : t.class_rep[k].kind == ir::Resolved::Kind::Pod ? &m.endpoint(t.class_rep[k].ep)
                                                                                     : nullptr;
          for (const auto& pm : g.ports) {
            std::vector<uint16_t> ports;
            if (pm.named.empty()) {
              ports.push_back(pm.range.lo);
            } else if (dst) {
              for (const auto& cp : dst->ports)
                if (cp.name == pm.named && cp.proto == 6) ports.push_back(cp.port);
            }
            for (auto port : ports) {
              const auto& seg = t.function(c.id, r.dir, static_cast<uint32_t>(k)).at(6, port);
              if (seg.outcome == ir::Outcome::Allow && !t.rule_sets[seg.rules].empty())
                l4 = t.rule_sets[seg.rules].front();
            }
          }
        }
        if (l4) break;
      }
      if (l4) {
        auto* d = l.report(r.policy, DiagId::L7Ineffective, g.loc,
                           fmt::format("the HTTP rules of {} have no effect: {} allows the same traffic at L4, so "
                                       "every request passes",
                                       r.path, l.where_rule(*l4)),
                           "remove the L4-only allow for this port, or add the same HTTP rules to it");
        if (d) d->notes.push_back({m.rule(*l4).loc, "L4-only allow for the same peer and port"});
      }
    }
  }
}

}  // namespace polc::verifier
