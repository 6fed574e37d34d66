#include "polc/ir/policy_tables.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

namespace polc::ir {

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::DefaultAllow: return "default-allow";
    case Outcome::DefaultDeny: return "default-deny";
    case Outcome::Allow: return "allow";
    case Outcome::AllowL7: return "allow-l7";
    case Outcome::Deny: return "deny";
  }
  return "?";
}

ProtoBucket proto_bucket(uint8_t proto) {
  switch (proto) {
    case 6: return ProtoBucket::Tcp;
    case 17: return ProtoBucket::Udp;
    case 132: return ProtoBucket::Sctp;
    case 1: return ProtoBucket::Icmp;
    default: return ProtoBucket::Other;
  }
}

const char* proto_bucket_name(ProtoBucket b) {
  switch (b) {
    case ProtoBucket::Tcp: return "TCP";
    case ProtoBucket::Udp: return "UDP";
    case ProtoBucket::Sctp: return "SCTP";
    case ProtoBucket::Icmp: return "ICMP";
    case ProtoBucket::Other: return "OTHER";
  }
  return "?";
}

const Segment& PortFunction::at(uint8_t proto, uint16_t port) const {
  const auto& segs = buckets[static_cast<size_t>(proto_bucket(proto))];
  auto it = std::upper_bound(segs.begin(), segs.end(), port, [](uint16_t p, const Segment& s) { return p < s.lo; });
  assert(it != segs.begin() && "port function does not cover the port");
  return *(it - 1);
}

namespace {

/// A representative protocol number per bucket.
constexpr uint8_t kBucketProto[kProtoBuckets] = {6, 17, 132, 1, 47};

using Bits = std::vector<uint64_t>;

bool test_bit(const Bits& b, size_t i) { return (b[i / 64] >> (i % 64)) & 1; }
void set_bit(Bits& b, size_t i) { b[i / 64] |= uint64_t(1) << (i % 64); }

/// Named ports that rules refer to; only these distinguish otherwise equal pods.
std::set<std::string> referenced_port_names(const Model& m) {
  std::set<std::string> names;
  for (const auto& r : m.rules)
    for (const auto& g : r.ports)
      for (const auto& pm : g.ports)
        if (!pm.named.empty()) names.insert(pm.named);
  return names;
}

std::vector<ContainerPort> port_signature(const Endpoint& e, const std::set<std::string>& names) {
  std::vector<ContainerPort> sig;
  for (const auto& p : e.ports)
    if (!p.name.empty() && names.count(p.name)) sig.push_back(p);
  return sig;
}

/// Finds an address in `p` that no longer prefix in `inner` covers (the region of `p`).
std::optional<Ipv4> region_representative(const Cidr& p, const std::vector<Cidr>& inner) {
  std::vector<Cidr> kids;
  for (const auto& c : inner)
    if (c.len > p.len && p.contains(c)) kids.push_back(c);
  std::sort(kids.begin(), kids.end(), [](const Cidr& a, const Cidr& b) { return a.first() < b.first(); });
  uint64_t cand = p.first();
  for (const auto& k : kids) {
    if (cand < k.first()) break;
    if (cand <= k.last()) cand = uint64_t(k.last()) + 1;
  }
  if (cand > p.last()) return std::nullopt;
  return Ipv4{static_cast<uint32_t>(cand)};
}

struct Builder {
  const Model& m;
  PolicyTables t;
  std::set<std::string> port_names;
  std::vector<PeerCidr> cluster_cidrs;  ///< ipBlocks that also match pod/node IPs
  std::vector<Cidr> world_prefixes;     ///< LPM entries of world classes (for class_of_ip)
  std::vector<std::vector<uint32_t>> world_by_len;
  std::map<std::vector<RuleId>, uint32_t> rule_set_ids;
  std::map<std::vector<std::tuple<uint32_t, uint32_t, uint32_t>>, uint32_t> l7_ids;
  std::map<std::vector<uint32_t>, uint32_t> function_ids;
  /// Representative of each class, as the evaluator sees a remote address.
  std::vector<Resolved> class_rep;

  explicit Builder(const Model& model) : m(model) {}

  uint32_t intern_rules(std::vector<RuleId> rules) {
    std::sort(rules.begin(), rules.end());
    rules.erase(std::unique(rules.begin(), rules.end()), rules.end());
    auto [it, fresh] = rule_set_ids.emplace(rules, static_cast<uint32_t>(t.rule_sets.size()));
    if (fresh) t.rule_sets.push_back(rules);
    return it->second;
  }

  uint32_t intern_l7(std::vector<L7Ref> refs) {
    std::vector<std::tuple<uint32_t, uint32_t, uint32_t>> key;
    for (const auto& r : refs) key.emplace_back(r.rule.v, r.group, r.match);
    std::sort(key.begin(), key.end());
    key.erase(std::unique(key.begin(), key.end()), key.end());
    auto [it, fresh] = l7_ids.emplace(key, static_cast<uint32_t>(t.l7_sets.size()));
    if (fresh) {
      L7Set s;
      for (const auto& [r, g, mm] : key) s.matches.push_back(L7Ref{RuleId(r), g, mm});
      t.l7_sets.push_back(std::move(s));
    }
    return it->second;
  }

  void build_classes() {
    for (const auto& r : m.rules)
      for (const auto& p : r.peers)
        if (const auto* c = std::get_if<PeerCidr>(&p.v); c && c->matches_cluster) cluster_cidrs.push_back(*c);
    std::sort(cluster_cidrs.begin(), cluster_cidrs.end());
    cluster_cidrs.erase(std::unique(cluster_cidrs.begin(), cluster_cidrs.end()), cluster_cidrs.end());
    const auto& apis = m.config.apiserver_ips;
    auto is_api = [&](Ipv4 ip) { return std::find(apis.begin(), apis.end(), ip) != apis.end(); };

    // Pods: identity x named-port signature x ipBlock membership x apiserver.
    using PodKey = std::tuple<uint32_t, std::vector<ContainerPort>, std::vector<bool>, bool>;
    std::map<PodKey, uint32_t> pod_classes;
    t.class_of_endpoint.assign(m.endpoints.size(), PolicyTables::kNone);
    for (const auto& e : m.endpoints) {
      if (e.host_network) continue;
      std::vector<bool> in;
      for (const auto& c : cluster_cidrs) in.push_back(c.contains(e.ip));
      PodKey key{e.identity.v, port_signature(e, port_names), in, is_api(e.ip)};
      auto [it, fresh] = pod_classes.emplace(key, static_cast<uint32_t>(t.classes.size()));
      if (fresh) {
        AddrClass c;
        c.id = it->second;
        c.kind = AddrClass::Kind::Pods;
        c.name = m.ns(e.ns).name + "/" + e.workload;
        t.classes.push_back(c);
        class_rep.push_back(Resolved{Resolved::Kind::Pod, e.id, e.node, e.ip});
      }
      AddrClass& c = t.classes[it->second];
      c.endpoints.push_back(e.id);
      c.prefixes.push_back(Cidr{e.ip, 32});
      t.class_of_endpoint[e.id.v] = it->second;
    }
    // Nodes: one class each; host-network pods live there.
    std::vector<uint32_t> node_class(m.nodes.size());
    for (const auto& n : m.nodes) {
      AddrClass c;
      c.id = static_cast<uint32_t>(t.classes.size());
      c.kind = AddrClass::Kind::Node;
      c.node = n.id;
      c.prefixes.push_back(Cidr{n.ip, 32});
      c.name = "node " + n.name;
      node_class[n.id.v] = c.id;
      t.classes.push_back(c);
      Resolved rep;
      rep.kind = Resolved::Kind::Node;
      rep.node = n.id;
      rep.ip = n.ip;
      class_rep.push_back(rep);
    }
    for (const auto& e : m.endpoints)
      if (e.host_network) t.class_of_endpoint[e.id.v] = node_class[e.node.v];

    // World: regions of the longest-prefix partition induced by every CIDR in the policies.
    std::vector<PeerCidr> all_cidrs;
    std::set<Cidr> prefixes{Cidr{Ipv4{0}, 0}};
    for (const auto& r : m.rules)
      for (const auto& p : r.peers)
        if (const auto* c = std::get_if<PeerCidr>(&p.v)) {
          all_cidrs.push_back(*c);
          prefixes.insert(c->cidr);
          for (const auto& x : c->except) prefixes.insert(x);
        }
    for (auto ip : apis)
      if (!m.endpoint_by_ip(ip) && !m.node_by_ip(ip)) prefixes.insert(Cidr{ip, 32});
    std::sort(all_cidrs.begin(), all_cidrs.end());
    all_cidrs.erase(std::unique(all_cidrs.begin(), all_cidrs.end()), all_cidrs.end());
    std::vector<Cidr> plist(prefixes.begin(), prefixes.end());
    std::map<std::pair<std::vector<bool>, bool>, uint32_t> world_classes;
    world_by_len.assign(33, {});
    for (const auto& p : plist) {
      auto rep = region_representative(p, plist);
      if (!rep) continue;  // fully covered by longer prefixes
      std::vector<bool> sig;
      for (const auto& c : all_cidrs) sig.push_back(c.contains(*rep));
      auto key = std::make_pair(sig, is_api(*rep));
      auto [it, fresh] = world_classes.emplace(key, static_cast<uint32_t>(t.classes.size()));
      if (fresh) {
        AddrClass c;
        c.id = it->second;
        c.kind = AddrClass::Kind::World;
        c.name = "world";
        t.classes.push_back(c);
        Resolved r;
        r.kind = Resolved::Kind::External;
        r.ip = *rep;
        class_rep.push_back(r);
      }
      t.classes[it->second].prefixes.push_back(p);
    }
    for (auto& c : t.classes) {
      if (c.kind != AddrClass::Kind::World) continue;
      std::sort(c.prefixes.begin(), c.prefixes.end(), [](const Cidr& a, const Cidr& b) {
        return std::pair(a.len, a.addr) < std::pair(b.len, b.addr);
      });
      // Name the class by its most specific prefix ("world" alone for the default region).
      const Cidr& best = c.prefixes.back();
      c.name = best.len == 0 ? "world" : "world " + best.str();
    }
  }

  void build_contexts() {
    using CtxKey = std::tuple<std::vector<PolicyId>, uint32_t, std::vector<ContainerPort>>;
    std::map<CtxKey, uint32_t> ids;
    t.context_of_endpoint.assign(m.endpoints.size(), PolicyTables::kNone);
    for (const auto& e : m.endpoints) {
      if (e.host_network) continue;
      const auto& pols = m.policies_selecting(e.id);
      for (auto pid : pols) {
        assert(!m.policy(pid).tier && "ordered (tiered) policies are not folded into the tables yet");
        (void)pid;
      }
      CtxKey key{pols, e.node.v, port_signature(e, port_names)};
      auto [it, fresh] = ids.emplace(key, static_cast<uint32_t>(t.contexts.size()));
      if (fresh) {
        Context c;
        c.id = it->second;
        c.node = e.node;
        c.policies = pols;
        for (auto pid : pols)
          for (int d = 0; d < 2; ++d) c.isolated[d] = c.isolated[d] || m.policy(pid).isolates[d];
        t.contexts.push_back(c);
      }
      t.contexts[it->second].endpoints.push_back(e.id);
      t.context_of_endpoint[e.id.v] = it->second;
    }
  }

  /// Classes each rule's peers match, as seen by a subject on `node`.
  const Bits& rule_bits(RuleId rid, NodeId node) {
    auto key = std::make_pair(rid.v, node.v);
    auto it = rule_bits_cache.find(key);
    if (it != rule_bits_cache.end()) return it->second;
    const Rule& r = m.rule(rid);
    bool node_dependent = std::any_of(r.peers.begin(), r.peers.end(), [](const Peer& p) {
      const auto* e = std::get_if<PeerEntity>(&p.v);
      return e && (e->entity == Entity::Host || e->entity == Entity::RemoteNode);
    });
    if (!node_dependent && node.v != kAnyNode) return rule_bits(rid, NodeId(kAnyNode));
    Bits bits((t.classes.size() + 63) / 64);
    Endpoint subject;
    subject.node = node;
    const Policy& pol = m.policy(r.policy);
    for (const auto& peer : r.peers)
      for (size_t k = 0; k < t.classes.size(); ++k)
        if (!test_bit(bits, k) && peer_matches(m, pol, peer, subject, class_rep[k])) set_bit(bits, k);
    return rule_bits_cache.emplace(key, std::move(bits)).first->second;
  }
  static constexpr uint32_t kAnyNode = 0xfffffffeu;
  std::map<std::pair<uint32_t, uint32_t>, Bits> rule_bits_cache;

  /// The port function for the rules `M` (all matching the peer), given isolation and the
  /// destination pod against which named ports resolve.
  uint32_t build_function(const std::vector<RuleId>& rules, bool isolated, const Endpoint* dst_pod) {
    PortFunction f;
    for (int b = 0; b < kProtoBuckets; ++b) {
      uint8_t proto = kBucketProto[b];
      // Boundaries: every range start and end+1 within this bucket.
      std::set<uint32_t> cuts{0};
      for (auto rid : rules)
        for (const auto& g : m.rule(rid).ports)
          for (const auto& pm : g.ports) {
            if (!pm.protos.contains(proto)) continue;
            if (pm.named.empty()) {
              cuts.insert(pm.range.lo);
              cuts.insert(uint32_t(pm.range.hi) + 1);
            } else if (dst_pod) {
              for (const auto& cp : dst_pod->ports)
                if (cp.name == pm.named && cp.proto == proto) {
                  cuts.insert(cp.port);
                  cuts.insert(uint32_t(cp.port) + 1);
                }
            }
          }
      cuts.insert(65536);
      std::vector<Segment>& segs = f.buckets[b];
      for (auto it = cuts.begin(); std::next(it) != cuts.end(); ++it) {
        uint32_t lo = *it, hi = *std::next(it) - 1;
        if (lo > 65535) break;
        Segment s = evaluate_segment(rules, isolated, dst_pod, proto, static_cast<uint16_t>(lo));
        s.lo = static_cast<uint16_t>(lo);
        s.hi = static_cast<uint16_t>(hi);
        if (!segs.empty() && segs.back().outcome == s.outcome && segs.back().rules == s.rules &&
            segs.back().l7 == s.l7 && uint32_t(segs.back().hi) + 1 == lo) {
          segs.back().hi = s.hi;
        } else {
          segs.push_back(s);
        }
      }
    }
    std::vector<uint32_t> key;
    for (const auto& segs : f.buckets) {
      key.push_back(0xffffffffu);
      for (const auto& s : segs) {
        key.push_back(s.lo);
        key.push_back(static_cast<uint32_t>(s.outcome));
        key.push_back(s.rules);
        key.push_back(s.l7);
      }
    }
    auto [it, fresh] = function_ids.emplace(std::move(key), static_cast<uint32_t>(t.functions.size()));
    if (fresh) t.functions.push_back(std::move(f));
    return it->second;
  }

  /// The evaluator's logic (ir/src/evaluator.cpp, default layer) for one port.
  Segment evaluate_segment(const std::vector<RuleId>& rules, bool isolated, const Endpoint* dst_pod, uint8_t proto,
                           uint16_t port) {
    std::vector<RuleId> denies, l4, l7rules;
    std::vector<L7Ref> l7refs;
    for (auto rid : rules) {
      const Rule& r = m.rule(rid);
      bool matched = r.ports.empty(), l4_only = r.ports.empty();
      std::vector<L7Ref> refs;
      for (uint32_t gi = 0; gi < r.ports.size(); ++gi) {
        const auto& g = r.ports[gi];
        bool any = g.ports.empty();
        for (const auto& pm : g.ports)
          if (port_matches(pm, proto, port, dst_pod)) any = true;
        if (!any) continue;
        matched = true;
        if (!g.has_l7())
          l4_only = true;
        else
          for (uint32_t hi = 0; hi < g.http.size(); ++hi) refs.push_back(L7Ref{rid, gi, hi});
      }
      if (!matched) continue;
      if (r.action == Action::Deny) {
        denies.push_back(rid);
      } else if (r.action == Action::Allow) {
        if (l4_only) {
          l4.push_back(rid);
        } else {
          l7rules.push_back(rid);
          l7refs.insert(l7refs.end(), refs.begin(), refs.end());
        }
      }
    }
    Segment s;
    if (!denies.empty()) {
      s.outcome = Outcome::Deny;
      s.rules = intern_rules(denies);
    } else if (!isolated) {
      s.outcome = Outcome::DefaultAllow;
    } else if (!l4.empty()) {
      s.outcome = Outcome::Allow;
      s.rules = intern_rules(l4);
    } else if (!l7rules.empty()) {
      s.outcome = Outcome::AllowL7;
      s.rules = intern_rules(l7rules);
      s.l7 = intern_l7(l7refs);
    } else {
      s.outcome = Outcome::DefaultDeny;
    }
    return s;
  }

  void build_table() {
    size_t K = t.classes.size();
    t.table_.assign(t.contexts.size() * 2 * K, 0);
    std::map<std::tuple<std::vector<RuleId>, bool, uint32_t>, uint32_t> memo;
    for (const auto& c : t.contexts) {
      const Endpoint& rep = m.endpoint(c.endpoints.front());
      for (int d = 0; d < 2; ++d) {
        std::vector<RuleId> rules;
        for (auto pid : c.policies)
          for (auto rid : m.policy(pid).rules)
            if (static_cast<int>(m.rule(rid).dir) == d) rules.push_back(rid);
        std::vector<const Bits*> bits;
        for (auto rid : rules) bits.push_back(&rule_bits(rid, c.node));
        for (size_t k = 0; k < K; ++k) {
          std::vector<RuleId> matched;
          for (size_t i = 0; i < rules.size(); ++i)
            if (test_bit(*bits[i], k)) matched.push_back(rules[i]);
          // Named ports resolve against the destination: the subject for ingress, the peer for egress.
          const Endpoint* dst = nullptr;
          uint32_t dst_key = 0xffffffffu;
          if (d == static_cast<int>(Direction::Ingress)) {
            dst = &rep;
            dst_key = c.id;
          } else if (class_rep[k].kind == Resolved::Kind::Pod) {
            dst = &m.endpoint(class_rep[k].ep);
            dst_key = 0x80000000u | static_cast<uint32_t>(k);
          }
          // Without named ports among the matched rules the destination does not matter.
          bool named = false;
          for (auto rid : matched)
            for (const auto& g : m.rule(rid).ports)
              for (const auto& pm : g.ports) named = named || !pm.named.empty();
          if (!named) dst_key = 0xffffffffu;
          auto key = std::make_tuple(matched, c.isolated[d], dst_key);
          auto it = memo.find(key);
          uint32_t fid;
          if (it != memo.end()) {
            fid = it->second;
          } else {
            fid = build_function(matched, c.isolated[d], dst);
            memo.emplace(std::move(key), fid);
          }
          t.table_[(static_cast<size_t>(c.id) * 2 + d) * K + k] = fid;
        }
      }
    }
  }
};

}  // namespace

uint32_t PolicyTables::class_of_ip(Ipv4 ip) const {
  // Pods and nodes first (their /32s), then the longest world prefix.
  uint32_t best = kNone;
  int best_len = -1;
  for (const auto& c : classes)
    for (const auto& p : c.prefixes)
      if (p.len > best_len && p.contains(ip)) {
        best = c.id;
        best_len = p.len;
      }
  return best;
}

bool PolicyTables::allowed(const Model& m, const Probe& p) const {
  Resolved src = resolve_address(m, p.src);
  Resolved dst = resolve_address(m, p.dst);
  if (src.kind == Resolved::Kind::Pod && dst.kind == Resolved::Kind::Pod && src.ip == dst.ip) return true;
  auto class_of = [&](const Resolved& r) -> uint32_t {
    switch (r.kind) {
      case Resolved::Kind::Pod: return class_of_endpoint[r.ep.v];
      case Resolved::Kind::Node:
        for (const auto& c : classes)
          if (c.kind == AddrClass::Kind::Node && c.node == r.node) return c.id;
        return kNone;
      case Resolved::Kind::External: return class_of_ip(r.ip);
    }
    return kNone;
  };
  auto pass = [&](const Segment& s) {
    switch (s.outcome) {
      case Outcome::DefaultAllow:
      case Outcome::Allow: return true;
      case Outcome::DefaultDeny:
      case Outcome::Deny: return false;
      case Outcome::AllowL7:
        if (!p.http) return true;
        for (const auto& ref : l7_sets[s.l7].matches)
          if (http_matches(m.rule(ref.rule).ports[ref.group].http[ref.match], *p.http)) return true;
        return false;
    }
    return false;
  };
  if (src.kind == Resolved::Kind::Pod) {
    uint32_t ctx = context_of_endpoint[src.ep.v];
    if (!pass(function(ctx, Direction::Egress, class_of(dst)).at(p.proto, p.port))) return false;
  }
  if (dst.kind == Resolved::Kind::Pod) {
    const Endpoint& d = m.endpoint(dst.ep);
    if (m.config.allow_from_own_node && src.kind == Resolved::Kind::Node && src.node == d.node) return true;
    uint32_t ctx = context_of_endpoint[dst.ep.v];
    if (!pass(function(ctx, Direction::Ingress, class_of(src)).at(p.proto, p.port))) return false;
  }
  return true;
}

PolicyTables resolve_policies(const Model& m) {
  Builder b(m);
  b.port_names = referenced_port_names(m);
  b.t.rule_sets.push_back({});
  b.rule_set_ids[{}] = 0;
  b.t.l7_sets.push_back({});
  b.build_classes();
  b.build_contexts();
  b.build_table();
  b.t.class_rep = std::move(b.class_rep);
  return std::move(b.t);
}

}  // namespace polc::ir
