// BuildServiceMaps: slot apportionment for weights, the service and backend entries (ClusterIP,
// nodePort on every node, named target ports per pod, the local flag per node), and backends
// leaving a service when their pod does.
#include "polc/backend_bpf/build_service_maps.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "services_fixture.h"
#include "test_util.h"

namespace polc::backend_bpf::testing {
namespace {

uint32_t ip(const char* s) {
  return ir::Ipv4::parse(s)->value;
}

NodeTarget target(const ir::Model& m, const std::string& name) {
  for (const auto& n : m.nodes)
    if (n.name == name) return NodeTarget{n.id, n.name, n.ip};
  ADD_FAILURE() << "no node " << name;
  return {};
}

template <typename T>
T as(const std::vector<uint8_t>& bytes) {
  T v{};
  EXPECT_EQ(bytes.size(), sizeof(T));
  std::memcpy(&v, bytes.data(), sizeof(T));
  return v;
}

/// polc_services as (address, port, proto) -> value.
std::map<std::tuple<uint32_t, uint16_t, uint8_t>, polc_svc> services_of(const ServiceMaps& sm) {
  std::map<std::tuple<uint32_t, uint16_t, uint8_t>, polc_svc> out;
  for (const auto& e : sm.services.entries) {
    auto k = as<polc_svc_key>(e.key);
    out[{ntohl(k.addr), k.port, k.proto}] = as<polc_svc>(e.value);
  }
  return out;
}

std::vector<polc_lb_backend> slots_of(const ServiceMaps& sm, const polc_svc& s) {
  std::vector<polc_lb_backend> out;
  for (uint32_t i = s.base; i < s.base + s.slots; ++i) {
    EXPECT_LT(i, sm.backends.entries.size());
    EXPECT_EQ(as<uint32_t>(sm.backends.entries[i].key), i);
    out.push_back(as<polc_lb_backend>(sm.backends.entries[i].value));
  }
  return out;
}

TEST(ApportionSlots, ReducedWeightsAreExact) {
  EXPECT_EQ(apportion_slots({80, 20}, 1024), (std::vector<uint32_t>{4, 1}));
  EXPECT_EQ(apportion_slots({1, 1, 1}, 1024), (std::vector<uint32_t>{1, 1, 1}));
  EXPECT_EQ(apportion_slots({80, 80, 60}, 1024), (std::vector<uint32_t>{4, 4, 3}));
  EXPECT_EQ(apportion_slots({0, 5}, 1024), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(apportion_slots({0, 0}, 1024), (std::vector<uint32_t>{0, 0}));
  EXPECT_TRUE(apportion_slots({}, 1024).empty());
  // More backends than the budget: one slot each.
  EXPECT_EQ(apportion_slots({3, 3, 3}, 2), (std::vector<uint32_t>{1, 1, 1}));
}

TEST(ApportionSlots, LargeWeightsUseLargestRemaindersAndKeepEveryBackend) {
  auto s = apportion_slots({999999, 1}, 1024);
  EXPECT_EQ(std::accumulate(s.begin(), s.end(), 0u), 1024u);
  EXPECT_EQ(s[1], 1u);  // a tiny canary keeps a slot
  auto t = apportion_slots({1001, 2002, 3003, 1}, 100);
  EXPECT_EQ(std::accumulate(t.begin(), t.end(), 0u), 100u);
  EXPECT_NEAR(t[0], 100.0 * 1001 / 6007, 1.0);
  EXPECT_NEAR(t[1], 100.0 * 2002 / 6007, 1.0);
  EXPECT_NEAR(t[2], 100.0 * 3003 / 6007, 1.0);
  EXPECT_EQ(t[3], 1u);
}

TEST(BuildServiceMaps, ClusterIpNodePortWeightsAndNamedTargetPorts) {
  ir::Model m = load_yaml("services.yaml", kServicesYaml);
  ServiceMaps sm = build_service_maps(m, target(m, "n1"));
  auto svcs = services_of(sm);

  // web:80/TCP: v1 holds 4 slots of 5 (80%), v2 1 (20%); http resolves per pod (8080 / 9090).
  auto it = svcs.find({ip("10.96.0.50"), 80, 6});
  ASSERT_NE(it, svcs.end());
  const polc_svc web = it->second;
  EXPECT_EQ(web.slots, 5u);
  EXPECT_EQ(web.flags, 0u);
  int v1 = 0, v2 = 0;
  for (const auto& b : slots_of(sm, web)) {
    if (ntohl(b.addr) == ip("10.10.1.2")) {
      ++v1;
      EXPECT_EQ(b.port, 8080);
      EXPECT_EQ(b.flags, POLC_LB_BACKEND_LOCAL);  // web-v1 runs on n1
    } else {
      ++v2;
      EXPECT_EQ(ntohl(b.addr), ip("10.10.2.3"));
      EXPECT_EQ(b.port, 9090);
      EXPECT_EQ(b.flags, 0);
    }
  }
  EXPECT_EQ(v1, 4);
  EXPECT_EQ(v2, 1);

  // The nodePort on every node's address, same slots, flagged.
  for (const char* node : {"192.168.65.10", "192.168.65.11"}) {
    auto np = svcs.find({ip(node), 30080, 6});
    ASSERT_NE(np, svcs.end()) << node;
    EXPECT_EQ(np->second.flags, uint32_t{POLC_SVC_NODE_PORT});
    EXPECT_EQ(np->second.base, web.base);
    EXPECT_EQ(np->second.slots, web.slots);
    EXPECT_EQ(np->second.id, web.id);
  }
  // The UDP port: its own slots, no nodePort.
  auto dns = svcs.find({ip("10.96.0.50"), 53, 17});
  ASSERT_NE(dns, svcs.end());
  EXPECT_EQ(dns->second.slots, 5u);
  for (const auto& b : slots_of(sm, dns->second)) EXPECT_EQ(b.port, 5353);
  // A service without backends has an entry without slots (the datapath leaves it alone).
  auto empty = svcs.find({ip("10.96.0.60"), 81, 6});
  ASSERT_NE(empty, svcs.end());
  EXPECT_EQ(empty->second.slots, 0u);
  EXPECT_EQ(svcs.size(), 5u);
  EXPECT_EQ(sm.services.used, 5u);
  EXPECT_EQ(sm.backends.used, 10u);

  // The table names every service port and backend.
  ASSERT_EQ(sm.table.size(), 3u);
  EXPECT_EQ(sm.table[0]["service"], "default/empty");
  EXPECT_EQ(sm.table[1]["service"], "default/web");
  EXPECT_EQ(sm.table[1]["node_port"], 30080);
  EXPECT_EQ(sm.table[1]["backends"][0]["name"], "default/web-v1");
  EXPECT_EQ(sm.table[1]["backends"][0]["weight"], 80);
  EXPECT_EQ(sm.table[1]["backends"][0]["slots"], 4);
}

TEST(BuildServiceMaps, TheFilterHoldsEveryServiceKeyAndLittleElse) {
  ir::Model m = load_yaml("services.yaml", kServicesYaml);
  ServiceMaps sm = build_service_maps(m, target(m, "n1"));
  std::vector<uint64_t> words(POLC_SVC_FILTER_WORDS, 0);
  for (const auto& e : sm.filter.entries) {
    uint32_t i = as<uint32_t>(e.key);
    ASSERT_LT(i, POLC_SVC_FILTER_WORDS);
    words[i] = as<polc_svc_filter_word>(e.value).bits;
    EXPECT_NE(words[i], 0u) << "only words with a bit set are listed";
  }
  auto has = [&](uint32_t addr_host, uint16_t port, uint8_t proto) {
    uint32_t bit = polc_svc_filter_bit(htonl(addr_host), port, proto);
    return ((words[bit / 64] >> (bit % 64)) & 1) != 0;
  };
  ASSERT_FALSE(sm.services.entries.empty());
  for (const auto& [k, v] : services_of(sm))
    EXPECT_TRUE(has(std::get<0>(k), std::get<1>(k), std::get<2>(k))) << std::get<0>(k) << ":" << std::get<1>(k);
  // Pod-to-pod traffic (10.10.0.0/16 on common ports) almost never hits a set bit.
  size_t hits = 0, probes = 0;
  for (uint32_t a = 0; a < 4096; ++a)
    for (uint16_t port : {80, 443, 5432, 8080}) {
      ++probes;
      hits += has(ip("10.10.0.0") + a, port, 6) ? 1 : 0;
    }
  EXPECT_LT(hits, probes / 100) << hits << " of " << probes;
}

TEST(BuildServiceMaps, LocalFlagIsPerNode) {
  ir::Model m = load_yaml("services.yaml", kServicesYaml);
  ServiceMaps sm = build_service_maps(m, target(m, "n2"));
  auto web = services_of(sm).at({ip("10.96.0.50"), 80, 6});
  for (const auto& b : slots_of(sm, web))
    EXPECT_EQ(b.flags, ntohl(b.addr) == ip("10.10.2.3") ? POLC_LB_BACKEND_LOCAL : 0);
}

TEST(BuildServiceMaps, ReplicasShareTheirSubsetsWeight) {
  std::string yaml = std::string(kServicesYaml) + R"(
---
apiVersion: v1
kind: Pod
metadata: {name: web-v1b, namespace: default, labels: {app: web, version: v1}}
spec:
  nodeName: n2
  containers:
    - name: c
      ports: [{name: http, containerPort: 8080}]
status: {podIP: 10.10.2.4}
---
apiVersion: v1
kind: Pod
metadata: {name: web-other, namespace: default, labels: {app: web, version: v3}}
spec: {nodeName: n2, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.10.2.5}
)";
  ir::Model m = load_yaml("services.yaml", yaml);
  ServiceMaps sm = build_service_maps(m, target(m, "n1"));
  auto web = services_of(sm).at({ip("10.96.0.50"), 80, 6});
  std::map<uint32_t, int> count;
  for (const auto& b : slots_of(sm, web)) ++count[ntohl(b.addr)];
  // v1 (80) over two pods, v2 (20) on one: 40/40/20; a pod in no weighted subset gets nothing.
  EXPECT_EQ(web.slots, 5u);
  EXPECT_EQ(count[ip("10.10.1.2")], 2);
  EXPECT_EQ(count[ip("10.10.2.4")], 2);
  EXPECT_EQ(count[ip("10.10.2.3")], 1);
  EXPECT_EQ(count.count(ip("10.10.2.5")), 0u);
}

TEST(BuildServiceMaps, ARelabelledPodLeavesTheRotation) {
  std::string yaml = kServicesYaml;
  auto pos = yaml.find("labels: {app: web, version: v2}");
  ASSERT_NE(pos, std::string::npos);
  yaml.replace(pos, std::strlen("labels: {app: web, version: v2}"), "labels: {app: web-drained, version: v2}");
  ir::Model m = load_yaml("services.yaml", yaml);
  ServiceMaps sm = build_service_maps(m, target(m, "n1"));
  auto web = services_of(sm).at({ip("10.96.0.50"), 80, 6});
  EXPECT_EQ(web.slots, 1u);
  for (const auto& b : slots_of(sm, web)) EXPECT_EQ(ntohl(b.addr), ip("10.10.1.2"));
}

}  // namespace
}  // namespace polc::backend_bpf::testing
