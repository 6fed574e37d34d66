// CheckAssertions: the user's expectations about reachability (`polc lint --assert FILE`),
// checked with the Z3 encoding of `polc query` (encoder.h). An assertion that does not hold is
// `assertion-failed` at its line, with the packet that breaks it and, as notes at their
// file:line, the rules and policies that decide that packet.
#include <z3++.h>

#include <algorithm>
#include <set>

#include "encoder.h"
#include "polc/verifier/explain.h"
#include "polc/verifier/lint.h"
#include "polc/verifier/resolve.h"

namespace polc::verifier {

namespace {

using K = ir::QueryEndpoint::Kind;

/// A packet of a question and its verdict.
struct Found {
  Packet packet;
  ir::Verdict verdict;
};

/// Looks for a packet of `q` whose verdict is `allowed`: the witness of a `must not` that fails,
/// or the counterexample of a `must` that fails. Prefers readable packets (existing pods over new
/// ones, documentation addresses for the world, TCP, port 80 or another non-zero one), as
/// `polc query` does. nullopt when there is none. Throws
/// z3::exception when the solver fails.
std::optional<Found> find_packet(const ir::Model& m, const ReachQuery& q, bool allowed) {
  z3::context c;
  z3::solver s(c, z3::solver::simple());
  z3::params params(c);
  params.set("timeout", 60000u);
  s.set(params);
  Encoder e(c, m, q, q.http ? HttpMode::Concrete : HttpMode::None);
  e.track = false;
  e.encode(s);
  std::vector<z3::expr> goal{allowed ? e.goal : !e.goal};
  auto check = [&](const std::vector<z3::expr>& assumptions) {
    z3::expr_vector av(c);
    for (const auto& a : assumptions) av.push_back(a);
    z3::check_result r = s.check(av);
    if (r == z3::unknown) throw z3::exception(("the solver gave up: " + s.reason_unknown()).c_str());
    return r == z3::sat;
  };
  if (!check(goal)) return std::nullopt;
  std::vector<z3::expr> prefs;
  for (const SideVars* sv : {&e.src, &e.dst})
    if (sv->set->hypothetical && !sv->set->candidates.empty())
      prefs.push_back(
          z3::ult(sv->choice, c.bv_val(static_cast<uint64_t>(sv->hyp_index), sv->choice.get_sort().bv_size())));
  const ir::Cidr kDoc{ir::Ipv4{(203u << 24) | (113u << 8)}, 24};  // documentation addresses
  for (const SideVars* sv : {&e.src, &e.dst})
    if (sv->set->external && sv->set->external->cidr.overlaps(kDoc) && sv->set->external->cidr.len < 24)
      prefs.push_back(sv->ip.extract(31, 8) == c.bv_val(kDoc.addr.value >> 8, 24) &&
                      sv->ip.extract(7, 0) != c.bv_val(0, 8));
  if (!q.proto) prefs.push_back(e.proto == c.bv_val(6, 8));
  if (!q.port) {
    prefs.push_back(e.port == c.bv_val(80, 16));
    prefs.push_back(e.port != c.bv_val(0, 16));
  }
  std::vector<z3::expr> kept = goal;
  for (const auto& p : prefs) {
    kept.push_back(p);
    if (!check(kept)) kept.pop_back();
  }
  check(kept);
  z3::model mdl = s.get_model();
  return Found{e.packet(mdl), e.verdict(mdl)};
}

std::string rule_name(const ir::Model& m, ir::RuleId r) {
  return m.policy(m.rule(r).policy).display() + " " + m.rule(r).path;
}

std::string side_name(const ir::Model& m, const EndpointView& v) {
  return v.name(m);
}

/// Notes for why one direction of `p` got its verdict: the deciding rules, or the isolating
/// policies, at their locations.
void direction_notes(const ir::Model& m, const Packet& p, const ir::DirectionVerdict& d, ir::Diagnostic& diag) {
  bool in = d.dir == ir::Direction::Ingress;
  std::string dn = ir::direction_name(d.dir);
  std::string subject = side_name(m, in ? p.dst : p.src);
  std::string remote = side_name(m, in ? p.src : p.dst);
  switch (d.reason) {
    case ir::Reason::Unmanaged: break;  // not a pod: nothing to say about this direction
    case ir::Reason::SelfTraffic:
      diag.notes.push_back({{}, "a pod's traffic to its own address never meets policy"});
      break;
    case ir::Reason::FromOwnNode:
      diag.notes.push_back({{}, "ingress from the pod's own node is always allowed (kubelet probes)"});
      break;
    case ir::Reason::NotIsolated:
      diag.notes.push_back({{}, "no policy isolates " + subject + " for " + dn + ", so every " + dn + " is allowed"});
      break;
    case ir::Reason::AllowedByRule:
      for (auto r : d.rules)
        diag.notes.push_back({m.rule(r).loc, dn + " of " + subject + " allowed by " + rule_name(m, r) +
                                                 (d.l7_restricted ? " (its HTTP rules filter the requests)" : "")});
      break;
    case ir::Reason::DeniedByRule:
      for (auto r : d.rules)
        diag.notes.push_back({m.rule(r).loc, dn + " of " + subject + " denied by " + rule_name(m, r)});
      break;
    case ir::Reason::NoRuleMatched: {
      // One note at the first isolating policy, naming the others (they all decide alike).
      if (d.isolating.empty()) break;
      std::string by;
      for (size_t i = 0; i < d.isolating.size() && i < 3; ++i)
        by += (i == 0 ? "" : i + 1 == d.isolating.size() ? " and " : ", ") + m.policy(d.isolating[i]).display();
      if (d.isolating.size() > 3) by += " and " + std::to_string(d.isolating.size() - 3) + " more";
      diag.notes.push_back({m.policy(d.isolating.front()).loc, subject + " is isolated for " + dn + " by " + by +
                                                                   ", and no " + dn + " rule admits " + remote +
                                                                   " on " + port_str(p.proto, p.port)});
      break;
    }
    case ir::Reason::L7Denied:
      for (auto r : d.rules)
        diag.notes.push_back({m.rule(r).loc, rule_name(m, r) + " admits only some HTTP requests, and not this one"});
      break;
    case ir::Reason::OrderedAllow:
    case ir::Reason::OrderedDeny:
      for (auto r : d.rules) diag.notes.push_back({m.rule(r).loc, dn + " decided by " + rule_name(m, r)});
      break;
  }
}

/// Reports the failure of `a` with the packet that breaks it.
void report_failure(const ir::Model& m, const ir::Assertion& a, const Found& f, const std::string& why,
                    ir::DiagnosticEngine& out, std::string hint = {}) {
  std::string msg = "assertion '" + a.text + "' does not hold: " + packet_str(m, f.packet) + " is " +
                    (f.verdict.allowed ? "allowed" : "denied") + why;
  auto* d = out.report(ir::DiagId::AssertionFailed, a.loc, msg, std::move(hint));
  if (!d) return;
  // A denied packet is explained by the directions that deny it; an allowed one by both.
  for (const auto* dv : {&f.verdict.egress, &f.verdict.ingress})
    if (f.verdict.allowed || !dv->allowed) direction_notes(m, f.packet, *dv, *d);
}

/// Whether `set` stands for more endpoints than can be listed (a selector, a range, any).
bool unbounded(const EndpointSet& set) {
  return set.hypothetical.has_value() || set.external.has_value();
}

/// Whether the destination's port is fixed by the question (a number, a named port, a service
/// port, or an HTTP request), so that `must reach` means "every pair on that port".
bool port_given(const ReachQuery& q) {
  if (q.port || q.http) return true;
  if (!q.dst.named_port.empty()) return true;
  return !q.dst.candidates.empty() && std::all_of(q.dst.candidates.begin(), q.dst.candidates.end(),
                                                  [](const Candidate& c) { return !c.ports.empty(); });
}

/// One candidate of a set, as a set of its own.
EndpointSet only(const EndpointSet& set, const Candidate& c) {
  EndpointSet one;
  one.text = set.text;
  one.loc = set.loc;
  one.named_port = set.named_port;
  one.candidates.push_back(c);
  return one;
}

bool same_endpoint(const Candidate& a, const Candidate& b) {
  return a.kind == b.kind && (a.kind == Candidate::Kind::Pod ? a.ep == b.ep : a.node == b.node);
}

ir::Requirement negated(const ir::Requirement& r) {
  ir::Requirement n = r;
  switch (r.op) {
    case ir::SelectorOp::In: n.op = ir::SelectorOp::NotIn; break;
    case ir::SelectorOp::NotIn: n.op = ir::SelectorOp::In; break;
    case ir::SelectorOp::Exists: n.op = ir::SelectorOp::DoesNotExist; break;
    case ir::SelectorOp::DoesNotExist: n.op = ir::SelectorOp::Exists; break;
  }
  return n;
}

ir::LabelSelector single(const ir::Requirement& r) {
  ir::LabelSelector s;
  s.add(r);
  return s;
}

/// Every endpoint that `x` (the `only` of an assertion, resolved to `xs`) does not name, as a union
/// of sets: the other pods, the outside world, and the pods that could exist outside x
/// (for a selector: one hypothetical pod per negated requirement, since not (a and b) is
/// (not a) or (not b)). nullopt when `x` is not a kind of endpoint `only` accepts.
std::optional<std::vector<EndpointSet>> complement(const ir::Model& m, const ir::QueryEndpoint& x,
                                                   const EndpointSet& xs) {
  if (x.kind != K::Name && x.kind != K::Service && x.kind != K::Selector && x.kind != K::Node) return std::nullopt;
  EndpointSet rest;
  rest.text = "not " + x.text;
  rest.loc = x.loc;
  auto add = [&](const Candidate& c) {
    for (const auto& in : xs.candidates)
      if (same_endpoint(in, c)) return;
    rest.candidates.push_back(c);
  };
  for (const auto& e : m.endpoints)
    if (!e.host_network) {
      Candidate c;
      c.ep = e.id;
      add(c);
    }
  // Nodes are left out: a pod's own node always reaches it (kubelet probes), and `only` is about
  // workloads and the outside world (docs/lint.md).
  rest.external = ExternalRange{ir::Cidr{}, false};
  std::vector<EndpointSet> out;
  if (x.kind != K::Selector) {
    rest.hypothetical = Hypothetical{};  // any pod that does not exist yet is not x
    out.push_back(std::move(rest));
    return out;
  }
  out.push_back(std::move(rest));
  auto hyp = [&](Hypothetical h) {
    EndpointSet s;
    s.text = "not " + x.text;
    s.loc = x.loc;
    s.hypothetical = std::move(h);
    out.push_back(std::move(s));
  };
  for (const auto& r : x.pod.reqs) {
    Hypothetical h;
    h.pod = single(negated(r));
    if (!x.ns.empty()) h.ns = m.find_namespace(x.ns);
    hyp(h);
  }
  if (!x.ns.empty()) {
    Hypothetical h;  // any pod in any other namespace
    h.ns_labels = single(ir::Requirement{ir::kNamespaceNameLabel, ir::SelectorOp::NotIn, {x.ns}});
    hyp(h);
  }
  if (x.ns_labels)
    for (const auto& r : x.ns_labels->reqs) {
      Hypothetical h;
      h.ns_labels = single(negated(r));
      hyp(h);
    }
  return out;
}

void check_one(const ir::Model& m, const ir::Assertion& a, ir::DiagnosticEngine& out) {
  auto rq = resolve_reach(m, a.query, out);
  if (!rq) return;  // unknown names are reported at their column
  switch (a.kind) {
    case ir::AssertionKind::MustNotReach: {
      if (auto f = find_packet(m, *rq, true)) report_failure(m, a, *f, "", out);
      return;
    }
    case ir::AssertionKind::MustReach: {
      if (port_given(*rq)) {
        if (auto f = find_packet(m, *rq, false)) report_failure(m, a, *f, "", out);
        return;
      }
      // No port: every pair must reach on some port. Pairs of listed endpoints are checked one by
      // one; a selector or an address range needs a port (that is a different, harder question).
      if (unbounded(rq->src) || unbounded(rq->dst)) {
        const ir::SourceLoc& at = unbounded(rq->dst) ? rq->dst.loc : rq->src.loc;
        out.report(ir::DiagId::AssertionSyntax, at,
                   "'must reach' over '" + (unbounded(rq->dst) ? rq->dst.text : rq->src.text) +
                       "' needs a port: every pod that could match cannot be listed",
                   "add the port every pair must reach, e.g. '" + a.query.dst->text + ":443'");
        return;
      }
      constexpr size_t kMaxPairs = 256;
      if (rq->src.candidates.size() * rq->dst.candidates.size() > kMaxPairs) {
        out.report(ir::DiagId::AssertionSyntax, a.loc,
                   "'must reach' without a port checks every pair one by one, and this assertion has " +
                       std::to_string(rq->src.candidates.size() * rq->dst.candidates.size()) + " pairs",
                   "add the port every pair must reach");
        return;
      }
      for (const auto& sc : rq->src.candidates)
        for (const auto& dc : rq->dst.candidates) {
          if (same_endpoint(sc, dc)) continue;
          ReachQuery pair = *rq;
          pair.src = only(rq->src, sc);
          pair.dst = only(rq->dst, dc);
          if (find_packet(m, pair, true)) continue;
          // Every packet of this pair is denied: show one.
          if (auto f = find_packet(m, pair, false)) {
            report_failure(m, a, *f, " on every port", out);
            return;
          }
        }
      return;
    }
    case ir::AssertionKind::OnlyCanReach: {
      auto others = complement(m, *a.query.src, rq->src);
      if (!others) {
        out.report(ir::DiagId::AssertionSyntax, a.query.src->loc,
                   "'only' needs pods: a workload or pod name, a label selector, svc: or node:, not '" +
                       a.query.src->text + "'",
                   "to say that nothing outside the cluster reaches it, write 'world must not reach ...'");
        return;
      }
      for (auto& set : *others) {
        ReachQuery q = *rq;
        q.src = std::move(set);
        if (auto f = find_packet(m, q, true)) {
          report_failure(m, a, *f, ", and " + side_name(m, f->packet.src) + " is not " + a.query.src->text, out);
          return;
        }
      }
      return;
    }
  }
}

}  // namespace

void check_assertions(const ir::Model& m, const std::vector<ir::Assertion>& assertions, ir::DiagnosticEngine& out) {
  for (const auto& p : m.policies)
    if (p.tier && !assertions.empty()) {
      out.report(ir::DiagId::SolverError, assertions.front().loc,
                 "ordered (tiered) policies are not supported by the verifier yet: assertions were not checked");
      return;
    }
  for (const auto& a : assertions) {
    try {
      check_one(m, a, out);
    } catch (const z3::exception& ex) {
      out.report(ir::DiagId::SolverError, a.loc, std::string("Z3 failed on this assertion: ") + ex.msg());
    }
  }
}

}  // namespace polc::verifier
