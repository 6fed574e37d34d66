#include "polc/verifier/diff.h"

#include <fmt/format.h>

#include <map>
#include <set>

#include "polc/ir/policy_tables.h"

namespace polc::verifier {

namespace {

constexpr uint8_t kProtos[] = {6, 17, 132, 1, 47};

/// A source or destination as both models see it.
struct Side {
  std::string name;
  ir::Address before, after;
};

/// Cut points of every port function in a table, per protocol bucket.
void collect_cuts(const ir::PolicyTables& t, std::array<std::set<uint32_t>, ir::kProtoBuckets>& cuts) {
  for (const auto& f : t.functions)
    for (int b = 0; b < ir::kProtoBuckets; ++b)
      for (const auto& s : f.buckets[b]) cuts[b].insert(s.lo);
}

std::string rules_text(const ir::Model& m, const ir::PolicyTables& t, const ir::Probe& p, bool ingress) {
  (void)t;
  ir::Verdict v = ir::evaluate(m, p);
  const auto& dv = ingress ? v.ingress : v.egress;
  std::string s;
  for (auto rid : dv.rules) {
    const auto& r = m.rule(rid);
    s += (s.empty() ? "" : "; ") + m.policy(r.policy).display() + " " + r.path + " (" + m.sources.format(r.loc) + ")";
  }
  if (s.empty()) {
    if (dv.reason == ir::Reason::NoRuleMatched && !dv.isolating.empty())
      s = std::string(ir::direction_name(dv.dir)) + " isolated by " + m.policy(dv.isolating.front()).display() +
          " with no rule admitting it";
    else if (dv.reason == ir::Reason::NotIsolated)
      s = "not isolated";
    else if (dv.reason == ir::Reason::Unmanaged)
      s = "no policy (not a pod)";
    else
      s = ir::reason_name(dv.reason);
  }
  return s;
}

}  // namespace

DiffResult diff_models(const ir::Model& before, const ir::Model& after) {
  DiffResult res;
  ir::PolicyTables tb = ir::resolve_policies(before);
  ir::PolicyTables ta = ir::resolve_policies(after);

  // Pods in both models, grouped by how both models treat them.
  std::map<std::array<uint32_t, 4>, std::vector<Side>> pod_groups;
  for (const auto& e : before.endpoints) {
    std::string name = before.endpoint_name(e.id);
    auto ns_end = name.find('/');
    auto other = after.find_endpoint(name.substr(0, ns_end), name.substr(ns_end + 1));
    if (!other) {
      res.removed_pods.push_back(name);
      continue;
    }
    if (e.host_network || after.endpoint(*other).host_network) continue;
    std::array<uint32_t, 4> key{tb.context_of_endpoint[e.id.v], tb.class_of_endpoint[e.id.v],
                                ta.context_of_endpoint[other->v], ta.class_of_endpoint[other->v]};
    pod_groups[key].push_back(Side{name, ir::Address::pod(e.id), ir::Address::pod(*other)});
  }
  for (const auto& e : after.endpoints)
    if (!before.find_endpoint(after.ns(e.ns).name, e.name)) res.added_pods.push_back(after.endpoint_name(e.id));

  // Sources that are not pods: nodes (by name) and one address per world region of either model.
  std::vector<std::vector<Side>> sources;
  for (auto& [k, v] : pod_groups) sources.push_back(v);
  for (const auto& n : before.nodes)
    for (const auto& n2 : after.nodes)
      if (n.name == n2.name) sources.push_back({Side{"node " + n.name, ir::Address::ip(n.ip), ir::Address::ip(n2.ip)}});
  std::set<uint32_t> world_ips{(203u << 24) | (113u << 8) | 7u};
  for (const auto* t : {&tb, &ta})
    for (const auto& c : t->classes)
      if (c.kind == ir::AddrClass::Kind::World) world_ips.insert(t->class_rep[c.id].ip.value);
  std::map<std::pair<uint32_t, uint32_t>, std::vector<Side>> world_groups;
  for (auto ip : world_ips) {
    ir::Ipv4 a{ip};
    if (before.endpoint_by_ip(a) || after.endpoint_by_ip(a) || before.node_by_ip(a) || after.node_by_ip(a)) continue;
    world_groups[{tb.class_of_ip(a), ta.class_of_ip(a)}].push_back(
        Side{"world " + a.str(), ir::Address::ip(a), ir::Address::ip(a)});
  }
  for (auto& [k, v] : world_groups) sources.push_back(v);

  std::array<std::set<uint32_t>, ir::kProtoBuckets> cuts;
  collect_cuts(tb, cuts);
  collect_cuts(ta, cuts);

  for (const auto& src : sources)
    for (const auto& [dk, dst] : pod_groups) {
      for (int b = 0; b < ir::kProtoBuckets; ++b) {
        std::vector<uint32_t> pts(cuts[b].begin(), cuts[b].end());
        pts.push_back(65536);
        for (size_t i = 0; i + 1 < pts.size(); ++i) {
          ir::Probe pb{src.front().before, dst.front().before, kProtos[b], static_cast<uint16_t>(pts[i]), std::nullopt};
          ir::Probe pa{src.front().after, dst.front().after, kProtos[b], static_cast<uint16_t>(pts[i]), std::nullopt};
          bool was = tb.allowed(before, pb), is = ta.allowed(after, pa);
          if (was == is) continue;
          FlowChange fc;
          fc.now_allowed = is;
          for (const auto& s : src) fc.sources.push_back(s.name);
          for (const auto& d : dst) fc.destinations.push_back(d.name);
          fc.proto = kProtos[b];
          fc.lo = static_cast<uint16_t>(pts[i]);
          fc.hi = static_cast<uint16_t>(pts[i + 1] - 1);
          for (bool ingress : {false, true}) {
            fc.old_rules.push_back(rules_text(before, tb, pb, ingress));
            fc.new_rules.push_back(rules_text(after, ta, pa, ingress));
          }
          // Merge with the previous range when it is the same change.
          if (!res.changes.empty()) {
            auto& last = res.changes.back();
            if (last.now_allowed == fc.now_allowed && last.proto == fc.proto && last.sources == fc.sources &&
                last.destinations == fc.destinations && uint32_t(last.hi) + 1 == fc.lo &&
                last.old_rules == fc.old_rules && last.new_rules == fc.new_rules) {
              last.hi = fc.hi;
              continue;
            }
          }
          res.changes.push_back(std::move(fc));
        }
      }
    }
  return res;
}

namespace {

std::string names(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < 3; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > 3) s += fmt::format(" (+{} more)", v.size() - 3);
  return s;
}

std::string ports(const FlowChange& c) {
  std::string p = c.lo == c.hi ? std::to_string(c.lo) : fmt::format("{}-{}", c.lo, c.hi);
  if (c.proto == 47) return "other protocols";
  if (c.proto == 1) return c.lo == 0 && c.hi == 65535 ? "ICMP" : "ICMP type " + p;
  if (c.lo == 0 && c.hi == 65535) return fmt::format("any port/{}", ir::protocol_name(c.proto));
  return fmt::format("{}/{}", p, ir::protocol_name(c.proto));
}

}  // namespace

std::string diff_text(const DiffResult& d) {
  std::string out;
  for (const auto& c : d.changes) {
    out += fmt::format("{} {} -> {} on {}\n", c.now_allowed ? "+ now ALLOWED:" : "- now DENIED: ", names(c.sources),
                       names(c.destinations), ports(c));
    out += fmt::format("    before: egress {} | ingress {}\n", c.old_rules[0], c.old_rules[1]);
    out += fmt::format("    after:  egress {} | ingress {}\n", c.new_rules[0], c.new_rules[1]);
  }
  for (const auto& p : d.added_pods) out += "pod added: " + p + "\n";
  for (const auto& p : d.removed_pods) out += "pod removed: " + p + "\n";
  size_t plus = std::count_if(d.changes.begin(), d.changes.end(), [](const FlowChange& c) { return c.now_allowed; });
  out += d.changes.empty() ? "no difference in L3/L4 reachability\n"
                           : fmt::format(
                                 "{} change(s): {} newly allowed, {} newly denied (L3/L4; HTTP rules not "
                                 "compared)\n",
                                 d.changes.size(), plus, d.changes.size() - plus);
  return out;
}

nlohmann::json diff_json(const DiffResult& d) {
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& c : d.changes)
    changes.push_back({{"change", c.now_allowed ? "allowed" : "denied"},
                       {"sources", c.sources},
                       {"destinations", c.destinations},
                       {"protocol", std::string(ir::protocol_name(c.proto))},
                       {"ports", {c.lo, c.hi}},
                       {"before", {{"egress", c.old_rules[0]}, {"ingress", c.old_rules[1]}}},
                       {"after", {{"egress", c.new_rules[0]}, {"ingress", c.new_rules[1]}}}});
  return {{"changes", changes}, {"added_pods", d.added_pods}, {"removed_pods", d.removed_pods}};
}

}  // namespace polc::verifier
