// BuildIpcache: the hash-then-LPM lookup gives PolicyTables::class_of_ip() for every address
// that matters, and only the node's own address is marked local.
#include "polc/backend_bpf/build_ipcache.h"

#include <gtest/gtest.h>

#include "map_sim.h"
#include "polc/backend_bpf/build_policy_maps.h"
#include "test_util.h"

namespace polc::backend_bpf::testing {
namespace {

void check_model(const ir::Model& m, const std::string& what) {
  ir::PolicyTables t = ir::resolve_policies(m);
  std::vector<uint32_t> addrs = {0, 0xffffffffu, ir::Ipv4::parse("8.8.8.8")->value,
                                 ir::Ipv4::parse("10.10.0.1")->value};
  for (const auto& c : t.classes)
    for (const auto& p : c.prefixes)
      for (uint32_t a : {p.first(), p.last(), p.first() + (p.last() - p.first()) / 2}) {
        addrs.push_back(a);
        if (a > 0) addrs.push_back(a - 1);
        if (a < 0xffffffffu) addrs.push_back(a + 1);
      }
  for (const auto& node : m.nodes) {
    NodeTarget nt{node.id, node.name, node.ip};
    IpcacheMaps ipc = build_ipcache(m, t, nt);
    MapSim sim(ipc, build_policy_maps(m, t, nt, ipc.node_class));
    for (uint32_t a : addrs) {
      auto e = sim.peer(a);
      ASSERT_TRUE(e) << what << ": no class for " << ir::Ipv4{a}.str();
      EXPECT_EQ(e->addr_class, t.class_of_ip(ir::Ipv4{a})) << what << ": " << ir::Ipv4{a}.str();
      EXPECT_EQ((e->flags & POLC_IPC_LOCAL_NODE) != 0, a == node.ip.value) << what << ": " << ir::Ipv4{a}.str();
    }
    EXPECT_NE(ipc.node_class, POLC_NONE);
    EXPECT_EQ(t.classes[ipc.node_class].node, node.id);
    // 0.0.0.0/0 is always in the trie: no address is without class.
    bool has_default = false;
    for (const auto& [k, v] : sim.lpm) has_default = has_default || k.prefixlen == 0;
    EXPECT_TRUE(has_default) << what;
  }
}

TEST(BuildIpcache, SamplesMatchClassOfIp) {
  for (const auto& dir : sample_dirs()) check_model(load_dir(dir), dir.filename());
}

TEST(BuildIpcache, FeaturesMatchClassOfIp) {
  check_model(load_yaml("features.yaml", kFeaturesYaml), "features");
}

TEST(BuildIpcache, PodAndNodeAddressesAreExact) {
  ir::Model m = load_yaml("features.yaml", kFeaturesYaml);
  ir::PolicyTables t = ir::resolve_policies(m);
  IpcacheMaps ipc = build_ipcache(m, t, NodeTarget{m.nodes[0].id, m.nodes[0].name, m.nodes[0].ip});
  size_t pods = 0;
  for (const auto& e : m.endpoints) pods += e.host_network ? 0 : 1;
  EXPECT_EQ(ipc.host.entries.size(), pods + m.nodes.size());
  for (const auto& e : ipc.host.entries) EXPECT_EQ(e.key.size(), sizeof(polc_ip_key));
}

}  // namespace
}  // namespace polc::backend_bpf::testing
