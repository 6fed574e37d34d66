#include "polc/verifier/reach.h"

#include <z3++.h>

#include <memory>
#include <mutex>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "encoder.h"

namespace polc::verifier {

namespace {

std::string labels_str(const ir::Labels& l) {
  std::string s = "{";
  for (const auto& [k, v] : l) s += (s.size() > 1 ? ", " : "") + k + "=" + v;
  return s + "}";
}

/// Checks under assumptions; unknown becomes an exception with Z3's reason.
z3::check_result check(z3::solver& s, const std::vector<z3::expr>& assumptions) {
  z3::expr_vector av(s.ctx());
  for (const auto& a : assumptions) av.push_back(a);
  z3::check_result r = s.check(av);
  if (r == z3::unknown) throw z3::exception(("the solver gave up: " + s.reason_unknown()).c_str());
  return r;
}

/// The most readable member of a regex's language: lower-case letters and digits first, each
/// repetition as few times as allowed. None when the language is empty.
std::optional<std::string> readable_member(const ir::RegexNode& n) {
  switch (n.kind) {
    case ir::RegexNode::Kind::Epsilon: return std::string();
    case ir::RegexNode::Kind::Bytes: {
      for (const char* pref : {"abcdefghijklmnopqrstuvwxyz", "0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "/-._~"})
        for (const char* c = pref; *c; ++c)
          if (n.bytes.test(static_cast<unsigned char>(*c))) return std::string(1, *c);
      for (int c = 33; c < 127; ++c)
        if (n.bytes.test(static_cast<size_t>(c))) return std::string(1, static_cast<char>(c));
      for (int c = 0; c < 256; ++c)
        if (n.bytes.test(static_cast<size_t>(c))) return std::string(1, static_cast<char>(c));
      return std::nullopt;
    }
    case ir::RegexNode::Kind::Concat: {
      std::string out;
      for (const auto& k : n.kids) {
        auto part = readable_member(*k);
        if (!part) return std::nullopt;
        out += *part;
      }
      return out;
    }
    case ir::RegexNode::Kind::Alt: {
      std::optional<std::string> best;
      for (const auto& k : n.kids) {
        auto part = readable_member(*k);
        if (part && (!best || (best->empty() && !part->empty()) || (!part->empty() && part->size() < best->size())))
          best = part;
      }
      return best;
    }
    case ir::RegexNode::Kind::Repeat: {
      std::string out;
      int times = n.min;
      auto part = readable_member(*n.kids[0]);
      if (!part) return n.min == 0 ? std::optional<std::string>(std::string()) : std::nullopt;
      for (int i = 0; i < times; ++i) out += *part;
      return out;
    }
  }
  return std::nullopt;
}

/// A request meeting one HTTP match (nullopt when a regex has an empty language).
std::optional<ir::HttpRequest> request_for(const std::vector<const ir::HttpMatch*>& matches) {
  ir::HttpRequest r;
  // Each field: the readable member of one match's regex that every other match's regex accepts.
  auto field = [&](std::optional<ir::Regex> ir::HttpMatch::*f, std::string& into, const std::string& dflt) {
    std::vector<const ir::Regex*> res;
    for (const auto* hm : matches)
      if (hm->*f) res.push_back(&*(hm->*f));
    if (res.empty()) {
      into = dflt;
      return true;
    }
    for (const auto* re : res) {
      auto s = readable_member(*re->root);
      if (!s) continue;
      if (std::all_of(res.begin(), res.end(), [&](const ir::Regex* o) { return o->full_match(*s); })) {
        into = *s;
        return true;
      }
    }
    return false;
  };
  if (!field(&ir::HttpMatch::method, r.method, "GET") || !field(&ir::HttpMatch::path, r.path, "/") ||
      !field(&ir::HttpMatch::host, r.host, ""))
    return std::nullopt;
  for (const auto* hm : matches)
    for (const auto& h : hm->headers) r.headers.emplace_back(h.name, h.value.value_or("x"));
  return r;
}

/// Candidate requests for the rules that filter requests in the verdict: one per HTTP match, or
/// per pair of matches when both directions filter.
std::vector<ir::HttpRequest> candidate_requests(const ir::Model& m, const ir::Verdict& v) {
  std::vector<std::vector<const ir::HttpMatch*>> per_dir;
  for (const auto* d : {&v.ingress, &v.egress}) {
    if (!d->l7_restricted) continue;
    std::vector<const ir::HttpMatch*> ms;
    for (auto rid : d->rules)
      for (const auto& g : m.rule(rid).ports)
        for (const auto& hm : g.http) ms.push_back(&hm);
    per_dir.push_back(std::move(ms));
  }
  std::vector<ir::HttpRequest> out;
  auto add = [&](std::vector<const ir::HttpMatch*> ms) {
    if (auto r = request_for(ms); r && out.size() < 64) out.push_back(std::move(*r));
  };
  if (per_dir.size() == 1)
    for (const auto* a : per_dir[0]) add({a});
  if (per_dir.size() == 2)
    for (const auto* a : per_dir[0])
      for (const auto* b : per_dir[1]) add({a, b});
  return out;
}

/// Every question builds and drops a Z3 context, which allocates tens of megabytes in large
/// blocks. With glibc's defaults those blocks are mmap'ed and returned to the kernel each time,
/// so every question pays for page faults again (measured: 2-3x the solving time). Keep them.
void keep_allocator_memory() {
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
  });
}

// Creating a Z3 context costs about 2 ms, more than encoding and solving most questions; each
// thread keeps one and every question gets a fresh solver on it. Renewed after kContextUses
// questions, so that the terms of old questions do not pile up in its tables.
z3::context& question_context() {
  constexpr int kContextUses = 200;
  thread_local std::unique_ptr<z3::context> ctx;
  thread_local int uses = 0;
  if (!ctx || ++uses > kContextUses) {
    ctx.reset();
    ctx = std::make_unique<z3::context>();
    uses = 1;
  }
  return *ctx;
}

}  // namespace

std::string EndpointView::name(const ir::Model& m) const {
  switch (kind) {
    case Kind::Pod: return m.endpoint_name(ep);
    case Kind::Node:
      if (ep.valid()) return m.endpoint_name(ep) + " (host network, node " + m.node(node).name + ")";
      return "node " + m.node(node).name;
    case Kind::External: return ip.str();
    case Kind::NewPod: {
      std::string s = "a new pod " + labels_str(labels);
      if (new_namespace) {
        ir::Labels rest = ns_labels;
        rest.erase(ir::kNamespaceNameLabel);
        s += " in a new namespace" + (ns_name != "<new namespace>" ? " '" + ns_name + "'" : std::string());
        if (!rest.empty()) s += " " + labels_str(rest);
      } else {
        s += " in namespace " + ns_name;
      }
      return s;
    }
  }
  return "?";
}

std::optional<ir::Address> EndpointView::address() const {
  switch (kind) {
    case Kind::Pod: return ir::Address::pod(ep);
    case Kind::Node:
    case Kind::External: return ir::Address::ip(ip);
    case Kind::NewPod: return std::nullopt;
  }
  return std::nullopt;
}

ir::Result<ReachAnswer> check_reach(const ir::Model& m, const ReachQuery& q, const ReachOptions& opt) {
  for (const auto& p : m.policies)
    if (p.tier) return ir::Error{"ordered (tiered) policies are not supported by the verifier yet"};
  if (q.src.empty() || q.dst.empty()) return ir::Error{"the question names no endpoint"};
  keep_allocator_memory();
  try {
    z3::context& c = question_context();
    z3::solver s(c, z3::solver::simple());
    z3::params params(c);
    params.set("timeout", 60000u);
    s.set(params);
    Encoder e(c, m, q, q.http ? HttpMode::Concrete : HttpMode::None);
    e.track = opt.unsat_core;
    e.encode(s);
    ReachAnswer ans;
    ans.rules_encoded = e.rules_encoded;
    if (opt.debug_smt) ans.smt2 = s.to_smt2();

    std::vector<z3::expr> base{e.goal};
    std::vector<z3::expr> neg{!e.goal};

    // Readable packets: an existing pod over a new one, TCP, a non-zero port, a documentation
    // address (203.0.113.0/24) for the outside world.
    std::vector<z3::expr> prefs;
    auto prefer = [&](const std::string& name, const z3::expr& cond) {
      z3::expr p = c.bool_const(name.c_str());
      s.add(z3::implies(p, cond));
      prefs.push_back(p);
    };
    const ir::Cidr kDoc{ir::Ipv4{(203u << 24) | (113u << 8)}, 24};
    for (const SideVars* sv : {&e.src, &e.dst}) {
      if (sv->set->hypothetical && !sv->set->candidates.empty())
        prefer(sv->tag + "_pref_existing",
               z3::ult(sv->choice, c.bv_val(static_cast<uint64_t>(sv->hyp_index), sv->choice.get_sort().bv_size())));
      if (sv->set->external && sv->set->external->cidr.overlaps(kDoc) && sv->set->external->cidr.len < 24)
        prefer(sv->tag + "_pref_doc",
               sv->ip.extract(31, 8) == c.bv_val(kDoc.addr.value >> 8, 24) && sv->ip.extract(7, 0) != c.bv_val(0, 8));
    }
    if (!q.proto) prefer("pref_tcp", e.proto == c.bv_val(6, 8));
    if (!q.port) prefer("pref_port", e.port != c.bv_val(0, 16));
    // Solves under `goal` with as many preferences as possible.
    auto solve_nicely = [&](const std::vector<z3::expr>& goal) -> z3::model {
      if (prefs.empty()) return s.get_model();  // the caller just checked `goal`
      std::vector<z3::expr> all = goal;
      all.insert(all.end(), prefs.begin(), prefs.end());
      if (check(s, all) == z3::sat) return s.get_model();
      std::vector<z3::expr> kept = goal;
      for (const auto& p : prefs) {
        kept.push_back(p);
        if (check(s, kept) != z3::sat) kept.pop_back();
      }
      check(s, kept);
      return s.get_model();
    };
    auto multiple = [](const EndpointSet& es) {
      return es.candidates.size() + (es.hypothetical ? 1 : 0) + (es.external ? 1 : 0) > 1 ||
             (es.external && es.external->cidr.len < 32) || es.hypothetical;
    };

    if (check(s, base) == z3::sat) {
      ans.allowed = true;
      if (!opt.explain) return ans;
      z3::model mdl = solve_nicely(base);
      ans.packet = e.packet(mdl);
      ans.verdict = e.verdict(mdl);
      if (!q.http && e.has_l7 && (ans.verdict.egress.l7_restricted || ans.verdict.ingress.l7_restricted)) {
        // Allowed at L4; find a request that passes the HTTP rules for this packet: first the
        // most readable member of each rule's regexes, then a (time-limited) symbolic search.
        // Each is a separate encoding of the same question with the same variables, pinned to
        // the witness.
        z3::expr pinned = e.pin(mdl);
        auto try_request = [&](HttpMode mode, const ir::HttpRequest* req, unsigned timeout_ms) {
          z3::solver s2(c, z3::solver::simple());
          z3::params p2(c);
          p2.set("timeout", timeout_ms);
          s2.set(p2);
          Encoder e2(c, m, q, mode, req);
          e2.track = false;
          e2.encode(s2);
          s2.add(pinned);
          z3::expr_vector av(c);
          av.push_back(e2.goal);
          z3::check_result r = s2.check(av);
          if (r == z3::sat) ans.example_request = e2.packet(s2.get_model()).http;
          if (r == z3::unsat && mode == HttpMode::Symbolic) ans.no_request_passes = true;
        };
        for (const auto& cand : candidate_requests(m, ans.verdict)) {
          try_request(HttpMode::Concrete, &cand, 60000);
          if (ans.example_request) break;
        }
        if (!ans.example_request) try_request(HttpMode::Symbolic, nullptr, 2000);
      }
      if (opt.counterexample && (multiple(q.src) || multiple(q.dst))) {
        // Another pair of the question, on the same protocol and port, that is denied.
        s.push();
        s.add(e.proto == mdl.eval(e.proto, true) && e.port == mdl.eval(e.port, true));
        if (check(s, neg) == z3::sat) {
          z3::model cm = solve_nicely(neg);
          ans.counterexample = e.packet(cm);
          ans.counterexample_verdict = e.verdict(cm);
        }
        s.pop();
      }
      return ans;
    }
    ans.allowed = false;
    for (const auto& a : s.unsat_core()) {
      std::string n = a.decl().name().str();
      if (n.rfind("def:", 0) == 0) ans.core.push_back(n.substr(4));
    }
    if (opt.explain) {
      if (check(s, neg) == z3::sat) {
        z3::model mdl = solve_nicely(neg);
        ans.packet = e.packet(mdl);
        ans.verdict = e.verdict(mdl);
      } else {
        ans.no_packet = true;
        ans.verdict.allowed = false;
      }
    }
    return ans;
  } catch (const z3::exception& ex) {
    return ir::Error{std::string("Z3 failed: ") + ex.msg()};
  }
}

ir::Result<ReachAnswer> check_probe(const ir::Model& m, const ir::Probe& p, const ReachOptions& opt) {
  return check_reach(m, probe_query(m, p), opt);
}

}  // namespace polc::verifier
