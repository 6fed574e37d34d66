#include "polc/backend_bpf/build_policy_maps.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cassert>
#include <map>
#include <set>

namespace polc::backend_bpf {

// The ABI's enums are numbered as the IR's.
static_assert(POLC_DIR_INGRESS == static_cast<int>(ir::Direction::Ingress));
static_assert(POLC_DIR_EGRESS == static_cast<int>(ir::Direction::Egress));
static_assert(POLC_BUCKET_TCP == static_cast<int>(ir::ProtoBucket::Tcp));
static_assert(POLC_BUCKET_UDP == static_cast<int>(ir::ProtoBucket::Udp));
static_assert(POLC_BUCKET_SCTP == static_cast<int>(ir::ProtoBucket::Sctp));
static_assert(POLC_BUCKET_ICMP == static_cast<int>(ir::ProtoBucket::Icmp));
static_assert(POLC_BUCKET_OTHER == static_cast<int>(ir::ProtoBucket::Other));
static_assert(POLC_BUCKETS == ir::kProtoBuckets);
static_assert(POLC_OUTCOME_DEFAULT_ALLOW == static_cast<int>(ir::Outcome::DefaultAllow));
static_assert(POLC_OUTCOME_DEFAULT_DENY == static_cast<int>(ir::Outcome::DefaultDeny));
static_assert(POLC_OUTCOME_ALLOW == static_cast<int>(ir::Outcome::Allow));
static_assert(POLC_OUTCOME_ALLOW_L7 == static_cast<int>(ir::Outcome::AllowL7));
static_assert(POLC_OUTCOME_DENY == static_cast<int>(ir::Outcome::Deny));

namespace {

constexpr uint32_t kPortIndexBase[POLC_BUCKETS] = {POLC_PORT_INDEX_TCP, POLC_PORT_INDEX_UDP, POLC_PORT_INDEX_SCTP,
                                                   POLC_PORT_INDEX_ICMP, POLC_PORT_INDEX_OTHER};

bool same_verdict(const polc_verdict& a, const polc_verdict& b) {
  return a.outcome == b.outcome && a.rule_set == b.rule_set && a.l7_set == b.l7_set;
}

/// The index of the value most items share (by `key`); ties go to the value seen first.
template <typename T, typename KeyFn>
size_t most_common(const std::vector<T>& items, KeyFn key) {
  using Key = decltype(key(items[0]));
  std::map<Key, std::pair<size_t, size_t>> count;  // key -> (count, first index)
  for (size_t i = 0; i < items.size(); ++i) {
    auto [it, fresh] = count.emplace(key(items[i]), std::make_pair(size_t{0}, i));
    ++it->second.first;
  }
  size_t best = 0, best_count = 0;
  for (const auto& [k, v] : count)
    if (v.first > best_count || (v.first == best_count && v.second < best)) {
      best = v.second;
      best_count = v.first;
    }
  return best;
}

std::tuple<uint8_t, uint32_t, uint32_t> verdict_key(const polc_verdict& v) {
  return {v.outcome, v.rule_set, v.l7_set};
}

/// FNV-1a over the entries, for the policy epoch.
void hash_bytes(uint32_t& h, const std::vector<uint8_t>& bytes) {
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 16777619u;
  }
}
void hash_map(uint32_t& h, const MapContents& mc) {
  for (const auto& e : mc.entries) {
    hash_bytes(h, e.key);
    hash_bytes(h, e.value);
  }
  for (const auto& r : mc.ranges) {
    h ^= r.first;
    h *= 16777619u;
    h ^= r.last;
    h *= 16777619u;
    hash_bytes(h, r.value);
  }
}

}  // namespace

uint32_t bucket_port_max(int bucket) {
  switch (bucket) {
    case POLC_BUCKET_ICMP: return 255;
    case POLC_BUCKET_OTHER: return 0;
    default: return 65535;
  }
}

polc_verdict verdict_of(const ir::PolicyTables& t, const ir::Segment& s) {
  polc_verdict v{};
  v.outcome = static_cast<polc_u8>(s.outcome);
  v.rule_set = s.rules;
  const auto& rules = t.rule_sets[s.rules];
  v.rule = rules.empty() ? POLC_NONE : rules.front().v;
  v.l7_set = s.l7;
  return v;
}

PolicyMaps build_policy_maps(const ir::Model& m, const ir::PolicyTables& t, const NodeTarget& node, uint32_t node_class,
                             const PolicyMapOptions& opt) {
  PolicyMaps out;
  out.config.name = "polc_config";
  out.endpoints.name = "polc_endpoints";
  out.contexts.name = "polc_contexts";
  out.policy.name = "polc_policy";
  out.functions.name = "polc_functions";
  out.port_classes.name = "polc_port_classes";
  out.verdicts.name = "polc_verdicts";

  // Local pods and their contexts, densely renumbered in the tables' order.
  std::map<uint32_t, uint32_t> ctx_local;
  for (const auto& e : m.endpoints) {
    if (e.host_network || e.node != node.node) continue;
    uint32_t g = t.context_of_endpoint[e.id.v];
    if (g == ir::PolicyTables::kNone) continue;
    out.local_endpoints.push_back(e.id);
    ctx_local.emplace(g, 0);
  }
  for (auto& [g, l] : ctx_local) {
    l = static_cast<uint32_t>(out.context_ids.size());
    out.context_ids.push_back(g);
  }

  // Functions the node's contexts use, densely renumbered in the tables' order.
  const size_t K = t.classes.size();
  std::map<uint32_t, uint32_t> fn_local;
  for (uint32_t g : out.context_ids)
    for (int d = 0; d < 2; ++d)
      for (size_t k = 0; k < K; ++k) fn_local.emplace(t.function_id(g, static_cast<ir::Direction>(d), k), 0);
  for (auto& [g, l] : fn_local) {
    l = static_cast<uint32_t>(out.function_ids.size());
    out.function_ids.push_back(g);
  }

  // Contexts (with their default function per direction) and the policy entries that differ.
  std::vector<std::tuple<uint32_t, uint32_t, uint8_t, uint32_t>> policy_entries;  // ctx, class, dir, fn
  for (uint32_t lc = 0; lc < out.context_ids.size(); ++lc) {
    const ir::Context& c = t.contexts[out.context_ids[lc]];
    polc_context value{};
    for (int d = 0; d < 2; ++d) {
      std::vector<uint32_t> fns(K);
      for (size_t k = 0; k < K; ++k) fns[k] = fn_local.at(t.function_id(c.id, static_cast<ir::Direction>(d), k));
      uint32_t def = K ? fns[most_common(fns, [](uint32_t f) { return f; })] : 0;
      value.default_function[d] = def;
      if (c.isolated[d]) value.flags |= 1u << d;
      for (size_t k = 0; k < K; ++k)
        if (fns[k] != def) policy_entries.emplace_back(lc, static_cast<uint32_t>(k), static_cast<uint8_t>(d), fns[k]);
    }
    out.contexts.add(lc, value);
  }
  std::sort(policy_entries.begin(), policy_entries.end());
  for (const auto& [lc, k, d, fn] : policy_entries) {
    polc_policy_key key{};
    key.context = lc;
    key.peer_class = k;
    key.dir = d;
    polc_policy_entry value{};
    value.function = fn;
    out.policy.add(key, value);
  }

  // Port classes: the elementary intervals of every segment boundary of the node's functions.
  std::array<std::vector<uint32_t>, POLC_BUCKETS> starts;  // class i = [starts[i], starts[i+1])
  for (int b = 0; b < POLC_BUCKETS; ++b) {
    const uint32_t max = bucket_port_max(b);
    std::set<uint32_t> cuts{0};
    for (uint32_t g : out.function_ids)
      for (const auto& s : t.functions[g].buckets[b]) {
        if (s.lo <= max) cuts.insert(s.lo);
        if (uint32_t(s.hi) + 1 <= max) cuts.insert(uint32_t(s.hi) + 1);
      }
    starts[b].assign(cuts.begin(), cuts.end());
    out.port_class_count[b] = static_cast<uint32_t>(starts[b].size());
    for (size_t i = 0; i < starts[b].size(); ++i) {
      uint32_t last = i + 1 < starts[b].size() ? starts[b][i + 1] - 1 : max;
      polc_port_class pc{};
      pc.port_class = static_cast<uint32_t>(i);
      out.port_classes.add_range(kPortIndexBase[b] + starts[b][i], kPortIndexBase[b] + last, pc);
    }
  }

  // Functions: per bucket the verdict of each port class; the verdict covering the most port
  // classes is the default. Each segment covers a run of classes (its boundaries are cuts).
  std::vector<std::tuple<uint32_t, uint32_t, uint8_t, polc_verdict>> verdict_entries;  // fn, class, bucket
  for (uint32_t lf = 0; lf < out.function_ids.size(); ++lf) {
    const ir::PortFunction& f = t.functions[out.function_ids[lf]];
    polc_function value{};
    for (int b = 0; b < POLC_BUCKETS; ++b) {
      const auto& segs = f.buckets[b];
      const auto& st = starts[b];
      struct Run {
        polc_verdict v;
        uint32_t first, last;  // port classes
      };
      std::vector<Run> runs;
      std::map<std::tuple<uint8_t, uint32_t, uint32_t>, std::pair<uint64_t, size_t>>
          weight;  // verdict -> (classes, first run)
      for (const auto& seg : segs) {
        if (seg.lo > bucket_port_max(b)) break;
        auto first = std::lower_bound(st.begin(), st.end(), uint32_t(seg.lo));
        auto last = std::upper_bound(st.begin(), st.end(), uint32_t(seg.hi));
        assert(first != st.end() && *first == seg.lo && last != st.begin() && "segment boundaries are cuts");
        Run r{verdict_of(t, seg), static_cast<uint32_t>(first - st.begin()),
              static_cast<uint32_t>(last - st.begin() - 1)};
        auto [it, fresh] = weight.emplace(verdict_key(r.v), std::make_pair(uint64_t{0}, runs.size()));
        it->second.first += r.last - r.first + 1;
        runs.push_back(r);
      }
      size_t best = 0;
      uint64_t best_weight = 0;
      for (const auto& [k, w] : weight)
        if (w.first > best_weight || (w.first == best_weight && w.second < best)) {
          best = w.second;
          best_weight = w.first;
        }
      const polc_verdict def = runs.at(best).v;
      value.defaults[b] = def;
      for (const auto& r : runs)
        if (!same_verdict(r.v, def))
          for (uint32_t c = r.first; c <= r.last; ++c)
            verdict_entries.emplace_back(lf, c, static_cast<uint8_t>(b), r.v);
    }
    out.functions.add(lf, value);
  }
  std::sort(verdict_entries.begin(), verdict_entries.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(std::get<0>(a), std::get<2>(a), std::get<1>(a)) <
           std::make_tuple(std::get<0>(b), std::get<2>(b), std::get<1>(b));
  });
  for (const auto& [lf, cls, b, v] : verdict_entries) {
    polc_verdict_key key{};
    key.function = lf;
    key.port_class = cls;
    key.bucket = b;
    out.verdicts.add(key, v);
  }

  // Endpoints, by address.
  std::vector<std::pair<uint32_t, polc_endpoint>> eps;
  for (auto id : out.local_endpoints) {
    const ir::Endpoint& e = m.endpoint(id);
    polc_endpoint value{};
    value.context = ctx_local.at(t.context_of_endpoint[id.v]);
    value.addr_class = t.class_of_endpoint[id.v];
    value.ifindex = 0;
    value.endpoint = id.v;
    eps.emplace_back(e.ip.value, value);
  }
  std::sort(eps.begin(), eps.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [ip, value] : eps) {
    polc_ip_key key{};
    key.addr = htonl(ip);
    out.endpoints.add(key, value);
  }

  out.endpoints.used = out.endpoints.entries.size();
  out.contexts.used = out.context_ids.size();
  out.policy.used = out.policy.entries.size();
  out.functions.used = out.function_ids.size();
  out.port_classes.used = POLC_PORT_INDEX_SIZE;
  out.verdicts.used = out.verdicts.entries.size();

  // The epoch names this policy: the hash of everything the datapath will judge by.
  uint32_t h = 2166136261u;
  for (const MapContents* mc :
       {&out.endpoints, &out.contexts, &out.policy, &out.functions, &out.port_classes, &out.verdicts})
    hash_map(h, *mc);
  out.epoch = h == 0 ? 1 : h;

  polc_config cfg{};
  cfg.abi_version = POLC_ABI_VERSION;
  cfg.flags = opt.config_flags | (m.config.allow_from_own_node ? uint32_t{POLC_CFG_ALLOW_FROM_OWN_NODE} : 0u);
  cfg.epoch = out.epoch;
  cfg.node_class = node_class;
  cfg.ct_timeout_tcp = opt.ct_timeout_tcp;
  cfg.ct_timeout_tcp_closing = opt.ct_timeout_tcp_closing;
  cfg.ct_timeout_other = opt.ct_timeout_other;
  out.config.add(uint32_t{0}, cfg);
  out.config.used = 1;
  return out;
}

}  // namespace polc::backend_bpf
