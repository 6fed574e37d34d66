#include "polc/verifier/connectivity.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

namespace polc::verifier {

namespace {

using Ranges = PortSet::Ranges;

void add_range(Ranges& r, uint16_t lo, uint16_t hi) {
  if (!r.empty() && uint32_t(r.back().second) + 1 >= lo) {
    r.back().second = std::max(r.back().second, hi);
    return;
  }
  r.emplace_back(lo, hi);
}

Ranges intersect(const Ranges& a, const Ranges& b) {
  Ranges out;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    uint16_t lo = std::max(a[i].first, b[j].first), hi = std::min(a[i].second, b[j].second);
    if (lo <= hi) add_range(out, lo, hi);
    if (a[i].second < b[j].second)
      ++i;
    else
      ++j;
  }
  return out;
}

Ranges unite(const Ranges& a, const Ranges& b) {
  Ranges all = a;
  all.insert(all.end(), b.begin(), b.end());
  std::sort(all.begin(), all.end());
  Ranges out;
  for (const auto& [lo, hi] : all) add_range(out, lo, hi);
  return out;
}

const char* bucket_label(int b) {
  return ir::proto_bucket_name(static_cast<ir::ProtoBucket>(b));
}

PortSet from_function(const ir::PortFunction& f) {
  PortSet p;
  for (int b = 0; b < ir::kProtoBuckets; ++b)
    for (const auto& s : f.buckets[static_cast<size_t>(b)]) {
      if (!ir::outcome_allows_l4(s.outcome)) continue;
      add_range(p.allowed[static_cast<size_t>(b)], s.lo, s.hi);
      if (s.outcome == ir::Outcome::AllowL7) add_range(p.l7[static_cast<size_t>(b)], s.lo, s.hi);
    }
  return p;
}

bool operator==(const PortSet& a, const PortSet& b) {
  return a.allowed == b.allowed && a.l7 == b.l7;
}

/// Merges rows that share a workload name.
ReachListing to_listing(std::map<std::string, ReachRow>& rows) {
  ReachListing out;
  for (auto& [name, row] : rows) {
    std::sort(row.pods.begin(), row.pods.end());
    row.pods.erase(std::unique(row.pods.begin(), row.pods.end()), row.pods.end());
    (row.ports.empty() ? out.denied : out.allowed).push_back(std::move(row));
  }
  return out;
}

void merge_into(std::map<std::string, ReachRow>& rows, const Group& g, const PortSet& ps, bool uniform, bool have) {
  auto [it, fresh] = rows.try_emplace(g.workload);
  ReachRow& r = it->second;
  if (fresh) {
    r.workload = g.workload;
    r.kind = g.kind;
    r.ports = ps;
    r.uniform = uniform;
  } else {
    if (!(r.ports == ps)) r.uniform = false;
    r.uniform = r.uniform && uniform;
    r.ports.unite(ps);
  }
  (void)have;
  r.pods.insert(r.pods.end(), g.endpoints.begin(), g.endpoints.end());
}

/// One side's endpoints as (group, restriction) pairs.
struct Target {
  uint32_t group;
  PortSet restriction;
};

std::vector<Target> targets_of(const Connectivity& c, const ir::Model& m, const EndpointSet& set,
                               std::optional<uint8_t> proto, std::optional<uint16_t> port) {
  std::vector<Target> out;
  PortSet base = PortSet::everything().restrict(proto, port);
  for (const auto& cand : set.candidates) {
    Target t;
    t.group = cand.kind == Candidate::Kind::Pod ? c.group_of_endpoint(cand.ep) : c.group_of_node(cand.node);
    if (cand.ports.empty()) {
      t.restriction = base;
    } else {
      for (const auto& [pr, pt] : cand.ports) t.restriction.unite(PortSet::single(pr, pt));
    }
    out.push_back(t);
  }
  if (set.external) {
    for (uint32_t gi = 0; gi < c.groups().size(); ++gi) {
      const Group& g = c.groups()[gi];
      if (g.kind != Group::Kind::World) continue;
      out.push_back(Target{gi, base});
    }
  }
  (void)m;
  return out;
}

}  // namespace

namespace {

std::string serialize(const PortSet& p) {
  std::string out;
  auto put = [&](const Ranges& r) {
    for (const auto& [lo, hi] : r) {
      out.push_back(static_cast<char>(lo >> 8));
      out.push_back(static_cast<char>(lo & 255));
      out.push_back(static_cast<char>(hi >> 8));
      out.push_back(static_cast<char>(hi & 255));
    }
    out.push_back('|');
  };
  for (const auto& r : p.allowed) put(r);
  for (const auto& r : p.l7) put(r);
  return out;
}

constexpr uint32_t kNoFunction = 0xffffffffu;

}  // namespace

// ---------------------------------------------------------------------------------------------
// PortSet

bool PortSet::empty() const {
  return std::all_of(allowed.begin(), allowed.end(), [](const Ranges& r) { return r.empty(); });
}

bool PortSet::full() const {
  return std::all_of(allowed.begin(), allowed.end(),
                     [](const Ranges& r) { return r.size() == 1 && r[0].first == 0 && r[0].second == 65535; });
}

bool PortSet::contains(uint8_t proto, uint16_t port) const {
  for (const auto& [lo, hi] : allowed[static_cast<size_t>(ir::proto_bucket(proto))])
    if (port >= lo && port <= hi) return true;
  return false;
}

PortSet PortSet::everything() {
  PortSet p;
  for (auto& r : p.allowed) r = {{0, 65535}};
  return p;
}

PortSet PortSet::single(uint8_t proto, uint16_t port) {
  PortSet p;
  p.allowed[static_cast<size_t>(ir::proto_bucket(proto))] = {{port, port}};
  return p;
}

PortSet PortSet::intersect(const PortSet& o) const {
  PortSet p;
  for (size_t b = 0; b < allowed.size(); ++b) {
    p.allowed[b] = polc::verifier::intersect(allowed[b], o.allowed[b]);
    p.l7[b] = polc::verifier::intersect(polc::verifier::unite(l7[b], o.l7[b]), p.allowed[b]);
  }
  return p;
}

void PortSet::unite(const PortSet& o) {
  for (size_t b = 0; b < allowed.size(); ++b) {
    allowed[b] = polc::verifier::unite(allowed[b], o.allowed[b]);
    l7[b] = polc::verifier::unite(l7[b], o.l7[b]);
  }
}

PortSet PortSet::restrict(std::optional<uint8_t> proto, std::optional<uint16_t> port) const {
  PortSet mask;
  for (size_t b = 0; b < allowed.size(); ++b) {
    if (proto && static_cast<size_t>(ir::proto_bucket(*proto)) != b) continue;
    mask.allowed[b] = port ? Ranges{{*port, *port}} : Ranges{{0, 65535}};
  }
  return intersect(mask);
}

std::string PortSet::str() const {
  if (empty()) return "none";
  bool no_l7 = std::all_of(l7.begin(), l7.end(), [](const Ranges& r) { return r.empty(); });
  if (full() && no_l7) return "any";
  std::string s;
  auto add = [&](const std::string& x) { s += (s.empty() ? "" : ", ") + x; };
  for (int b = 0; b < ir::kProtoBuckets; ++b) {
    const Ranges& r = allowed[static_cast<size_t>(b)];
    const Ranges& h = l7[static_cast<size_t>(b)];
    auto http = [&](uint16_t lo, uint16_t hi) {
      for (const auto& [a, z] : h)
        if (a <= lo && hi <= z) return std::string(" (HTTP)");
      return std::string();
    };
    auto b_ = static_cast<ir::ProtoBucket>(b);
    if (r.size() == 1 && r[0].first == 0 && r[0].second == 65535) {
      if (b_ == ir::ProtoBucket::Icmp)
        add("ICMP");
      else if (b_ == ir::ProtoBucket::Other)
        add("other protocols");
      else
        add(std::string("all ") + bucket_label(b) + http(0, 65535));
      continue;
    }
    for (const auto& [lo, hi] : r) {
      std::string range = lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
      if (b_ == ir::ProtoBucket::Icmp)
        add("ICMP type " + range);
      else if (b_ == ir::ProtoBucket::Other)
        add("other protocols");
      else
        add(range + "/" + bucket_label(b) + http(lo, hi));
    }
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Connectivity

Connectivity::Connectivity(const ir::Model& m, const ir::PolicyTables& t) : m_(m), t_(t) {
  group_of_endpoint_.assign(m.endpoints.size(), ir::PolicyTables::kNone);
  group_of_node_.assign(m.nodes.size(), ir::PolicyTables::kNone);
  // Pods of a group share their class, context, workload and node (ingress from the own node
  // is always allowed, so the node matters even where the context spans nodes).
  std::map<std::tuple<uint32_t, uint32_t, std::string, uint32_t>, uint32_t> pod_groups;
  for (const auto& e : m.endpoints) {
    if (e.host_network) continue;
    std::string wl = m.ns(e.ns).name + "/" + e.workload;
    auto key = std::make_tuple(t.class_of_endpoint[e.id.v], t.context_of_endpoint[e.id.v], wl, e.node.v);
    auto [it, fresh] = pod_groups.emplace(key, static_cast<uint32_t>(groups_.size()));
    if (fresh) {
      Group g;
      g.kind = Group::Kind::Pods;
      g.cls = std::get<0>(key);
      g.ctx = std::get<1>(key);
      g.node = e.node;
      g.workload = wl;
      groups_.push_back(g);
    }
    groups_[it->second].endpoints.push_back(e.id);
    group_of_endpoint_[e.id.v] = it->second;
  }
  for (const auto& cls : t.classes) {
    if (cls.kind == ir::AddrClass::Kind::Pods) continue;
    Group g;
    g.cls = cls.id;
    g.workload = cls.name;
    if (cls.kind == ir::AddrClass::Kind::Node) {
      g.kind = Group::Kind::Node;
      g.node = cls.node;
      group_of_node_[cls.node.v] = static_cast<uint32_t>(groups_.size());
    } else {
      g.kind = Group::Kind::World;
    }
    groups_.push_back(g);
  }
  for (const auto& e : m.endpoints)
    if (e.host_network) {
      uint32_t g = group_of_node_[e.node.v];
      group_of_endpoint_[e.id.v] = g;
      groups_[g].endpoints.push_back(e.id);
    }
  // Behaviors: pod groups of one workload and class whose contexts have identical rows towards
  // pods and the world. The node columns may differ (they depend on the context's node), so a
  // behavior stands for its members only where the peer is a pod or world group.
  std::map<std::tuple<uint32_t, uint32_t, uint32_t, std::string>, uint32_t> behaviors;
  behavior_.resize(groups_.size());
  for (uint32_t g = 0; g < groups_.size(); ++g) {
    const Group& grp = groups_[g];
    if (grp.kind != Group::Kind::Pods) {
      behavior_[g] = g;
      continue;
    }
    auto key = std::make_tuple(t.row_id(grp.ctx, ir::Direction::Egress), t.row_id(grp.ctx, ir::Direction::Ingress),
                               grp.cls, grp.workload);
    behavior_[g] = behaviors.emplace(std::move(key), g).first->second;
  }
}

bool Connectivity::self_only(uint32_t src, uint32_t dst) const {
  return src == dst && groups_[src].kind == Group::Kind::Pods && groups_[src].endpoints.size() == 1;
}

uint32_t Connectivity::intern(PortSet p) const {
  auto [it, fresh] = set_ids_.emplace(serialize(p), static_cast<uint32_t>(sets_.size()));
  if (fresh) sets_.push_back(std::move(p));
  return it->second;
}

uint32_t Connectivity::function_set(uint32_t fid) const {
  if (function_sets_.size() < t_.functions.size()) function_sets_.resize(t_.functions.size(), kNoFunction);
  uint32_t& slot = function_sets_[fid];
  if (slot == kNoFunction) slot = intern(from_function(t_.functions[fid]));
  return slot;
}

uint32_t Connectivity::allowed_id(uint32_t src, uint32_t dst, bool distinct) const {
  const Group& s = groups_[src];
  const Group& d = groups_[dst];
  uint32_t eg = kNoFunction, in = kNoFunction;
  if (distinct || !self_only(src, dst)) {
    if (s.kind == Group::Kind::Pods) eg = t_.function_id(s.ctx, ir::Direction::Egress, d.cls);
    bool own_node = s.kind == Group::Kind::Node && m_.config.allow_from_own_node && s.node == d.node;
    if (d.kind == Group::Kind::Pods && !own_node) in = t_.function_id(d.ctx, ir::Direction::Ingress, s.cls);
  }
  auto [it, fresh] = pair_sets_.try_emplace(uint64_t(eg) << 32 | in, 0);
  if (!fresh) return it->second;
  if (eg == kNoFunction && in == kNoFunction) return it->second = intern(PortSet::everything());
  if (in == kNoFunction) return it->second = function_set(eg);
  if (eg == kNoFunction) return it->second = function_set(in);
  uint32_t a = function_set(eg), b = function_set(in);
  return it->second = intern(sets_[a].intersect(sets_[b]));
}

ReachListing who_can_reach(const Connectivity& c, const ir::Model& m, const EndpointSet& dst,
                           std::optional<uint8_t> proto, std::optional<uint16_t> port) {
  auto targets = targets_of(c, m, dst, proto, port);
  std::map<std::string, ReachRow> rows;
  for (uint32_t s = 0; s < c.groups().size(); ++s) {
    PortSet total;
    bool first = true, uniform = true;
    for (const auto& t : targets) {
      if (c.self_only(s, t.group)) continue;
      PortSet ps = c.allowed(s, t.group).intersect(t.restriction);
      if (first) {
        total = ps;
        first = false;
      } else {
        if (!(ps == total)) uniform = false;
        total.unite(ps);
      }
    }
    if (first) continue;  // only itself
    merge_into(rows, c.groups()[s], total, uniform, true);
  }
  return to_listing(rows);
}

ReachListing what_can_reach(const Connectivity& c, const ir::Model& m, const EndpointSet& src,
                            std::optional<uint8_t> proto, std::optional<uint16_t> port) {
  auto sources = targets_of(c, m, src, std::nullopt, std::nullopt);
  PortSet mask = PortSet::everything().restrict(proto, port);
  std::map<std::string, ReachRow> rows;
  for (uint32_t d = 0; d < c.groups().size(); ++d) {
    PortSet total;
    bool first = true, uniform = true;
    for (const auto& s : sources) {
      if (c.self_only(s.group, d)) continue;
      PortSet ps = c.allowed(s.group, d).intersect(mask);
      if (first) {
        total = ps;
        first = false;
      } else {
        if (!(ps == total)) uniform = false;
        total.unite(ps);
      }
    }
    if (first) continue;
    merge_into(rows, c.groups()[d], total, uniform, true);
  }
  return to_listing(rows);
}

std::vector<MatrixCell> connectivity_matrix(const Connectivity& c, const ir::Model& m, const MatrixOptions& opt,
                                            std::vector<std::string>* names) {
  (void)m;
  const auto& groups = c.groups();
  // Rows and columns: workload names, indexed.
  std::map<std::string, uint32_t> unit_ids;
  std::vector<uint32_t> unit_of(groups.size(), kNoFunction);
  for (uint32_t g = 0; g < groups.size(); ++g) {
    Group::Kind k = groups[g].kind;
    if (k == Group::Kind::World && !opt.include_world) continue;
    if (k == Group::Kind::Node && !opt.include_nodes) continue;
    unit_of[g] = unit_ids.emplace(groups[g].workload, 0).first->second;
  }
  std::vector<std::string> unit_names;
  {
    uint32_t i = 0;
    for (auto& [name, id] : unit_ids) {
      id = i++;
      unit_names.push_back(name);
    }
    for (uint32_t g = 0; g < groups.size(); ++g)
      if (unit_of[g] != kNoFunction) unit_of[g] = unit_ids[groups[g].workload];
  }
  // One representative per behavior (pods) plus every world group, for pod and world peers.
  // Cells with a node on either side take every pod group: node columns depend on the
  // context's node, and own-node ingress on the destination's node.
  const auto& behavior = c.behavior_of_group();
  std::vector<uint32_t> reps;
  std::vector<size_t> members(groups.size(), 0);  // pods per behavior
  for (uint32_t g = 0; g < groups.size(); ++g) {
    if (unit_of[g] == kNoFunction) continue;
    members[behavior[g]] += groups[g].kind == Group::Kind::Pods ? groups[g].endpoints.size() : 1;
    if (behavior[g] == g) reps.push_back(g);
  }
  size_t n = unit_names.size();
  std::vector<uint32_t> first(n * n, kNoFunction);
  std::vector<bool> mixed(n * n, false);
  std::map<size_t, std::vector<uint32_t>> extra;  // cells with several distinct sets
  auto record = [&](uint32_t su, uint32_t du, uint32_t set) {
    size_t cell = static_cast<size_t>(su) * n + du;
    if (first[cell] == kNoFunction) {
      first[cell] = set;
    } else if (first[cell] != set) {
      auto& v = extra[cell];
      if (std::find(v.begin(), v.end(), set) == v.end()) v.push_back(set);
      mixed[cell] = true;
    }
  };
  for (uint32_t s : reps) {
    const Group& sg = groups[s];
    bool s_node = sg.kind == Group::Kind::Node;
    for (uint32_t d : (s_node ? std::vector<uint32_t>{} : reps)) {
      const Group& dg = groups[d];
      if (dg.kind == Group::Kind::Node) continue;                                  // below
      if (sg.kind != Group::Kind::Pods && dg.kind != Group::Kind::Pods) continue;  // no policy applies
      if (s == d && members[s] <= 1) continue;                                     // only self traffic
      record(unit_of[s], unit_of[d], c.allowed_id(s, d, /*distinct=*/true));
    }
    if (s_node)
      for (uint32_t d = 0; d < groups.size(); ++d)
        if (unit_of[d] != kNoFunction && groups[d].kind == Group::Kind::Pods)
          record(unit_of[s], unit_of[d], c.allowed_id(s, d));
  }
  std::vector<uint32_t> node_groups;
  for (uint32_t g = 0; g < groups.size(); ++g)
    if (unit_of[g] != kNoFunction && groups[g].kind == Group::Kind::Node) node_groups.push_back(g);
  if (!node_groups.empty())
    for (uint32_t s = 0; s < groups.size(); ++s)
      if (unit_of[s] != kNoFunction && groups[s].kind == Group::Kind::Pods)
        for (uint32_t d : node_groups) record(unit_of[s], unit_of[d], c.allowed_id(s, d, /*distinct=*/true));
  std::vector<MatrixCell> out;
  for (size_t cell = 0; cell < first.size(); ++cell) {
    if (first[cell] == kNoFunction) continue;
    PortSet ps = c.port_set(first[cell]);
    if (mixed[cell])
      for (uint32_t id : extra[cell]) ps.unite(c.port_set(id));
    if (opt.ports) ps = ps.intersect(*opt.ports);
    if (ps.empty()) continue;
    MatrixCell mc;
    mc.src = unit_names[cell / n];
    mc.dst = unit_names[cell % n];
    mc.ports = std::move(ps);
    mc.uniform = !mixed[cell];
    if (mixed[cell] && opt.ports) {  // differences outside the asked ports do not count
      std::set<std::string> seen{serialize(c.port_set(first[cell]).intersect(*opt.ports))};
      for (uint32_t id : extra[cell]) seen.insert(serialize(c.port_set(id).intersect(*opt.ports)));
      mc.uniform = seen.size() == 1;
    }
    out.push_back(std::move(mc));
  }
  if (names) *names = unit_names;
  return out;
}

}  // namespace polc::verifier
