#include "polc/ir/policy_tables.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
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

bool test_bit(const Bits& b, size_t i) {
  return (b[i / 64] >> (i % 64)) & 1;
}
void set_bit(Bits& b, size_t i) {
  b[i / 64] |= uint64_t(1) << (i % 64);
}

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

/// Whether a rule's peers match differently depending on the subject's node.
bool rule_node_dependent(const Rule& r) {
  return std::any_of(r.peers.begin(), r.peers.end(), [](const Peer& p) {
    const auto* e = std::get_if<PeerEntity>(&p.v);
    return e && (e->entity == Entity::Host || e->entity == Entity::RemoteNode);
  });
}

struct Builder {
  const Model& m;
  PolicyTables t;
  std::set<std::string> port_names;
  std::vector<PeerCidr> cluster_cidrs;  ///< ipBlocks that also match pod/node IPs
  std::vector<Cidr> world_prefixes;     ///< LPM entries of world classes (for class_of_ip)
  std::vector<std::vector<uint32_t>> world_by_len;
  struct VecHash {
    template <class T>
    size_t operator()(const std::vector<T>& v) const {
      uint64_t h = 0x9E3779B97F4A7C15ull ^ v.size();
      for (const auto& x : v) h = (h ^ value(x)) * 0xFF51AFD7ED558CCDull, h ^= h >> 29;
      return static_cast<size_t>(h);
    }
    static uint64_t value(RuleId r) { return r.v; }
    static uint64_t value(uint32_t x) { return x; }
  };
  std::unordered_map<std::vector<RuleId>, uint32_t, VecHash> rule_set_ids;
  std::map<std::vector<std::tuple<uint32_t, uint32_t, uint32_t>>, uint32_t> l7_ids;
  std::unordered_map<std::vector<uint32_t>, uint32_t, VecHash> function_ids;
  /// Representative of each class, as the evaluator sees a remote address.
  std::vector<Resolved> class_rep;

  explicit Builder(const Model& model) : m(model) {}

  /// `rules` sorted, without duplicates.
  uint32_t intern_rules(const std::vector<RuleId>& rules) {
    assert(std::is_sorted(rules.begin(), rules.end()) && std::adjacent_find(rules.begin(), rules.end()) == rules.end());
    auto it = rule_set_ids.find(rules);
    if (it != rule_set_ids.end()) return it->second;
    auto id = static_cast<uint32_t>(t.rule_sets.size());
    rule_set_ids.emplace(rules, id);
    t.rule_sets.push_back(rules);
    return id;
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
    signature_of_endpoint.assign(m.endpoints.size(), PolicyTables::kNone);
    for (const auto& e : m.endpoints) {
      if (e.host_network) continue;
      std::vector<bool> in;
      for (const auto& c : cluster_cidrs) in.push_back(c.contains(e.ip));
      auto sig = port_signature(e, port_names);
      signature_of_endpoint[e.id.v] =
          signature_ids.emplace(sig, static_cast<uint32_t>(signature_ids.size())).first->second;
      PodKey key{e.identity.v, std::move(sig), in, is_api(e.ip)};
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
    node_begin = t.classes.size();
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
    world_begin = t.classes.size();
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
      std::sort(c.prefixes.begin(), c.prefixes.end(),
                [](const Cidr& a, const Cidr& b) { return std::pair(a.len, a.addr) < std::pair(b.len, b.addr); });
      // Name the class by its most specific prefix ("world" alone for the default region).
      const Cidr& best = c.prefixes.back();
      c.name = best.len == 0 ? "world" : "world " + best.str();
    }
  }

  std::map<std::pair<std::vector<PolicyId>, std::vector<ContainerPort>>, uint32_t> base_ids;
  std::vector<uint32_t> base_of_context;
  /// Interned referenced-named-port declarations: pods with the same one resolve every named
  /// port alike, so cells built against one serve all of them.
  std::map<std::vector<ContainerPort>, uint32_t> signature_ids;
  std::vector<uint32_t> signature_of_endpoint;

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
      // The node matters only to rules with host / remote-node peers; otherwise pods on every
      // node share a context (keeps the tables at identities x classes, not pods x classes).
      bool node_dependent = std::any_of(pols.begin(), pols.end(), [&](PolicyId pid) {
        const auto& rules = m.policy(pid).rules;
        return std::any_of(rules.begin(), rules.end(), [&](RuleId rid) { return rule_node_dependent(m.rule(rid)); });
      });
      CtxKey key{pols, node_dependent ? e.node.v : kAnyNode, port_signature(e, port_names)};
      auto [it, fresh] = ids.emplace(key, static_cast<uint32_t>(t.contexts.size()));
      if (fresh) {
        // Contexts that differ only by node share their rows outside the node columns.
        auto base = std::make_pair(std::get<0>(key), std::get<2>(key));
        base_of_context.push_back(base_ids.emplace(base, static_cast<uint32_t>(base_ids.size())).first->second);
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

  /// Classes are pods, then nodes (in node order), then world regions.
  size_t node_begin = 0, world_begin = 0;
  static constexpr uint32_t kAnyNode = 0xfffffffeu;
  std::vector<Bits> rule_bits_;

  /// Classes each rule's peers match, host and remote-node peers left out: those match node
  /// classes only, depending on the subject's node (see node_member). Only the classes a kind of
  /// peer can match are tried: selectors match pods, plain ipBlocks the world.
  const Bits& rule_bits(RuleId rid) {
    Bits& bits = rule_bits_[rid.v];
    if (!bits.empty()) return bits;
    const size_t K = t.classes.size();
    bits.assign((K + 63) / 64, 0);
    const Rule& r = m.rule(rid);
    const Policy& pol = m.policy(r.policy);
    Endpoint subject;  // only host / remote-node peers look at the subject
    for (const auto& peer : r.peers) {
      size_t lo = 0, hi = K;
      if (const auto* e = std::get_if<PeerEntity>(&peer.v)) {
        if (e->entity == Entity::Host || e->entity == Entity::RemoteNode) continue;
      } else if (std::holds_alternative<PeerEndpoints>(peer.v)) {
        hi = node_begin;
      } else if (const auto* c = std::get_if<PeerCidr>(&peer.v); c && !c->matches_cluster) {
        lo = world_begin;
      }
      for (size_t k = lo; k < hi; ++k)
        if (!test_bit(bits, k) && peer_matches(m, pol, peer, subject, class_rep[k])) set_bit(bits, k);
    }
    return bits;
  }

  /// Whether rule `i` of a row matches node `n`'s class, for a subject on node `n` (own) or on
  /// another node.
  bool node_member(RuleId rid, const Bits& bits, size_t n, bool own) const {
    uint8_t f = rule_flags[rid.v];
    return test_bit(bits, node_begin + n) || (own ? (f & kHost) : (f & kRemoteNode));
  }

  /// Fingerprint of a set of rules (order-independent, 128 bits), accumulated per rule.
  struct Fingerprint {
    uint64_t h1 = 0, h2 = 0;
    uint32_t count = 0;
    struct Delta {
      uint64_t d1, d2;
      explicit Delta(RuleId r) : Delta(uint64_t(r.v)) {}
      explicit Delta(uint64_t v) {
        uint64_t x = (v + 1) * 0x9E3779B97F4A7C15ull;
        x ^= x >> 31;
        d1 = x * 0xFF51AFD7ED558CCDull;
        d2 = (x ^ 0x165667B19E3779F9ull) * 0xC4CEB9FE1A85EC53ull + (x >> 17);
      }
    };
    void add(const Delta& d) {
      h1 += d.d1;
      h2 += d.d2;
      ++count;
    }
    void add(RuleId r) { add(Delta(r)); }
    void sub(const Delta& d) {
      h1 -= d.d1;
      h2 -= d.d2;
      --count;
    }
    friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
  };
  /// What decides a cell: the rules that can take part, fingerprinted, plus isolation and the
  /// named-port declarations of the destination (kNone when no such rule takes part).
  struct CellKey {
    Fingerprint fp;
    bool isolated = false;
    uint32_t signature = PolicyTables::kNone;
    friend bool operator==(const CellKey&, const CellKey&) = default;
  };
  struct CellKeyHash {
    size_t operator()(const CellKey& k) const {
      return static_cast<size_t>(k.fp.h1 ^ (k.fp.h2 * 31) ^ (uint64_t(k.signature) << 1) ^ uint64_t(k.isolated));
    }
  };
  /// Verdicts by cover (see build_function).
  std::unordered_map<CellKey, Segment, CellKeyHash> judged;
  static Fingerprint::Delta item_delta(const std::vector<RuleId>& rules, uint32_t rule, int32_t group) {
    return Fingerprint::Delta((uint64_t(rules[rule].v) << 20) ^ uint64_t(uint32_t(group + 1)));
  }

  /// The port function for the rules `M` (all matching the peer), given isolation and the
  /// destination pod against which named ports resolve. A sweep over the rules' port intervals
  /// per protocol bucket: each elementary segment is judged from the intervals covering it, with
  /// the evaluator's logic (ir/src/evaluator.cpp, default layer; see judge).
  uint32_t build_function(const std::vector<RuleId>& rules, bool isolated, const Endpoint* dst_pod) {
    PortFunction f;
    struct Item {
      uint32_t rule;     ///< index into `rules`
      int32_t group;     ///< -1: the rule has no ports (matches every port, L4)
      uint32_t lo, end;  ///< [lo, end)
    };
    std::vector<Item> items;
    std::vector<uint32_t> by_start, by_end, active, cuts;
    std::vector<uint32_t> pos;
    std::vector<std::pair<uint32_t, int32_t>> cover;
    for (int b = 0; b < kProtoBuckets; ++b) {
      uint8_t proto = kBucketProto[b];
      items.clear();
      for (uint32_t i = 0; i < rules.size(); ++i) {
        const Rule& r = m.rule(rules[i]);
        if (r.ports.empty()) {
          items.push_back({i, -1, 0, 65536});
          continue;
        }
        for (uint32_t gi = 0; gi < r.ports.size(); ++gi) {
          const auto& g = r.ports[gi];
          if (g.ports.empty()) {
            items.push_back({i, static_cast<int32_t>(gi), 0, 65536});
            continue;
          }
          for (const auto& pm : g.ports) {
            if (!pm.protos.contains(proto)) continue;
            if (pm.named.empty()) {
              items.push_back({i, static_cast<int32_t>(gi), pm.range.lo, uint32_t(pm.range.hi) + 1});
            } else if (dst_pod) {
              for (const auto& cp : dst_pod->ports)
                if (cp.name == pm.named && cp.proto == proto)
                  items.push_back({i, static_cast<int32_t>(gi), cp.port, uint32_t(cp.port) + 1});
            }
          }
        }
      }
      cuts.assign({0, 65536});
      for (const auto& it : items) {
        cuts.push_back(it.lo);
        cuts.push_back(it.end);
      }
      std::sort(cuts.begin(), cuts.end());
      cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
      by_start.resize(items.size());
      by_end.resize(items.size());
      for (uint32_t i = 0; i < items.size(); ++i) by_start[i] = by_end[i] = i;
      std::sort(by_start.begin(), by_start.end(), [&](uint32_t a, uint32_t b) { return items[a].lo < items[b].lo; });
      std::sort(by_end.begin(), by_end.end(), [&](uint32_t a, uint32_t b) { return items[a].end < items[b].end; });
      active.clear();
      Fingerprint cover_fp;
      pos.assign(items.size(), 0);
      size_t si = 0, ei = 0;
      std::vector<Segment>& segs = f.buckets[b];
      for (size_t c = 0; c + 1 < cuts.size(); ++c) {
        uint32_t lo = cuts[c], hi = cuts[c + 1] - 1;
        while (ei < by_end.size() && items[by_end[ei]].end <= lo) {
          uint32_t x = by_end[ei++];
          if (items[x].lo >= items[x].end) continue;
          uint32_t p = pos[x];
          active[p] = active.back();
          pos[active[p]] = p;
          active.pop_back();
          cover_fp.sub(item_delta(rules, items[x].rule, items[x].group));
        }
        while (si < by_start.size() && items[by_start[si]].lo <= lo) {
          uint32_t x = by_start[si++];
          if (items[x].end <= lo) continue;  // already ended (removed above or never active)
          pos[x] = static_cast<uint32_t>(active.size());
          active.push_back(x);
          cover_fp.add(item_delta(rules, items[x].rule, items[x].group));
        }
        // The verdict depends only on which (rule, port group) pairs cover the segment: the
        // same cover recurs across the functions of a table, so verdicts are kept by it.
        CellKey ck{cover_fp, isolated, 0};
        auto jt = judged.find(ck);
        Segment s;
        if (jt != judged.end()) {
          s = jt->second;
        } else {
          cover.clear();
          for (uint32_t x : active) cover.emplace_back(items[x].rule, items[x].group);
          s = judge(rules, cover, isolated);
          judged.emplace(ck, s);
        }
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

  /// The evaluator's verdict for a segment from the (rule, group) pairs whose port intervals
  /// cover it (group -1: a rule without ports): deny rules win, then isolation, then L4 allows,
  /// then L7 allows. Sorts `cover`; `rules` sorted by id.
  std::vector<RuleId> denies, l4, l7rules;  // judge's scratch
  std::vector<L7Ref> l7refs;
  Segment judge(const std::vector<RuleId>& rules, std::vector<std::pair<uint32_t, int32_t>>& cover, bool isolated) {
    std::sort(cover.begin(), cover.end());
    cover.erase(std::unique(cover.begin(), cover.end()), cover.end());
    denies.clear();
    l4.clear();
    l7rules.clear();
    l7refs.clear();
    for (size_t a = 0; a < cover.size();) {
      size_t z = a;
      while (z < cover.size() && cover[z].first == cover[a].first) ++z;
      RuleId rid = rules[cover[a].first];
      const Rule& r = m.rule(rid);
      bool l4_only = false;
      size_t refs_begin = l7refs.size();
      for (size_t q = a; q < z; ++q) {
        int32_t gi = cover[q].second;
        if (gi < 0 || !r.ports[static_cast<size_t>(gi)].has_l7()) {
          l4_only = true;
        } else {
          const auto& g = r.ports[static_cast<size_t>(gi)];
          for (uint32_t hi = 0; hi < g.http.size(); ++hi) l7refs.push_back(L7Ref{rid, static_cast<uint32_t>(gi), hi});
        }
      }
      if (r.action == Action::Deny) {
        denies.push_back(rid);
        l7refs.resize(refs_begin);
      } else if (r.action == Action::Allow) {
        if (l4_only) {
          l4.push_back(rid);
          l7refs.resize(refs_begin);
        } else {
          l7rules.push_back(rid);
        }
      } else {
        l7refs.resize(refs_begin);
      }
      a = z;
    }
    Segment s;
    if (!denies.empty()) {
      s.outcome = Outcome::Deny;
      s.rules = intern_rules(denies);
    } else if (!isolated && (!l4.empty() || l7rules.empty())) {
      // enableDefaultDeny does not apply to L7 (as in the evaluator): an L7 allow without an
      // L4-only allow for this peer and port filters requests even where nothing isolates.
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

  /// Cells already built. Fingerprints instead of rule vectors keep this small at 10,000s of pods.
  std::unordered_map<CellKey, uint32_t, CellKeyHash> memo;

  /// Per rule, how it can take part in a cell.
  enum RuleFlags : uint8_t {
    kInert = 1,        ///< neither allow nor deny: judge ignores it
    kDeny = 2,         ///< a deny rule
    kDenyAll = 4,      ///< a deny rule covering every port of every protocol
    kNamedOnly = 8,    ///< every port it names is a named port: nothing where none resolves
    kNamed = 16,       ///< names a port somewhere
    kHost = 32,        ///< has a host peer
    kRemoteNode = 64,  ///< has a remote-node peer
  };
  std::vector<uint8_t> rule_flags;
  /// kNamedOnly rules: whether any of their named ports resolves against a signature.
  std::vector<std::vector<int8_t>> resolves_table;     ///< [rule][signature]: -1 not known yet
  std::vector<std::vector<ContainerPort>> signatures;  ///< by id

  void classify_rules() {
    rule_flags.assign(m.rules.size(), 0);
    for (const auto& r : m.rules) {
      uint8_t f = 0;
      bool all_ports = r.ports.empty(), named_only = !r.ports.empty();
      for (const auto& g : r.ports) {
        if (g.ports.empty()) all_ports = true;
        if (g.ports.empty()) named_only = false;
        for (const auto& pm : g.ports) {
          if (!pm.named.empty()) f |= kNamed;
          if (pm.named.empty()) named_only = false;
        }
      }
      if (r.action == Action::Deny) f |= kDeny | (all_ports ? kDenyAll : 0);
      if (r.action != Action::Deny && r.action != Action::Allow) f |= kInert;
      if (named_only) f |= kNamedOnly;
      for (const auto& peer : r.peers)
        if (const auto* e = std::get_if<PeerEntity>(&peer.v)) {
          if (e->entity == Entity::Host) f |= kHost;
          if (e->entity == Entity::RemoteNode) f |= kRemoteNode;
        }
      rule_flags[r.id.v] = f;
    }
    resolves_table.assign(m.rules.size(), {});
    signatures.resize(signature_ids.size());
    for (const auto& [sig, id] : signature_ids) signatures[id] = sig;
  }

  /// Whether a kNamedOnly rule yields any port against the destination's declarations.
  bool resolves(RuleId rid, uint32_t sig) {
    if (sig == PolicyTables::kNone) return false;
    auto& row = resolves_table[rid.v];
    if (row.empty()) row.assign(signatures.size(), -1);
    int8_t& v = row[sig];
    if (v < 0) {
      v = 0;
      for (const auto& g : m.rule(rid).ports)
        for (const auto& pm : g.ports)
          for (const auto& cp : signatures[sig])
            if (cp.name == pm.named && pm.protos.contains(cp.proto)) v = 1;
    }
    return v != 0;
  }

  /// Accumulates, per class, which rules take part. A deny rule covering every port makes the
  /// allows irrelevant (every segment is denied by the denies); a rule with only named ports,
  /// none declared by the destination, yields no port at all. Both are left out of the key, so
  /// cells that differ only by such rules share one function.
  struct ClassAcc {
    Fingerprint all, denies;
    bool deny_all = false, named = false, named_deny = false;
    void add(RuleId r, uint8_t f) { add(Fingerprint::Delta(r), f); }
    void add(const Fingerprint::Delta& r, uint8_t f) {
      all.add(r);
      if (f & kNamed) named = true;
      if (f & kDeny) {
        denies.add(r);
        if (f & kDenyAll) deny_all = true;
        if (f & kNamed) named_deny = true;
      }
    }
  };

  /// The destination's named-port declarations for a cell: the subject's for ingress (every
  /// pod of a context declares the same referenced named ports), the peer's for egress.
  uint32_t destination_signature(const Context& c, int d, size_t k) const {
    if (d == static_cast<int>(Direction::Ingress)) return signature_of_endpoint[c.endpoints.front().v];
    if (class_rep[k].kind == Resolved::Kind::Pod) return signature_of_endpoint[class_rep[k].ep.v];
    return PolicyTables::kNone;
  }

  bool takes_part(RuleId r, uint32_t sig) {
    uint8_t f = rule_flags[r.v];
    if (f & kInert) return false;
    return !(f & kNamedOnly) || resolves(r, sig);
  }

  /// The function of one cell (context `c`, direction `d`, peer class `k`), given the rules of
  /// the row with their class bitmaps and what takes part for `k`.
  CellKey last_key;
  uint32_t last_fid = 0;
  bool have_last = false;
  template <class Member>
  uint32_t cell(const Context& c, int d, size_t k, const std::vector<RuleId>& rules, Member member, const ClassAcc& acc,
                uint32_t sig) {
    CellKey key;
    key.fp = acc.deny_all ? acc.denies : acc.all;
    key.isolated = c.isolated[d];
    bool named = acc.deny_all ? acc.named_deny : acc.named;
    if (named) key.signature = sig;
    // Neighbouring classes often agree (pods of one workload, regions of one prefix).
    if (have_last && key == last_key) return last_fid;
    have_last = true;
    last_key = key;
    auto it = memo.find(key);
    if (it != memo.end()) return last_fid = it->second;
    std::vector<RuleId> matched;
    matched.reserve(key.fp.count);
    for (size_t i = 0; i < rules.size(); ++i)
      if (member(i) && takes_part(rules[i], sig) && (!acc.deny_all || (rule_flags[rules[i].v] & kDeny)))
        matched.push_back(rules[i]);
    assert(matched.size() == key.fp.count);
    std::sort(matched.begin(), matched.end());
    const Endpoint* dst = nullptr;
    if (named && sig != PolicyTables::kNone)
      dst = d == static_cast<int>(Direction::Ingress) ? &m.endpoint(c.endpoints.front()) : &m.endpoint(class_rep[k].ep);
    uint32_t fid = build_function(matched, c.isolated[d], dst);
    memo.emplace(key, fid);
    return last_fid = fid;
  }

  /// The rules of a context in one direction, with their class bitmaps for its node.
  void row_rules(const Context& c, int d, std::vector<RuleId>& rules, std::vector<const Bits*>& bits) {
    rules.clear();
    bits.clear();
    for (auto pid : c.policies)
      for (auto rid : m.policy(pid).rules)
        if (static_cast<int>(m.rule(rid).dir) == d && !(rule_flags[rid.v] & kInert)) rules.push_back(rid);
    for (auto rid : rules) bits.push_back(&rule_bits(rid));
  }

  /// What takes part, for every class (work: the set bits, not rules x classes).
  void accumulate(const Context& c, int d, const std::vector<RuleId>& rules, const std::vector<const Bits*>& bits,
                  size_t K, std::vector<ClassAcc>& acc, std::vector<uint32_t>& sig) {
    acc.assign(K, ClassAcc{});
    sig.resize(K);
    for (size_t k = 0; k < K; ++k) sig[k] = destination_signature(c, d, k);
    for (size_t i = 0; i < rules.size(); ++i) {
      const Bits& b = *bits[i];
      RuleId r = rules[i];
      uint8_t f = rule_flags[r.v];
      Fingerprint::Delta delta(r);
      for (size_t w = 0; w < b.size(); ++w)
        for (uint64_t word = b[w]; word; word &= word - 1) {
          size_t k = w * 64 + static_cast<size_t>(__builtin_ctzll(word));
          if ((f & kNamedOnly) && !resolves(r, sig[k])) continue;
          acc[k].add(delta, f);
        }
    }
  }

  void build_table() {
    const size_t K = t.classes.size();
    const size_t N = m.nodes.size();
    t.node_count_ = N;
    t.first_node_class_ = static_cast<uint32_t>(node_begin);
    classify_rules();
    rule_bits_.assign(m.rules.size(), {});
    t.row_of_.assign(t.contexts.size() * 2, 0);
    t.node_functions_.assign(t.contexts.size() * 2 * N, 0);
    // Per (base context, direction): the row, and the node columns for a subject on another
    // node (remote) and on that node (own, filled as contexts on it appear).
    struct BaseRow {
      uint32_t row = PolicyTables::kNone;
      std::vector<uint32_t> remote, own;
    };
    std::vector<std::array<BaseRow, 2>> base_rows(base_ids.size());
    std::vector<RuleId> rules;
    std::vector<const Bits*> bits;
    std::vector<ClassAcc> acc;
    std::vector<uint32_t> sig;
    auto node_cell = [&](const Context& c, int d, size_t n, bool own) {
      size_t k = node_begin + n;
      uint32_t nsig = destination_signature(c, d, k);
      ClassAcc a;
      for (size_t i = 0; i < rules.size(); ++i)
        if (node_member(rules[i], *bits[i], n, own) && takes_part(rules[i], nsig))
          a.add(rules[i], rule_flags[rules[i].v]);
      return cell(
          c, d, k, rules, [&](size_t i) { return node_member(rules[i], *bits[i], n, own); }, a, nsig);
    };
    for (const auto& c : t.contexts)
      for (int d = 0; d < 2; ++d) {
        BaseRow& br = base_rows[base_of_context[c.id]][static_cast<size_t>(d)];
        row_rules(c, d, rules, bits);
        if (br.row == PolicyTables::kNone) {
          // A new row: every class but the nodes.
          accumulate(c, d, rules, bits, K, acc, sig);
          std::vector<uint32_t> row(K, 0);
          for (size_t k = 0; k < K; ++k)
            if (k < node_begin || k >= world_begin)
              row[k] = cell(
                  c, d, k, rules, [&](size_t i) { return test_bit(*bits[i], k); }, acc[k], sig[k]);
          br.row = static_cast<uint32_t>(t.rows_.size());
          t.rows_.push_back(std::move(row));
          br.remote.resize(N);
          for (size_t n = 0; n < N; ++n) br.remote[n] = node_cell(c, d, n, false);
          br.own.assign(N, PolicyTables::kNone);
        }
        t.row_of_[c.id * 2 + static_cast<size_t>(d)] = br.row;
        size_t own = c.node.v;
        if (br.own[own] == PolicyTables::kNone) br.own[own] = node_cell(c, d, own, true);
        uint32_t* cols = &t.node_functions_[(c.id * 2 + static_cast<size_t>(d)) * N];
        for (size_t n = 0; n < N; ++n) cols[n] = n == own ? br.own[n] : br.remote[n];
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
