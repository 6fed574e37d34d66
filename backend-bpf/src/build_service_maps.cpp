#include "polc/backend_bpf/build_service_maps.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <tuple>

namespace polc::backend_bpf {

namespace {

bool subset_matches(const ir::Labels& subset, const ir::Labels& labels) {
  for (const auto& [k, v] : subset) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

const char* proto_name(uint8_t proto) {
  return proto == 6 ? "TCP" : proto == 17 ? "UDP" : "SCTP";
}

struct Backend {
  ir::EndpointId id;
  ir::Ipv4 ip;
  uint16_t port = 0;
  uint64_t weight = 0;      ///< relative share (subset weight over the subset's size, scaled)
  uint32_t configured = 1;  ///< the annotation's subset weight (1 without annotation)
  bool local = false;
};

/// The port's backends with their relative weights (see build_service_maps in the header).
std::vector<Backend> backends_of(const ir::Model& m, const ir::Service& s, const ir::ServicePort& sp,
                                 const NodeTarget& node) {
  std::vector<Backend> out;
  std::vector<int> subset;  // per backend: index into s.weights, -1 = none
  for (auto id : m.service_backends(s.id)) {
    const ir::Endpoint& e = m.endpoint(id);
    auto target = m.target_port(sp, e);
    if (!target) continue;
    Backend b;
    b.id = id;
    b.ip = e.host_network ? m.node(e.node).ip : e.ip;
    b.port = *target;
    b.local = e.node == node.node;
    int which = -1;
    for (size_t i = 0; i < s.weights.size() && which < 0; ++i)
      if (subset_matches(s.weights[i].subset, e.labels)) which = static_cast<int>(i);
    subset.push_back(which);
    out.push_back(b);
  }
  if (s.weights.empty()) {
    for (auto& b : out) b.weight = 1;
    return out;
  }
  // Each subset's weight is shared by its members: weight / members, scaled by the lcm of the
  // member counts so that every share is an integer.
  std::vector<uint64_t> members(s.weights.size(), 0);
  for (int i : subset)
    if (i >= 0) ++members[i];
  uint64_t scale = 1;
  for (uint64_t n : members)
    if (n) scale = std::lcm(scale, n);
  constexpr uint64_t kScaleLimit = uint64_t(1) << 20;
  bool exact = scale <= kScaleLimit;
  for (size_t k = 0; k < out.size(); ++k) {
    if (subset[k] < 0) {
      out[k].weight = 0;
      out[k].configured = 0;
      continue;
    }
    uint64_t w = s.weights[subset[k]].weight, n = members[subset[k]];
    out[k].configured = s.weights[subset[k]].weight;
    out[k].weight = exact ? w * (scale / n) : w * kScaleLimit / n;
  }
  return out;
}

}  // namespace

std::vector<uint32_t> apportion_slots(const std::vector<uint64_t>& weights, uint32_t max_slots) {
  std::vector<uint32_t> out(weights.size(), 0);
  uint64_t g = 0;
  for (uint64_t w : weights) g = std::gcd(g, w);
  if (g == 0) return out;
  uint64_t total = 0;
  size_t positive = 0;
  for (uint64_t w : weights) {
    total += w / g;
    positive += w ? 1 : 0;
  }
  const uint64_t budget = std::max<uint64_t>(max_slots, positive);
  if (total <= budget) {
    for (size_t i = 0; i < weights.size(); ++i) out[i] = static_cast<uint32_t>(weights[i] / g);
    return out;
  }
  // Largest remainders: floor shares first, the rest to the largest fractional parts (ties by
  // index, so the result is deterministic).
  total = 0;
  for (uint64_t w : weights) total += w;
  std::vector<std::pair<long double, size_t>> rest;
  uint64_t given = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    long double exact = static_cast<long double>(weights[i]) * budget / total;
    out[i] = static_cast<uint32_t>(exact);
    given += out[i];
    rest.emplace_back(exact - out[i], i);
  }
  std::stable_sort(rest.begin(), rest.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; given < budget && k < rest.size(); ++k, ++given) ++out[rest[k].second];
  // Every backend with a weight keeps a slot (a 0.01% canary still gets traffic): taken from the
  // backend holding the most.
  for (size_t i = 0; i < weights.size(); ++i)
    if (weights[i] && out[i] == 0) {
      auto most = std::max_element(out.begin(), out.end());
      --*most;
      out[i] = 1;
    }
  return out;
}

ServiceMaps build_service_maps(const ir::Model& m, const NodeTarget& node) {
  ServiceMaps out;
  out.services.name = "polc_services";
  out.backends.name = "polc_lb_backends";
  out.filter.name = "polc_svc_filter";
  out.table = nlohmann::json::array();

  std::vector<const ir::Service*> services;
  for (const auto& s : m.services)
    if (s.cluster_ip && s.type != ir::ServiceType::ExternalName) services.push_back(&s);
  std::sort(services.begin(), services.end(), [&](const ir::Service* a, const ir::Service* b) {
    return std::tie(m.ns(a->ns).name, a->name) < std::tie(m.ns(b->ns).name, b->name);
  });

  // (addr host order, port, proto) -> value; the first service port claiming an address wins.
  std::map<std::tuple<uint32_t, uint16_t, uint8_t>, polc_svc> entries;
  uint32_t id = 0, base = 0;
  for (const ir::Service* s : services) {
    for (const auto& sp : s->ports) {
      if (sp.proto != 6 && sp.proto != 17) continue;
      std::vector<Backend> backends = backends_of(m, *s, sp, node);
      std::vector<uint64_t> weights;
      for (const auto& b : backends) weights.push_back(b.weight);
      std::vector<uint32_t> slots = apportion_slots(weights, kMaxServiceSlots);
      const uint32_t count = std::accumulate(slots.begin(), slots.end(), uint32_t{0});

      nlohmann::json bj = nlohmann::json::array();
      for (size_t k = 0; k < backends.size(); ++k) {
        const Backend& b = backends[k];
        polc_lb_backend value{};
        value.addr = htonl(b.ip.value);
        value.port = b.port;
        value.flags = b.local ? POLC_LB_BACKEND_LOCAL : 0;
        value.endpoint = b.id.v;
        for (uint32_t i = 0; i < slots[k]; ++i)
          out.backends.add(static_cast<uint32_t>(out.backends.entries.size()), value);
        bj.push_back({{"endpoint", b.id.v},
                      {"name", m.endpoint_name(b.id)},
                      {"ip", b.ip.str()},
                      {"port", b.port},
                      {"weight", b.configured},
                      {"slots", slots[k]},
                      {"local", b.local}});
      }

      polc_svc value{};
      value.base = base;
      value.slots = count;
      value.id = id;
      value.flags = 0;
      entries.emplace(std::make_tuple(s->cluster_ip->value, sp.port, sp.proto), value);
      const bool node_port =
          sp.node_port != 0 && (s->type == ir::ServiceType::NodePort || s->type == ir::ServiceType::LoadBalancer);
      if (node_port) {
        value.flags = POLC_SVC_NODE_PORT;
        for (const auto& n : m.nodes) entries.emplace(std::make_tuple(n.ip.value, sp.node_port, sp.proto), value);
      }
      out.table.push_back({{"id", id},
                           {"service", m.ns(s->ns).name + "/" + s->name},
                           {"type", ir::service_type_name(s->type)},
                           {"port_name", sp.name},
                           {"protocol", proto_name(sp.proto)},
                           {"cluster_ip", s->cluster_ip->str()},
                           {"port", sp.port},
                           {"node_port", node_port ? sp.node_port : 0},
                           {"base", base},
                           {"slots", count},
                           {"backends", bj}});
      ++id;
      base += count;
    }
  }
  std::vector<polc_svc_filter_word> filter(POLC_SVC_FILTER_WORDS, polc_svc_filter_word{});
  for (const auto& [k, v] : entries) {
    polc_svc_key key{};
    key.addr = htonl(std::get<0>(k));
    key.port = std::get<1>(k);
    key.proto = std::get<2>(k);
    out.services.add(key, v);
    const uint32_t bit = polc_svc_filter_bit(key.addr, key.port, key.proto);
    filter[bit / 64].bits |= uint64_t(1) << (bit % 64);
  }
  for (uint32_t i = 0; i < POLC_SVC_FILTER_WORDS; ++i)
    if (filter[i].bits) out.filter.add(i, filter[i]);
  out.filter.used = POLC_SVC_FILTER_WORDS;  // fixed by the ABI, like polc_port_classes
  out.services.used = out.services.entries.size();
  out.backends.used = base;
  return out;
}

}  // namespace polc::backend_bpf
