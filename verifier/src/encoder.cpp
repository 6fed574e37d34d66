#include "encoder.h"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <set>

namespace polc::verifier {

namespace {

unsigned bits_for(size_t n) {
  unsigned b = 1;
  while (b < 32 && (uint64_t(1) << b) < n) ++b;
  return b;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

z3::expr any_of(z3::context& c, const std::vector<z3::expr>& v) {
  if (v.empty()) return c.bool_val(false);
  if (v.size() == 1) return v[0];
  z3::expr_vector ev(c);
  for (const auto& e : v) ev.push_back(e);
  return z3::mk_or(ev);
}

z3::expr all_of(z3::context& c, const std::vector<z3::expr>& v) {
  if (v.empty()) return c.bool_val(true);
  if (v.size() == 1) return v[0];
  z3::expr_vector ev(c);
  for (const auto& e : v) ev.push_back(e);
  return z3::mk_and(ev);
}

uint64_t as_u64(const z3::model& mdl, const z3::expr& e) {
  z3::expr v = mdl.eval(e, true);
  uint64_t out = 0;
  if (v.is_numeral()) v.is_numeral_u64(out);
  return out;
}

bool as_bool(const z3::model& mdl, const z3::expr& e) {
  return mdl.eval(e, true).is_true();
}

std::string as_string(const z3::model& mdl, const z3::expr& e) {
  z3::expr v = mdl.eval(e, true);
  if (!v.is_string_value()) return "";
  unsigned n = 0;
  Z3_string raw = Z3_get_lstring(v.ctx(), v, &n);
  return std::string(raw, n);
}

}  // namespace

size_t LabelDomain::index(const std::string& v) const {
  auto it = std::lower_bound(values.begin(), values.end(), v);
  return it != values.end() && *it == v ? static_cast<size_t>(it - values.begin()) : other();
}

Encoder::Encoder(z3::context& c, const ir::Model& m, const ReachQuery& q, HttpMode mode, const ir::HttpRequest* request)
    : goal(c),
      http(c),
      allowed(c),
      self(c),
      own_node(c),
      proto(c),
      port(c),
      method(c),
      path(c),
      host(c),
      src(c),
      dst(c),
      egress(c),
      ingress(c),
      c_(c),
      m_(m),
      q_(q),
      mode_(mode),
      request_(request ? request : (q.http ? &*q.http : nullptr)),
      re_(c) {}

std::vector<ir::PolicyId> Encoder::relevant_policies(const EndpointSet& set) const {
  std::set<ir::PolicyId> out;
  for (const auto& cand : set.candidates)
    if (cand.kind == Candidate::Kind::Pod)
      for (auto pid : m_.policies_selecting(cand.ep)) out.insert(pid);
  if (set.hypothetical) {
    for (const auto& p : m_.policies) {
      if (set.hypothetical->ns && p.ns.valid() && p.ns != *set.hypothetical->ns) continue;
      out.insert(p.id);
    }
  }
  std::vector<ir::PolicyId> v;
  for (auto pid : out)
    if (!m_.policy(pid).tier) v.push_back(pid);
  return v;
}

void Encoder::collect_domains() {
  std::map<std::string, std::set<std::string>> pod, ns;
  std::set<std::string> names;
  auto add = [](const ir::LabelSelector& sel, std::map<std::string, std::set<std::string>>& into) {
    for (const auto& r : sel.reqs) {
      auto& vals = into[r.key];
      for (const auto& v : r.values) vals.insert(v);
    }
  };
  auto add_direction = [&](const DirectionVars& d) {
    for (auto pid : d.policies) {
      const ir::Policy& p = m_.policy(pid);
      add(p.subject.pod, pod);
      add(p.subject.ns, ns);
      for (auto rid : p.rules) {
        const ir::Rule& r = m_.rule(rid);
        if (r.dir != d.dir) continue;
        for (const auto& peer : r.peers)
          if (const auto* pe = std::get_if<ir::PeerEndpoints>(&peer.v)) {
            add(pe->sel.pod, pod);
            add(pe->sel.ns, ns);
          }
        for (const auto& g : r.ports) {
          for (const auto& pm : g.ports)
            if (!pm.named.empty()) names.insert(pm.named);
          if (g.has_l7() && r.action == ir::Action::Allow) has_l7 = true;
        }
      }
    }
  };
  add_direction(egress);
  add_direction(ingress);
  for (const EndpointSet* s : {&q_.src, &q_.dst})
    if (s->hypothetical) {
      add(s->hypothetical->pod, pod);
      add(s->hypothetical->ns_labels, ns);
    }
  if (!q_.dst.named_port.empty()) names.insert(q_.dst.named_port);
  auto finish = [](std::map<std::string, std::set<std::string>>& from, std::map<std::string, LabelDomain>& to) {
    for (auto& [k, vals] : from) {
      LabelDomain d;
      d.values.assign(vals.begin(), vals.end());
      d.width = bits_for(d.values.size() + 1);
      to[k] = std::move(d);
    }
  };
  finish(pod, pod_domains_);
  finish(ns, ns_domains_);
  port_names_.assign(names.begin(), names.end());
}

SideVars Encoder::make_side(const EndpointSet& set, const std::string& tag, bool destination) {
  SideVars s(c_);
  s.set = &set;
  s.tag = tag;
  s.hyp_index = set.candidates.size();
  s.ext_index = s.hyp_index + (set.hypothetical ? 1 : 0);
  size_t alts = s.ext_index + (set.external ? 1 : 0);
  s.choice = c_.bv_const((tag + "_choice").c_str(), bits_for(std::max<size_t>(alts, 2)));
  s.is_pod = c_.bool_const((tag + "_is_pod").c_str());
  s.is_node = c_.bool_const((tag + "_is_node").c_str());
  s.ip = c_.bv_const((tag + "_ip").c_str(), 32);
  s.node = c_.bv_const((tag + "_node").c_str(), node_bits_);
  s.ns_choice = c_.bv_const((tag + "_ns").c_str(), bits_for(m_.namespaces.size() + 1));
  for (const auto& [k, d] : pod_domains_)
    s.labels.emplace(
        k, LabelVars{c_.bool_const((tag + "_has_" + k).c_str()), c_.bv_const((tag + "_val_" + k).c_str(), d.width)});
  for (const auto& [k, d] : ns_domains_)
    s.ns_labels.emplace(k, LabelVars{c_.bool_const((tag + "_ns_has_" + k).c_str()),
                                     c_.bv_const((tag + "_ns_val_" + k).c_str(), d.width)});
  if (destination)
    for (const auto& n : port_names_)
      s.ports.emplace(n, NamedPortVars{c_.bool_const((tag + "_port_has_" + n).c_str()),
                                       c_.bv_const((tag + "_port_" + n).c_str(), 16),
                                       c_.bv_const((tag + "_port_proto_" + n).c_str(), 8)});
  fold_constants(s, destination);
  return s;
}

void Encoder::fold_constants(SideVars& s, bool destination) {
  // A side with one concrete alternative: its attributes are constants, so every rule about it
  // simplifies while it is built (the same formula, smaller for the solver).
  const EndpointSet& set = *s.set;
  size_t alts = set.candidates.size() + (set.hypothetical ? 1 : 0) + (set.external ? 1 : 0);
  if (alts != 1) return;
  unsigned cw = s.choice.get_sort().bv_size();
  if (set.external) {
    if (set.external->cidr.len != 32) return;
    s.choice = c_.bv_val(0, cw);
    s.is_pod = c_.bool_val(false);
    s.is_node = c_.bool_val(false);
    s.ip = c_.bv_val(set.external->cidr.addr.value, 32);
    return;
  }
  if (set.candidates.empty()) return;
  const Candidate& cand = set.candidates[0];
  s.choice = c_.bv_val(0, cw);
  if (cand.kind == Candidate::Kind::Node) {
    s.is_pod = c_.bool_val(false);
    s.is_node = c_.bool_val(true);
    s.ip = c_.bv_val(m_.node(cand.node).ip.value, 32);
    s.node = c_.bv_val(cand.node.v, node_bits_);
    return;
  }
  const ir::Endpoint& e = m_.endpoint(cand.ep);
  s.is_pod = c_.bool_val(true);
  s.is_node = c_.bool_val(false);
  s.ip = c_.bv_val(e.ip.value, 32);
  s.node = c_.bv_val(e.node.v, node_bits_);
  auto fold = [&](std::map<std::string, LabelVars>& vars, const std::map<std::string, LabelDomain>& doms,
                  const ir::Labels& l) {
    for (auto& [k, v] : vars) {
      auto it = l.find(k);
      const LabelDomain& d = doms.at(k);
      v.has = c_.bool_val(it != l.end());
      v.val = c_.bv_val(static_cast<uint64_t>(it != l.end() ? d.index(it->second) : d.other()), d.width);
    }
  };
  fold(s.labels, pod_domains_, e.labels);
  fold(s.ns_labels, ns_domains_, m_.ns_labels(e));
  if (destination)
    for (auto& [n, v] : s.ports) {
      const ir::ContainerPort* found = nullptr;
      for (const auto& cp : e.ports)
        if (cp.name == n) found = &cp;
      v.has = c_.bool_val(found != nullptr);
      v.port = c_.bv_val(found ? found->port : 0, 16);
      v.proto = c_.bv_val(found ? found->proto : 0, 8);
    }
}

z3::expr Encoder::in_cidr(const z3::expr& ip, const ir::Cidr& c) {
  if (c.len == 0) return c_.bool_val(true);
  return ip.extract(31, 32 - c.len) == c_.bv_val(static_cast<uint64_t>(c.addr.value >> (32 - c.len)), c.len);
}

z3::expr Encoder::label_value(const LabelVars& v, const LabelDomain& d, const ir::Labels& l, const std::string& key) {
  auto it = l.find(key);
  if (it == l.end()) return !v.has;
  return v.has && v.val == c_.bv_val(static_cast<uint64_t>(d.index(it->second)), d.width);
}

z3::expr Encoder::pod_attributes(const SideVars& s, const ir::Endpoint& e, bool destination) {
  std::vector<z3::expr> a{s.is_pod, !s.is_node, s.ip == c_.bv_val(e.ip.value, 32),
                          s.node == c_.bv_val(e.node.v, node_bits_)};
  for (const auto& [k, d] : pod_domains_) a.push_back(label_value(s.labels.at(k), d, e.labels, k));
  const ir::Labels& nsl = m_.ns_labels(e);
  for (const auto& [k, d] : ns_domains_) a.push_back(label_value(s.ns_labels.at(k), d, nsl, k));
  if (destination)
    for (const auto& [n, v] : s.ports) {
      const ir::ContainerPort* found = nullptr;
      for (const auto& cp : e.ports)
        if (cp.name == n) found = &cp;
      if (found)
        a.push_back(v.has && v.port == c_.bv_val(found->port, 16) && v.proto == c_.bv_val(found->proto, 8));
      else
        a.push_back(!v.has);
    }
  return all_of(c_, a);
}

z3::expr Encoder::hypothetical_attributes(const SideVars& s, const Hypothetical& h, bool destination) {
  std::vector<z3::expr> a{s.is_pod, !s.is_node, in_cidr(s.ip, m_.config.pod_cidr)};
  for (const auto& ip : known_ips_)
    if (m_.config.pod_cidr.contains(ip)) a.push_back(s.ip != c_.bv_val(ip.value, 32));
  a.push_back(z3::ule(s.node, c_.bv_val(static_cast<uint64_t>(m_.nodes.size() - 1), node_bits_)));
  for (const auto& [k, d] : pod_domains_)
    a.push_back(z3::ule(s.labels.at(k).val, c_.bv_val(static_cast<uint64_t>(d.other()), d.width)));
  a.push_back(selector(h.pod, s.labels, pod_domains_));
  unsigned nsw = s.ns_choice.get_sort().bv_size();
  if (h.ns) {
    const ir::Namespace& ns = m_.ns(*h.ns);
    a.push_back(s.ns_choice == c_.bv_val(h.ns->v, nsw));
    for (const auto& [k, d] : ns_domains_) a.push_back(label_value(s.ns_labels.at(k), d, ns.labels, k));
  } else {
    // An existing namespace (its labels are known), or a new one with any labels.
    size_t n = m_.namespaces.size();
    a.push_back(z3::ule(s.ns_choice, c_.bv_val(static_cast<uint64_t>(n), nsw)));
    for (const auto& ns : m_.namespaces) {
      std::vector<z3::expr> fixed;
      for (const auto& [k, d] : ns_domains_) fixed.push_back(label_value(s.ns_labels.at(k), d, ns.labels, k));
      a.push_back(z3::implies(s.ns_choice == c_.bv_val(ns.id.v, nsw), all_of(c_, fixed)));
    }
    std::vector<z3::expr> fresh;
    for (const auto& [k, d] : ns_domains_) {
      const LabelVars& v = s.ns_labels.at(k);
      fresh.push_back(z3::ule(v.val, c_.bv_val(static_cast<uint64_t>(d.other()), d.width)));
      if (k == ir::kNamespaceNameLabel) {
        fresh.push_back(v.has);
        for (const auto& ns : m_.namespaces) {
          size_t idx = d.index(ns.name);
          if (idx != d.other()) fresh.push_back(v.val != c_.bv_val(static_cast<uint64_t>(idx), d.width));
        }
      }
    }
    a.push_back(z3::implies(s.ns_choice == c_.bv_val(static_cast<uint64_t>(n), nsw), all_of(c_, fresh)));
    a.push_back(selector(h.ns_labels, s.ns_labels, ns_domains_));
  }
  if (destination)
    for (const auto& [n, v] : s.ports)
      a.push_back(z3::implies(
          v.has, v.port != c_.bv_val(0, 16) &&
                     (v.proto == c_.bv_val(6, 8) || v.proto == c_.bv_val(17, 8) || v.proto == c_.bv_val(132, 8))));
  return all_of(c_, a);
}

z3::expr Encoder::external_attributes(const SideVars& s, const ExternalRange& r) {
  std::vector<z3::expr> a{!s.is_pod, !s.is_node, in_cidr(s.ip, r.cidr)};
  for (const auto& ip : known_ips_)
    if (r.cidr.contains(ip)) a.push_back(s.ip != c_.bv_val(ip.value, 32));
  if (r.world_only)
    for (const auto& ip : m_.config.apiserver_ips) a.push_back(s.ip != c_.bv_val(ip.value, 32));
  return all_of(c_, a);
}

z3::expr Encoder::side_constraints(const SideVars& s, bool destination) {
  const EndpointSet& set = *s.set;
  unsigned w = s.choice.get_sort().bv_size();
  size_t alts = s.ext_index + (set.external ? 1 : 0);
  std::vector<z3::expr> out;
  if (alts == 0) return c_.bool_val(false);
  out.push_back(z3::ule(s.choice, c_.bv_val(static_cast<uint64_t>(alts - 1), w)));
  for (size_t i = 0; i < set.candidates.size(); ++i) {
    const Candidate& cand = set.candidates[i];
    z3::expr attrs(c_);
    if (cand.kind == Candidate::Kind::Pod) {
      attrs = pod_attributes(s, m_.endpoint(cand.ep), destination);
    } else {
      const ir::Node& n = m_.node(cand.node);
      attrs = !s.is_pod && s.is_node && s.ip == c_.bv_val(n.ip.value, 32) && s.node == c_.bv_val(n.id.v, node_bits_);
    }
    if (destination && !cand.ports.empty()) {
      std::vector<z3::expr> opts;
      for (const auto& [pr, pt] : cand.ports) opts.push_back(proto == c_.bv_val(pr, 8) && port == c_.bv_val(pt, 16));
      attrs = attrs && any_of(c_, opts);
    }
    out.push_back(z3::implies(s.choice == c_.bv_val(static_cast<uint64_t>(i), w), attrs));
  }
  if (set.hypothetical) {
    z3::expr attrs = hypothetical_attributes(s, *set.hypothetical, destination);
    if (destination && !set.named_port.empty()) {
      const NamedPortVars& v = s.ports.at(set.named_port);
      attrs = attrs && v.has && port == v.port && proto == v.proto;
    }
    out.push_back(z3::implies(s.choice == c_.bv_val(static_cast<uint64_t>(s.hyp_index), w), attrs));
  }
  if (set.external)
    out.push_back(z3::implies(s.choice == c_.bv_val(static_cast<uint64_t>(s.ext_index), w),
                              external_attributes(s, *set.external)));
  return all_of(c_, out);
}

z3::expr Encoder::requirement(const ir::Requirement& r, const std::map<std::string, LabelVars>& vars,
                              const std::map<std::string, LabelDomain>& doms) {
  const LabelVars& v = vars.at(r.key);
  const LabelDomain& d = doms.at(r.key);
  switch (r.op) {
    case ir::SelectorOp::Exists: return v.has;
    case ir::SelectorOp::DoesNotExist: return !v.has;
    case ir::SelectorOp::In: {
      std::vector<z3::expr> eq;
      for (const auto& val : r.values) eq.push_back(v.val == c_.bv_val(static_cast<uint64_t>(d.index(val)), d.width));
      return v.has && any_of(c_, eq);
    }
    case ir::SelectorOp::NotIn: {
      std::vector<z3::expr> ne;
      for (const auto& val : r.values) ne.push_back(v.val != c_.bv_val(static_cast<uint64_t>(d.index(val)), d.width));
      return !v.has || all_of(c_, ne);
    }
  }
  return c_.bool_val(false);
}

z3::expr Encoder::selector(const ir::LabelSelector& sel, const std::map<std::string, LabelVars>& vars,
                           const std::map<std::string, LabelDomain>& doms) {
  if (sel.none) return c_.bool_val(false);
  std::vector<z3::expr> parts;
  for (const auto& r : sel.reqs) parts.push_back(requirement(r, vars, doms));
  return all_of(c_, parts);
}

z3::expr Encoder::endpoint_selector(const ir::EndpointSelector& sel, const SideVars& s) {
  return s.is_pod && selector(sel.ns, s.ns_labels, ns_domains_) && selector(sel.pod, s.labels, pod_domains_);
}

z3::expr Encoder::peer(const ir::Peer& p, const SideVars& remote, const SideVars& subject) {
  z3::expr external = !remote.is_pod && !remote.is_node;
  if (const auto* pe = std::get_if<ir::PeerEndpoints>(&p.v)) return endpoint_selector(pe->sel, remote);
  if (const auto* pc = std::get_if<ir::PeerCidr>(&p.v)) {
    std::vector<z3::expr> a;
    if (!pc->matches_cluster) a.push_back(external);
    a.push_back(in_cidr(remote.ip, pc->cidr));
    for (const auto& e : pc->except) a.push_back(!in_cidr(remote.ip, e));
    return all_of(c_, a);
  }
  if (const auto* en = std::get_if<ir::PeerEntity>(&p.v)) {
    std::vector<z3::expr> api;
    for (const auto& ip : m_.config.apiserver_ips) api.push_back(remote.ip == c_.bv_val(ip.value, 32));
    z3::expr is_api = any_of(c_, api);
    switch (en->entity) {
      case ir::Entity::All: return c_.bool_val(true);
      case ir::Entity::World: return external && !is_api;
      case ir::Entity::Cluster: return !external || is_api;
      case ir::Entity::Host: return remote.is_node && remote.node == subject.node;
      case ir::Entity::RemoteNode: return remote.is_node && remote.node != subject.node;
      case ir::Entity::KubeApiserver: return is_api;
      case ir::Entity::Init:
      case ir::Entity::Health:
      case ir::Entity::Unmanaged:
      case ir::Entity::Ingress: return c_.bool_val(false);
    }
    return c_.bool_val(false);
  }
  return c_.bool_val(false);  // PeerUnresolved matches nothing
}

z3::expr Encoder::port_match(const ir::PortMatch& pm) {
  std::vector<z3::expr> ps;
  uint8_t b = pm.protos.bits();
  if (b & ir::ProtoSet::kTcp) ps.push_back(proto == c_.bv_val(6, 8));
  if (b & ir::ProtoSet::kUdp) ps.push_back(proto == c_.bv_val(17, 8));
  if (b & ir::ProtoSet::kSctp) ps.push_back(proto == c_.bv_val(132, 8));
  if (b & ir::ProtoSet::kIcmp) ps.push_back(proto == c_.bv_val(1, 8));
  if (b & ir::ProtoSet::kOther)
    ps.push_back(proto != c_.bv_val(6, 8) && proto != c_.bv_val(17, 8) && proto != c_.bv_val(132, 8) &&
                 proto != c_.bv_val(1, 8));
  z3::expr pr = pm.protos.is_all() ? c_.bool_val(true) : any_of(c_, ps);
  if (pm.named.empty()) {
    if (pm.range.is_all()) return pr;
    if (pm.range.lo == pm.range.hi) return pr && port == c_.bv_val(pm.range.lo, 16);
    return pr && z3::ule(c_.bv_val(pm.range.lo, 16), port) && z3::ule(port, c_.bv_val(pm.range.hi, 16));
  }
  // Named ports resolve against the destination pod, whatever the direction.
  const NamedPortVars& v = dst.ports.at(pm.named);
  return pr && dst.is_pod && v.has && v.proto == proto && v.port == port;
}

z3::expr Encoder::http_match(const ir::HttpMatch& hm) {
  if (mode_ == HttpMode::None) return c_.bool_val(false);
  std::vector<z3::expr> a;
  auto field = [&](const std::optional<ir::Regex>& re, const z3::expr& var, const std::string* value) {
    if (!re) return;
    z3::expr r = re_.translate(*re->root);
    if (mode_ == HttpMode::Symbolic) {
      a.push_back(z3::in_re(var, r));
      return;
    }
    // A literal string: Z3's rewriter decides the membership by derivatives.
    a.push_back(z3::in_re(re_.literal(*value), r).simplify());
  };
  field(hm.method, method, request_ ? &request_->method : nullptr);
  field(hm.path, path, request_ ? &request_->path : nullptr);
  field(hm.host, host, request_ ? &request_->host : nullptr);
  for (const auto& h : hm.headers) {
    if (mode_ == HttpMode::Concrete) {
      bool found = false;
      for (const auto& [name, value] : request_->headers)
        if (iequals(name, h.name) && (!h.value || *h.value == value)) found = true;
      a.push_back(c_.bool_val(found));
    } else {
      // A request may carry any headers: the witness includes this one when it helps.
      z3::expr v = c_.bool_const(("hdr_" + std::to_string(header_vars.size())).c_str());
      header_vars.push_back(v);
      header_matches_.push_back(h);
      a.push_back(v);
    }
  }
  return all_of(c_, a);
}

void Encoder::define(z3::solver& s, const z3::expr& e, const std::string& name) {
  if (track)
    s.add(e, ("def:" + name).c_str());  // named: an unsat core maps back to this rule or policy
  else
    s.add(e);
}

bool Encoder::can_match(const ir::Policy& p, const ir::Rule& r, const SideVars& subject, const SideVars& remote) const {
  const EndpointSet& sub = *subject.set;
  const EndpointSet& rem = *remote.set;
  if (sub.hypothetical || sub.external || rem.hypothetical || rem.external) return true;
  // Checking costs a peer match per (subject, remote) pair and rule; past a few thousand pairs
  // the solver decides faster than the check would.
  constexpr size_t kMaxPairs = 4096;
  if (sub.candidates.size() * rem.candidates.size() > kMaxPairs) return true;
  // With the packet's protocol and port fixed (by the question, or per destination candidate), a
  // rule none of whose ports admits them (named ports resolve per pod) cannot match either.
  if (!r.ports.empty()) {
    const EndpointSet& dst_set = r.dir == ir::Direction::Ingress ? sub : rem;
    bool any_port = false;
    for (const auto& c : dst_set.candidates) {
      const ir::Endpoint* dst_ep = c.kind == Candidate::Kind::Pod ? &m_.endpoint(c.ep) : nullptr;
      std::vector<std::pair<uint8_t, uint16_t>> asked = c.ports;  // the packet is one of these
      if (asked.empty()) {
        if (!q_.proto || !q_.port) {  // a symbolic port: the solver decides
          any_port = true;
          break;
        }
        asked.emplace_back(*q_.proto, *q_.port);
      }
      for (const auto& [proto, port] : asked)
        for (const auto& g : r.ports) {
          if (g.ports.empty()) any_port = true;
          for (const auto& pm : g.ports) any_port = any_port || ir::port_matches(pm, proto, port, dst_ep);
        }
      if (any_port) break;
    }
    if (!any_port) return false;
  }
  const std::vector<ir::Resolved>& remotes = remote.set == &q_.src ? src_resolved_ : dst_resolved_;
  for (const auto& c : sub.candidates) {
    if (c.kind != Candidate::Kind::Pod) continue;
    const auto& selecting = m_.policies_selecting(c.ep);
    if (std::find(selecting.begin(), selecting.end(), p.id) == selecting.end()) continue;
    const ir::Endpoint& e = m_.endpoint(c.ep);
    for (const auto& peer : r.peers)
      for (const auto& rv : remotes)
        if (ir::peer_matches(m_, p, peer, e, rv)) return true;
  }
  return false;
}

void Encoder::encode_direction(z3::solver& s, DirectionVars& d, const SideVars& subject, const SideVars& remote) {
  const char* dn = d.dir == ir::Direction::Ingress ? "ingress" : "egress";
  std::vector<z3::expr> deny, a4, am, a7, iso;
  for (auto pid : d.policies) {
    const ir::Policy& p = m_.policy(pid);
    z3::expr sel = endpoint_selector(p.subject, subject);
    if (p.isolates[static_cast<int>(d.dir)]) {
      std::string n = "iso_p" + std::to_string(pid.v) + "_" + dn;
      z3::expr ind = c_.bool_const(n.c_str());
      define(s, ind == sel.simplify(), n);
      d.isolating.emplace_back(pid, ind);
      iso.push_back(ind);
    }
    for (auto rid : p.rules) {
      const ir::Rule& r = m_.rule(rid);
      if (r.dir != d.dir || r.action == ir::Action::Pass) continue;
      if (!can_match(p, r, subject, remote)) continue;
      ++rules_encoded;
      std::vector<z3::expr> peers;
      for (const auto& pe : r.peers) peers.push_back(peer(pe, remote, subject));
      z3::expr peer_ok = sel && any_of(c_, peers);
      std::vector<z3::expr> any_group, l4_groups, l7_groups;
      bool rule_l7 = false;
      for (const auto& g : r.ports) {
        std::vector<z3::expr> pms;
        for (const auto& pm : g.ports) pms.push_back(port_match(pm));
        z3::expr gm = g.ports.empty() ? c_.bool_val(true) : any_of(c_, pms);
        any_group.push_back(gm);
        if (!g.has_l7()) {
          l4_groups.push_back(gm);
        } else {
          rule_l7 = true;
          std::vector<z3::expr> hms;
          for (const auto& hm : g.http) hms.push_back(http_match(hm));
          l7_groups.push_back(gm && any_of(c_, hms));
        }
      }
      bool all_ports = r.ports.empty();
      std::string n = "r" + std::to_string(rid.v);
      z3::expr matched = c_.bool_const(n.c_str());
      define(s, matched == (peer_ok && (all_ports ? c_.bool_val(true) : any_of(c_, any_group))).simplify(), n);
      DirectionVars::RuleVars rv{rid, r.action == ir::Action::Deny, matched, matched, c_.bool_val(false)};
      if (r.action == ir::Action::Deny) {
        deny.push_back(matched);
      } else {
        if (rule_l7) {
          rv.l4 = c_.bool_const((n + "_l4").c_str());
          define(s, rv.l4 == (peer_ok && any_of(c_, l4_groups)).simplify(), n + "_l4");
          rv.l7 = c_.bool_const((n + "_l7").c_str());
          define(s, rv.l7 == (peer_ok && http && any_of(c_, l7_groups)).simplify(), n + "_l7");
        }
        a4.push_back(rv.l4);
        am.push_back(matched);
        a7.push_back(rv.l7);
      }
      d.rules.push_back(rv);
    }
  }
  // ir::evaluate: a deny wins; an L4 allow allows; L7-only allows open the connection and
  // filter requests (also where nothing isolates); with no matching allow, isolation decides.
  z3::expr any_allow = any_of(c_, am);
  z3::expr ok = !any_of(c_, deny) &&
                (any_of(c_, a4) || (any_allow && (!http || any_of(c_, a7))) || (!any_of(c_, iso) && !any_allow));
  d.ok = !subject.is_pod || ok;
}

z3::expr Encoder::rule_part(ir::RuleId rid, std::optional<size_t> peer_index,
                            std::optional<std::pair<size_t, size_t>> port_index) {
  const ir::Rule& r = m_.rule(rid);
  bool in = r.dir == ir::Direction::Ingress;
  const SideVars& subject = in ? dst : src;
  const SideVars& remote = in ? src : dst;
  std::vector<z3::expr> peers;
  for (size_t i = 0; i < r.peers.size(); ++i)
    if (!peer_index || *peer_index == i) peers.push_back(peer(r.peers[i], remote, subject));
  std::vector<z3::expr> groups;
  for (size_t g = 0; g < r.ports.size(); ++g) {
    if (port_index && port_index->first != g) continue;
    const ir::PortGroup& pg = r.ports[g];
    std::vector<z3::expr> pms;
    for (size_t k = 0; k < pg.ports.size(); ++k)
      if (!port_index || port_index->second == k) pms.push_back(port_match(pg.ports[k]));
    groups.push_back(pg.ports.empty() ? c_.bool_val(true) : any_of(c_, pms));
  }
  z3::expr ports = r.ports.empty() ? c_.bool_val(true) : any_of(c_, groups);
  return (endpoint_selector(m_.policy(r.policy).subject, subject) && any_of(c_, peers) && ports).simplify();
}

void Encoder::encode(z3::solver& s) {
  egress.dir = ir::Direction::Egress;
  ingress.dir = ir::Direction::Ingress;
  egress.policies = relevant_policies(q_.src);
  ingress.policies = relevant_policies(q_.dst);
  collect_domains();
  // Addresses a hypothetical pod or an external address must avoid (both indexes are ordered).
  if (q_.src.hypothetical || q_.src.external || q_.dst.hypothetical || q_.dst.external) {
    std::vector<ir::Ipv4> pods, nodes;
    for (const auto& [ip, id] : m_.ip_index) pods.push_back(ip);
    for (const auto& [ip, id] : m_.node_ip_index) nodes.push_back(ip);
    std::set_union(pods.begin(), pods.end(), nodes.begin(), nodes.end(), std::back_inserter(known_ips_));
  }
  node_bits_ = bits_for(std::max<size_t>(m_.nodes.size(), 2));

  proto = c_.bv_const("proto", 8);
  port = c_.bv_const("port", 16);
  http = c_.bool_val(mode_ != HttpMode::None);
  method = c_.string_const("method");
  path = c_.string_const("path");
  host = c_.string_const("host");
  src = make_side(q_.src, "src", false);
  dst = make_side(q_.dst, "dst", true);
  for (auto [set, out] : {std::pair{&q_.src, &src_resolved_}, std::pair{&q_.dst, &dst_resolved_}})
    for (const auto& c : set->candidates)
      out->push_back(ir::resolve_address(
          m_, c.kind == Candidate::Kind::Pod ? ir::Address::pod(c.ep) : ir::Address::ip(m_.node(c.node).ip)));
  s.add(side_constraints(src, false).simplify());
  s.add(side_constraints(dst, true).simplify());
  if (q_.proto) s.add(proto == c_.bv_val(*q_.proto, 8));
  if (q_.port) s.add(port == c_.bv_val(*q_.port, 16));
  if (mode_ == HttpMode::Symbolic && has_l7) {
    z3::expr bytes = re_.any_bytes();
    s.add(z3::in_re(method, bytes) && z3::in_re(path, bytes) && z3::in_re(host, bytes));
  }
  encode_direction(s, egress, src, dst);
  encode_direction(s, ingress, dst, src);

  self = src.is_pod && dst.is_pod && src.ip == dst.ip;
  auto a = q_.src.single_pod(), b = q_.dst.single_pod();
  bool allow_self = a && b && *a == *b;
  if (!allow_self) s.add(!self);  // two different pods of the question
  own_node = m_.config.allow_from_own_node ? (src.is_node && dst.is_pod && src.node == dst.node) : c_.bool_val(false);
  allowed = self || (egress.ok && (own_node || ingress.ok));
  goal = c_.bool_const("goal");
  s.add(goal == allowed);
}

EndpointView Encoder::view(const z3::model& mdl, const SideVars& s) const {
  EndpointView v;
  const EndpointSet& set = *s.set;
  size_t choice = static_cast<size_t>(as_u64(mdl, s.choice));
  if (choice < set.candidates.size()) {
    const Candidate& c = set.candidates[choice];
    if (c.kind == Candidate::Kind::Pod) {
      v.kind = EndpointView::Kind::Pod;
      v.ep = c.ep;
      v.node = m_.endpoint(c.ep).node;
      v.ip = m_.endpoint(c.ep).ip;
    } else {
      v.kind = EndpointView::Kind::Node;
      v.ep = c.ep;
      v.node = c.node;
      v.ip = m_.node(c.node).ip;
    }
    return v;
  }
  v.ip = ir::Ipv4{static_cast<uint32_t>(as_u64(mdl, s.ip))};
  if (set.hypothetical && choice == s.hyp_index) {
    v.kind = EndpointView::Kind::NewPod;
    v.node = ir::NodeId(static_cast<uint32_t>(as_u64(mdl, s.node)));
    auto decode = [&](const std::map<std::string, LabelVars>& vars, const std::map<std::string, LabelDomain>& doms,
                      ir::Labels& out) {
      for (const auto& [k, lv] : vars) {
        if (!as_bool(mdl, lv.has)) continue;
        const LabelDomain& d = doms.at(k);
        size_t idx = static_cast<size_t>(as_u64(mdl, lv.val));
        out[k] = idx < d.values.size() ? d.values[idx] : "<other>";
      }
    };
    decode(s.labels, pod_domains_, v.labels);
    size_t nsi = static_cast<size_t>(as_u64(mdl, s.ns_choice));
    if (nsi < m_.namespaces.size()) {
      v.ns_name = m_.namespaces[nsi].name;
      for (const auto& [k, d] : ns_domains_)
        if (auto it = m_.namespaces[nsi].labels.find(k); it != m_.namespaces[nsi].labels.end())
          v.ns_labels[k] = it->second;
    } else {
      v.new_namespace = true;
      decode(s.ns_labels, ns_domains_, v.ns_labels);
      auto it = v.ns_labels.find(ir::kNamespaceNameLabel);
      v.ns_name = it != v.ns_labels.end() && it->second != "<other>" ? it->second : "<new namespace>";
    }
    for (const auto& [n, pv] : s.ports)
      if (as_bool(mdl, pv.has))
        v.ports.push_back(ir::ContainerPort{n, static_cast<uint16_t>(as_u64(mdl, pv.port)),
                                            static_cast<uint8_t>(as_u64(mdl, pv.proto))});
    return v;
  }
  v.kind = EndpointView::Kind::External;
  return v;
}

Packet Encoder::packet(const z3::model& mdl) const {
  Packet p;
  p.src = view(mdl, src);
  p.dst = view(mdl, dst);
  p.proto = static_cast<uint8_t>(as_u64(mdl, proto));
  p.port = static_cast<uint16_t>(as_u64(mdl, port));
  if (mode_ == HttpMode::Concrete) {
    p.http = *request_;
  } else if (mode_ == HttpMode::Symbolic) {
    ir::HttpRequest req;
    req.method = as_string(mdl, method);
    req.path = as_string(mdl, path);
    req.host = as_string(mdl, host);
    for (size_t i = 0; i < header_vars.size(); ++i)
      if (as_bool(mdl, header_vars[i]))
        req.headers.emplace_back(header_matches_[i].name, header_matches_[i].value.value_or("x"));
    p.http = req;
  }
  return p;
}

ir::Verdict Encoder::verdict(const z3::model& mdl) const {
  ir::Verdict v;
  v.egress.dir = ir::Direction::Egress;
  v.ingress.dir = ir::Direction::Ingress;
  if (as_bool(mdl, self)) {
    v.egress.reason = v.ingress.reason = ir::Reason::SelfTraffic;
    return v;
  }
  bool http_on = mode_ != HttpMode::None;
  auto decide = [&](const DirectionVars& d) {
    ir::DirectionVerdict out;
    out.dir = d.dir;
    std::vector<ir::RuleId> allows_l4, l7_match, l7_other, denies;
    for (const auto& [pid, ind] : d.isolating)
      if (as_bool(mdl, ind)) out.isolating.push_back(pid);
    for (const auto& r : d.rules) {
      if (!as_bool(mdl, r.matched)) continue;
      if (r.deny)
        denies.push_back(r.rule);
      else if (as_bool(mdl, r.l4))
        allows_l4.push_back(r.rule);
      else if (http_on && as_bool(mdl, r.l7))
        l7_match.push_back(r.rule);
      else
        l7_other.push_back(r.rule);
    }
    if (!denies.empty()) {
      out.allowed = false;
      out.reason = ir::Reason::DeniedByRule;
      out.rules = denies;
      return out;
    }
    bool l7_filters = allows_l4.empty() && (!l7_match.empty() || !l7_other.empty());
    if (out.isolating.empty() && !l7_filters) {
      out.reason = ir::Reason::NotIsolated;
      return out;
    }
    if (!allows_l4.empty()) {
      out.reason = ir::Reason::AllowedByRule;
      out.rules = allows_l4;
      return out;
    }
    if (l7_filters) {
      if (!http_on) {
        out.reason = ir::Reason::AllowedByRule;
        out.l7_restricted = true;
        out.rules = l7_other;
        return out;
      }
      if (!l7_match.empty()) {
        out.reason = ir::Reason::AllowedByRule;
        out.rules = l7_match;
        return out;
      }
      out.allowed = false;
      out.reason = ir::Reason::L7Denied;
      out.rules = l7_other;
      return out;
    }
    out.allowed = false;
    out.reason = ir::Reason::NoRuleMatched;
    return out;
  };
  if (as_bool(mdl, src.is_pod)) v.egress = decide(egress);
  if (as_bool(mdl, dst.is_pod)) {
    if (as_bool(mdl, own_node))
      v.ingress.reason = ir::Reason::FromOwnNode;
    else
      v.ingress = decide(ingress);
  }
  v.allowed = v.egress.allowed && v.ingress.allowed;
  return v;
}

z3::expr Encoder::pin(const z3::model& mdl) const {
  std::vector<z3::expr> eq;
  auto fix = [&](const z3::expr& e) { eq.push_back(e == mdl.eval(e, true)); };
  for (const SideVars* s : {&src, &dst}) {
    fix(s->choice);
    fix(s->is_pod);
    fix(s->is_node);
    fix(s->ip);
    fix(s->node);
    fix(s->ns_choice);
    for (const auto& [k, v] : s->labels) {
      fix(v.has);
      fix(v.val);
    }
    for (const auto& [k, v] : s->ns_labels) {
      fix(v.has);
      fix(v.val);
    }
    for (const auto& [k, v] : s->ports) {
      fix(v.has);
      fix(v.port);
      fix(v.proto);
    }
  }
  fix(proto);
  fix(port);
  return all_of(c_, eq);
}

}  // namespace polc::verifier
