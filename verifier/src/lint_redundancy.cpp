// Lint: redundant rules, peers and ports, allows made dead by denies (shadowed), and denies that
// overlap no allowed traffic (useless), proved with Z3 on the encoding of `polc query`.
//
// Every (policy, direction) gets a universe: the Encoder of the question "a packet between any
// pod the policy selects and anything" (the subject side is a hypothetical pod: any labels that
// the policy's selector admits, in its namespace; the remote side is every existing pod and
// node, any pod that could exist, and any external address; any protocol and port). A claim is
// proved by asking for a packet that refutes it, under assumptions that map back to rules:
//   redundant  r (or one peer / port of r) matches, no deny matches, and no other allow rule
//              (or other peer / port of r) matches at L4: unsat. The minimized unsat core names
//              the covering rules.
//   shadowed   r matches and no deny matches: unsat. The core names the denies.
//   useless    deny d matches and the packet would be allowed without the denies (some allow
//              matches, or nothing isolates the subject): unsat.
// What is proved there holds for every pod that could exist (no inventory needed). When it does
// not, and the input has pods, the same question is asked with both sides limited to the
// inventory (existing pods and nodes, and external addresses); a finding proved only there says
// so, and shows the packet of a pod that could exist for which the claim fails.
#include <fmt/format.h>
#include <z3++.h>

#include <map>
#include <memory>
#include <set>

#include "encoder.h"
#include "lint_context.h"
#include "polc/verifier/explain.h"

namespace polc::verifier {

using ir::DiagId;

namespace {

/// One (policy, direction) question and its solver.
struct Universe {
  explicit Universe(z3::context& c) : would_deny(c) {}
  ReachQuery q;
  std::unique_ptr<z3::solver> s;
  std::unique_ptr<Encoder> e;
  const DirectionVars* d = nullptr;
  std::map<ir::RuleId, const DirectionVars::RuleVars*> rules;
  z3::expr would_deny;             ///< no allow matches and some policy isolates the subject
  std::vector<z3::expr> readable;  ///< preferences for a readable refutation (an existing remote)
  bool empty = false;              ///< no packet at all (no pod of the inventory is selected)
};

/// A hypothesis that may cover a claim: "this rule (part) does not match".
struct Cover {
  enum class Kind { Rule, Peer, Port, Deny } kind = Kind::Rule;
  ir::RuleId rule;
  size_t peer = 0;
  std::pair<size_t, size_t> port{0, 0};
  z3::expr lit;  ///< the indicator; the assumption is its negation
};

struct Proof {
  bool proved = false;
  std::vector<Cover> core;  ///< minimized: every cover is needed
  std::optional<Packet> refutation;
};

class Prover {
 public:
  explicit Prover(const ir::Model& m) : m_(m) {}

  /// The universe of `pid` in `dir`: symbolic (any pod), or limited to the inventory.
  Universe& universe(ir::PolicyId pid, ir::Direction dir, bool inventory) {
    auto key = std::make_tuple(pid.v, static_cast<int>(dir), inventory);
    auto it = cache_.find(key);
    if (it != cache_.end()) return *it->second;
    auto u = std::make_unique<Universe>(c_);
    build(*u, pid, dir, inventory);
    return *cache_.emplace(key, std::move(u)).first->second;
  }

  /// A fresh literal equal to `e` in `u`'s solver.
  z3::expr literal(Universe& u, const z3::expr& e) {
    z3::expr lit = c_.bool_const(("lint_lit_" + std::to_string(next_++)).c_str());
    u.s->add(lit == e);
    return lit;
  }

  /// Whether `claim` is satisfiable in `u` at all.
  bool possible(Universe& u, const z3::expr& claim) {
    if (u.empty) return false;
    return check(u, {claim});
  }

  /// Proves that `claim` implies some cover: claim and no cover is unsat.
  Proof covered(Universe& u, const z3::expr& claim, const std::vector<Cover>& covers) {
    Proof p;
    std::vector<z3::expr> as{claim};
    for (const auto& c : covers) as.push_back(!c.lit);
    if (check(u, as)) {
      if (!u.readable.empty()) {
        std::vector<z3::expr> nicer = as;
        nicer.insert(nicer.end(), u.readable.begin(), u.readable.end());
        if (!check(u, nicer)) check(u, as);
      }
      p.refutation = u.e->packet(u.s->get_model());
      return p;
    }
    p.proved = true;
    std::set<unsigned> in_core;
    for (const auto& a : u.s->unsat_core()) in_core.insert(a.id());
    std::vector<Cover> core;
    for (const auto& c : covers)
      if (in_core.count((!c.lit).id())) core.push_back(c);
    // Deletion-based minimization: drop each cover that the proof does not need. Other rules
    // are tried first, so that a part covered by its own rule's other parts names them.
    std::vector<bool> keep(core.size(), true);
    for (int pass = 0; pass < 2; ++pass)
      for (size_t i = core.size(); i-- > 0;) {
        bool own = core[i].kind == Cover::Kind::Peer || core[i].kind == Cover::Kind::Port;
        if (own != (pass == 1)) continue;
        std::vector<z3::expr> trial{claim};
        for (size_t j = 0; j < core.size(); ++j)
          if (j != i && keep[j]) trial.push_back(!core[j].lit);
        if (!check(u, trial)) keep[i] = false;
      }
    std::vector<Cover> needed;
    for (size_t i = 0; i < core.size(); ++i)
      if (keep[i]) needed.push_back(core[i]);
    core = std::move(needed);
    p.core = std::move(core);
    return p;
  }

 private:
  bool check(Universe& u, const std::vector<z3::expr>& assumptions) {
    z3::expr_vector av(c_);
    for (const auto& a : assumptions) av.push_back(a);
    z3::check_result r = u.s->check(av);
    if (r == z3::unknown) throw z3::exception(("the solver gave up: " + u.s->reason_unknown()).c_str());
    return r == z3::sat;
  }

  void build(Universe& u, ir::PolicyId pid, ir::Direction dir, bool inventory) {
    const ir::Policy& pol = m_.policy(pid);
    EndpointSet subject, remote;
    subject.text = pol.display();
    remote.text = "any";
    for (const auto& e : m_.endpoints) {
      if (e.host_network) continue;
      Candidate c;
      c.ep = e.id;
      remote.candidates.push_back(c);
      const auto& sel = m_.policies_selecting(e.id);
      if (inventory && std::binary_search(sel.begin(), sel.end(), pid)) subject.candidates.push_back(c);
    }
    for (const auto& n : m_.nodes) {
      Candidate c;
      c.kind = Candidate::Kind::Node;
      c.node = n.id;
      remote.candidates.push_back(c);
    }
    remote.external = ExternalRange{ir::Cidr{}, false};
    if (!inventory) {
      Hypothetical h;
      h.pod = pol.subject.pod;
      if (pol.ns.valid())
        h.ns = pol.ns;
      else
        h.ns_labels = pol.subject.ns;
      subject.hypothetical = h;
      remote.hypothetical = Hypothetical{};
    }
    u.empty = subject.empty();
    bool in = dir == ir::Direction::Ingress;
    u.q.src = in ? remote : subject;
    u.q.dst = in ? subject : remote;
    u.q.text = pol.display();
    u.s = std::make_unique<z3::solver>(c_, z3::solver::simple());
    if (u.empty) return;
    u.e = std::make_unique<Encoder>(c_, m_, u.q, HttpMode::None);
    u.e->track = false;
    u.e->encode(*u.s);
    u.d = in ? &u.e->ingress : &u.e->egress;
    const SideVars& rs = in ? u.e->src : u.e->dst;
    if (rs.set->hypothetical && !rs.set->candidates.empty())
      u.readable.push_back(
          z3::ult(rs.choice, c_.bv_val(static_cast<uint64_t>(rs.hyp_index), rs.choice.get_sort().bv_size())));
    std::vector<z3::expr> allows, iso;
    for (const auto& rv : u.d->rules) {
      u.rules[rv.rule] = &rv;
      if (!rv.deny) allows.push_back(rv.matched);
    }
    for (const auto& [p, ind] : u.d->isolating) iso.push_back(ind);
    z3::expr_vector av(c_), iv(c_);
    for (const auto& a : allows) av.push_back(a);
    for (const auto& i : iso) iv.push_back(i);
    u.would_deny = literal(u, !z3::mk_or(av) && z3::mk_or(iv));
  }

  const ir::Model& m_;
  z3::context c_;
  std::map<std::tuple<uint32_t, int, bool>, std::unique_ptr<Universe>> cache_;
  size_t next_ = 0;
};

/// The packet, and the named container ports a new destination pod declares (they are why a
/// port number appears that no rule names).
std::string refutation_str(const ir::Model& m, const Packet& p) {
  std::string s = packet_str(m, p);
  if (p.dst.kind == EndpointView::Kind::NewPod && !p.dst.ports.empty()) {
    s += " (the new pod declares";
    for (size_t i = 0; i < p.dst.ports.size(); ++i)
      s += (i ? ", " : " ") + p.dst.ports[i].name + "=" + port_str(p.dst.ports[i].proto, p.dst.ports[i].port);
    s += ")";
  }
  return s;
}

bool has_l7(const ir::Rule& r) {
  return std::any_of(r.ports.begin(), r.ports.end(), [](const ir::PortGroup& g) { return g.has_l7(); });
}

/// The deny rules of the universe (as covers) and the allow rules other than `self` that are not
/// `dropped` (reported redundant, so they no longer cover anything).
std::vector<Cover> rule_covers(const Universe& u, ir::RuleId self, const std::set<ir::RuleId>& dropped) {
  std::vector<Cover> out;
  for (const auto& rv : u.d->rules) {
    if (rv.rule == self) continue;
    if (rv.deny) {
      out.push_back(Cover{Cover::Kind::Deny, rv.rule, 0, {0, 0}, rv.matched});
    } else if (!dropped.count(rv.rule)) {
      out.push_back(Cover{Cover::Kind::Rule, rv.rule, 0, {0, 0}, rv.l4});
    }
  }
  return out;
}

std::vector<Cover> deny_covers(const Universe& u) {
  std::vector<Cover> out;
  for (const auto& rv : u.d->rules)
    if (rv.deny) out.push_back(Cover{Cover::Kind::Deny, rv.rule, 0, {0, 0}, rv.matched});
  return out;
}

class RedundancyCheck {
 public:
  explicit RedundancyCheck(Linter& l) : l_(l), m_(l.m), prover_(l.m) {}

  void run() {
    // Later rules first: of two rules that cover each other, the later one is reported, and a
    // reported rule no longer covers others. Every rule is judged for any pod first; only then,
    // for what is left, on the inventory (so that an inventory accident does not pick the rule
    // to report where the policies alone decide).
    std::vector<const ir::Rule*> order;
    for (size_t i = m_.rules.size(); i-- > 0;) {
      const ir::Rule& r = m_.rules[i];
      if (r.action == ir::Action::Deny || (r.action == ir::Action::Allow && !has_l7(r))) order.push_back(&r);
    }
    std::vector<const ir::Rule*> live;
    for (const ir::Rule* r : order)
      if (r->action == ir::Action::Deny ? !check_deny(*r, false) : !check_allow(*r, false)) live.push_back(r);
    for (const ir::Rule* r : live)
      if (r->action == ir::Action::Deny ? !check_deny(*r, true) : !check_allow(*r, true)) survivors_.push_back(r);
    for (const ir::Rule* r : survivors_)
      if (r->action == ir::Action::Allow && matches_.count(r->id)) check_parts(*r);
  }

 private:
  std::string where_rule(ir::RuleId r) const { return l_.where_rule(r); }

  /// The universe of `r`; nullptr for the inventory when the input has no pods.
  Universe* universe(const ir::Rule& r, bool inventory) {
    if (inventory && !l_.has_pods()) return nullptr;
    Universe& u = prover_.universe(r.policy, r.dir, inventory);
    return u.empty ? nullptr : &u;
  }

  void add_core_notes(ir::Diagnostic* d, const ir::Rule& r, const Proof& p) {
    if (!d) return;
    size_t n = 0;
    for (const Cover& c : p.core) {
      if (++n > 5) break;
      switch (c.kind) {
        case Cover::Kind::Rule: d->notes.push_back({m_.rule(c.rule).loc, "covered by " + where_rule(c.rule)}); break;
        case Cover::Kind::Deny:
          d->notes.push_back({m_.rule(c.rule).loc, "the rest is denied by " + where_rule(c.rule)});
          break;
        case Cover::Kind::Peer: d->notes.push_back({r.peers[c.peer].loc, "covering peer"}); break;
        case Cover::Kind::Port:
          d->notes.push_back({r.ports[c.port.first].ports[c.port.second].loc, "covering port"});
          break;
      }
    }
  }

  void add_refutation(ir::Diagnostic* d, ir::RuleId r, const std::string& what) {
    auto it = refutations_.find(r);
    if (d && it != refutations_.end())
      d->notes.push_back({{}, "not for every pod that could exist: " + refutation_str(m_, it->second) + " " + what});
  }

  /// Useless deny. True when reported.
  bool check_deny(const ir::Rule& r, bool inventory) {
    Universe* u = universe(r, inventory);
    if (!u) return false;
    const auto* rv = u->rules.at(r.id);
    if (!prover_.possible(*u, rv->matched)) return false;  // matches nothing: other checks say why
    // The deny overlaps nothing allowed: whatever it matches would be denied without it.
    std::vector<Cover> overlap{Cover{Cover::Kind::Rule, r.id, 0, {0, 0}, u->would_deny}};
    Proof p = prover_.covered(*u, rv->matched, overlap);
    if (!p.proved) {
      if (p.refutation && !inventory) refutations_.emplace(r.id, *p.refutation);
      return false;
    }
    auto* d = l_.report(r.policy, DiagId::UselessDeny, r.loc,
                        fmt::format("deny rule {} overlaps no allowed traffic{}: what it denies is denied anyway",
                                    r.path, inventory ? " of the pods in the inventory" : ""));
    if (inventory) add_refutation(d, r.id, "would be allowed without it");
    return true;
  }

  /// Shadowed or redundant allow rule. True when reported.
  bool check_allow(const ir::Rule& r, bool inventory) {
    Universe* u = universe(r, inventory);
    if (!u) return false;
    const auto* rv = u->rules.at(r.id);
    if (!prover_.possible(*u, rv->l4)) return false;  // matches nothing: other checks say why
    matches_.insert(r.id);
    std::string scope = inventory ? " for the pods in the inventory" : "";
    auto denies = deny_covers(*u);
    Proof shadow = denies.empty() ? Proof{} : prover_.covered(*u, rv->l4, denies);
    if (shadow.proved) {
      auto* d = l_.report(
          r.policy, DiagId::ShadowedRule, r.loc,
          fmt::format("allow rule {} never takes effect{}: deny rules block all of its traffic", r.path, scope),
          "remove the rule, or narrow the deny");
      if (d)
        for (const Cover& c : shadow.core) d->notes.push_back({m_.rule(c.rule).loc, "denied by " + where_rule(c.rule)});
      if (inventory) add_refutation(d, r.id, "is not denied");
      dropped_.insert(r.id);
      return true;
    }
    Proof red = prover_.covered(*u, rv->l4, rule_covers(*u, r.id, dropped_));
    if (!red.proved) {
      if (red.refutation && !inventory) refutations_.emplace(r.id, *red.refutation);
      return false;
    }
    auto* d =
        l_.report(r.policy, DiagId::RedundantRule, r.loc,
                  fmt::format("rule {} is redundant{}: other rules already allow all of its traffic", r.path, scope),
                  "remove it, or narrow the covering rules if this one states the intent");
    add_core_notes(d, r, red);
    if (inventory) add_refutation(d, r.id, "is allowed by this rule alone");
    dropped_.insert(r.id);
    return true;
  }

  /// One peer or one port of `r` whose traffic other rules, or the rule's other peers or ports,
  /// already allow: for any pod first, then on the inventory.
  void check_parts(const ir::Rule& r) {
    size_t nports = 0;
    for (const auto& g : r.ports) nports += g.ports.size();
    if (r.peers.size() < 2 && nports < 2) return;
    struct Part {
      Cover::Kind kind;
      size_t peer = 0;
      std::pair<size_t, size_t> port{0, 0};
      bool gone = false;  ///< reported: no longer covers the others
      std::optional<Packet> refutation;
    };
    std::vector<Part> parts;
    if (r.peers.size() >= 2)
      for (size_t i = r.peers.size(); i-- > 0;) parts.push_back(Part{Cover::Kind::Peer, i, {0, 0}, false, {}});
    if (nports >= 2)
      for (size_t g = r.ports.size(); g-- > 0;)
        for (size_t k = r.ports[g].ports.size(); k-- > 0;)
          parts.push_back(Part{Cover::Kind::Port, 0, {g, k}, false, {}});
    auto expr_of = [&](Universe& u, const Part& p) {
      return p.kind == Cover::Kind::Peer ? u.e->rule_part(r.id, p.peer, std::nullopt)
                                         : u.e->rule_part(r.id, std::nullopt, p.port);
    };
    for (bool inventory : {false, true}) {
      Universe* u = universe(r, inventory);
      if (!u) continue;
      for (auto& part : parts) {
        if (part.gone) continue;
        z3::expr claim = prover_.literal(*u, expr_of(*u, part));
        if (!prover_.possible(*u, claim)) continue;
        std::vector<Cover> covers = rule_covers(*u, r.id, dropped_);
        for (const auto& other : parts) {
          if (&other == &part || other.kind != part.kind || other.gone) continue;
          covers.push_back(Cover{other.kind, r.id, other.peer, other.port, prover_.literal(*u, expr_of(*u, other))});
        }
        Proof p = prover_.covered(*u, claim, covers);
        if (!p.proved) {
          if (!inventory) part.refutation = p.refutation;
          continue;
        }
        if (p.core.empty()) continue;  // the rest is denied: see shadowed-rule
        part.gone = true;
        report_part(r, part.kind, part.peer, part.port, p, inventory ? " in the inventory" : "",
                    inventory ? part.refutation : std::nullopt);
      }
    }
  }

  void report_part(const ir::Rule& r, Cover::Kind kind, size_t peer, std::pair<size_t, size_t> port, const Proof& p,
                   const std::string& scope, const std::optional<Packet>& refutation) {
    bool same_rule = p.core.size() == 1 && p.core[0].kind == kind;
    ir::Diagnostic* d = nullptr;
    if (kind == Cover::Kind::Peer) {
      std::string msg = same_rule
                            ? fmt::format(
                                  "peer '{}' adds nothing: '{}' in the same rule already matches everything it "
                                  "matches{}",
                                  r.peers[peer].str(), r.peers[p.core[0].peer].str(), scope)
                            : fmt::format("peer '{}' adds nothing: other rules already allow all of its traffic{}",
                                          r.peers[peer].str(), scope);
      d = l_.report(r.policy, DiagId::RedundantPeer, r.peers[peer].loc, msg);
    } else {
      const ir::PortMatch& pm = r.ports[port.first].ports[port.second];
      std::string msg = same_rule ? fmt::format("port {} is already covered by {} in the same rule{}", pm.str(),
                                                r.ports[p.core[0].port.first].ports[p.core[0].port.second].str(), scope)
                                  : fmt::format("port {} adds nothing: other rules already allow all of its traffic{}",
                                                pm.str(), scope);
      d = l_.report(r.policy, DiagId::RedundantPort, pm.loc, msg);
    }
    add_core_notes(d, r, p);
    if (d && refutation)
      d->notes.push_back(
          {{}, "not for every pod that could exist: " + refutation_str(m_, *refutation) + " is allowed by it alone"});
  }

  Linter& l_;
  const ir::Model& m_;
  Prover prover_;
  std::set<ir::RuleId> dropped_;              ///< reported: no longer cover other rules
  std::set<ir::RuleId> matches_;              ///< allow rules that match some packet
  std::vector<const ir::Rule*> survivors_;    ///< rules not reported as a whole
  std::map<ir::RuleId, Packet> refutations_;  ///< for any pod: a packet refuting the claim
};

}  // namespace

void check_redundancy(Linter& l) {
  for (const auto& p : l.m.policies)
    if (p.tier) return;  // ordered policies are not encoded yet
  try {
    RedundancyCheck(l).run();
  } catch (const z3::exception& ex) {
    l.report(std::nullopt, DiagId::SolverError, ir::SourceLoc{},
             std::string("Z3 failed while proving redundancy: ") + ex.msg());
  }
}

}  // namespace polc::verifier
