// BuildPolicyMaps: the maps, read the way the datapath reads them, give the tables' verdict for
// every (context, direction, peer class, protocol, port); renumbering and defaults are exact.
#include "polc/backend_bpf/build_policy_maps.h"

#include <gtest/gtest.h>

#include <set>

#include "map_sim.h"
#include "polc/backend_bpf/build_ipcache.h"
#include "test_util.h"

namespace polc::backend_bpf::testing {
namespace {

NodeTarget target(const ir::Model& m, const ir::Node& n) {
  return NodeTarget{n.id, n.name, n.ip};
}

/// Checks every context of every node against the tables at every segment edge.
size_t check_model(const ir::Model& m, const std::string& what) {
  ir::PolicyTables t = ir::resolve_policies(m);
  size_t checked = 0;
  std::set<ir::EndpointId> covered;
  for (const auto& node : m.nodes) {
    NodeTarget nt = target(m, node);
    IpcacheMaps ipc = build_ipcache(m, t, nt);
    PolicyMaps pm = build_policy_maps(m, t, nt, ipc.node_class);
    MapSim sim(ipc, pm);
    for (auto e : pm.local_endpoints) covered.insert(e);
    for (uint32_t lc = 0; lc < pm.context_ids.size(); ++lc) {
      uint32_t g = pm.context_ids[lc];
      EXPECT_EQ(t.contexts[g].node, node.id) << what;
      for (int d = 0; d < 2; ++d)
        for (uint32_t k = 0; k < t.classes.size(); ++k) {
          const ir::PortFunction& f = t.function(g, static_cast<ir::Direction>(d), k);
          for (int b = 0; b < POLC_BUCKETS; ++b) {
            std::set<uint32_t> ports{0, bucket_port_max(b)};
            for (const auto& s : f.buckets[b]) {
              for (uint32_t p : {uint32_t(s.lo), uint32_t(s.hi), uint32_t(s.lo) + 1, uint32_t(s.hi) + 1})
                if (p <= bucket_port_max(b)) ports.insert(p);
            }
            for (uint32_t port : ports) {
              const uint8_t proto = b == 0 ? 6 : b == 1 ? 17 : b == 2 ? 132 : b == 3 ? 1 : 47;
              polc_verdict want = verdict_of(t, f.at(proto, static_cast<uint16_t>(port)));
              auto got =
                  sim.judge(lc, static_cast<uint8_t>(d), k, static_cast<uint8_t>(b), static_cast<uint16_t>(port));
              ++checked;
              if (!got) {
                ADD_FAILURE() << what << ": no verdict";
                continue;
              }
              EXPECT_EQ(got->outcome, want.outcome)
                  << what << " ctx " << g << " dir " << d << " class " << k << " bucket " << b << " port " << port;
              EXPECT_EQ(got->rule_set, want.rule_set) << what;
              EXPECT_EQ(got->rule, want.rule) << what;
              EXPECT_EQ(got->l7_set, want.l7_set) << what;
            }
          }
        }
    }
  }
  // Every policy-managed pod is on exactly one node's endpoints map.
  for (const auto& e : m.endpoints) EXPECT_EQ(covered.count(e.id), e.host_network ? 0u : 1u) << what;
  return checked;
}

TEST(BuildPolicyMaps, SamplesGiveTheTablesVerdicts) {
  for (const auto& dir : sample_dirs()) EXPECT_GT(check_model(load_dir(dir), dir.filename()), 100u);
}

TEST(BuildPolicyMaps, FeaturesGiveTheTablesVerdicts) {
  EXPECT_GT(check_model(load_yaml("features.yaml", kFeaturesYaml), "features"), 100u);
}

TEST(BuildPolicyMaps, DefaultsLeaveOnlyTheExceptions) {
  ir::Model m = load_dir(std::filesystem::path(POLC_SOURCE_DIR) / "samples" / "zero-trust");
  ir::PolicyTables t = ir::resolve_policies(m);
  size_t full = 0, stored = 0, verdict_full = 0, verdict_stored = 0;
  for (const auto& node : m.nodes) {
    NodeTarget nt = target(m, node);
    PolicyMaps pm = build_policy_maps(m, t, nt, POLC_NONE);
    full += pm.context_ids.size() * 2 * t.classes.size();
    stored += pm.policy.entries.size();
    for (int b = 0; b < POLC_BUCKETS; ++b) verdict_full += pm.function_ids.size() * pm.port_class_count[b];
    verdict_stored += pm.verdicts.entries.size();
    EXPECT_EQ(pm.contexts.entries.size(), pm.context_ids.size());
    EXPECT_EQ(pm.functions.entries.size(), pm.function_ids.size());
  }
  EXPECT_LT(stored, full / 2) << "policy entries should mostly fold into context defaults";
  EXPECT_LT(verdict_stored, verdict_full / 2) << "verdicts should mostly fold into function defaults";
}

TEST(BuildPolicyMaps, PortClassesCoverEveryPortOnce) {
  ir::Model m = load_yaml("features.yaml", kFeaturesYaml);
  ir::PolicyTables t = ir::resolve_policies(m);
  PolicyMaps pm = build_policy_maps(m, t, target(m, m.nodes[1]), POLC_NONE);
  std::vector<int> seen(POLC_PORT_INDEX_SIZE, 0);
  for (const auto& r : pm.port_classes.ranges) {
    ASSERT_LE(r.first, r.last);
    ASSERT_LT(r.last, POLC_PORT_INDEX_SIZE);
    for (uint32_t i = r.first; i <= r.last; ++i) ++seen[i];
  }
  for (uint32_t i = 0; i < POLC_PORT_INDEX_SIZE; ++i) ASSERT_EQ(seen[i], 1) << "index " << i;
  EXPECT_GT(pm.port_class_count[POLC_BUCKET_TCP], 4u);  // 5000-5999, 5432, 5500, named ports ...
  EXPECT_EQ(pm.port_class_count[POLC_BUCKET_OTHER], 1u);
}

TEST(BuildPolicyMaps, IsDeterministicAndHasAnEpoch) {
  ir::Model m = load_yaml("features.yaml", kFeaturesYaml);
  ir::PolicyTables t = ir::resolve_policies(m);
  auto a = build_policy_maps(m, t, target(m, m.nodes[0]), 3);
  auto b = build_policy_maps(m, t, target(m, m.nodes[0]), 3);
  ASSERT_EQ(a.verdicts.entries.size(), b.verdicts.entries.size());
  for (size_t i = 0; i < a.verdicts.entries.size(); ++i)
    EXPECT_EQ(a.verdicts.entries[i].key, b.verdicts.entries[i].key);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_NE(a.epoch, 0u);
  auto other = build_policy_maps(m, t, target(m, m.nodes[1]), 3);
  EXPECT_NE(a.epoch, other.epoch) << "different nodes hold different policy";
  polc_config cfg = as<polc_config>(a.config.entries.at(0).value);
  EXPECT_EQ(cfg.abi_version, uint32_t{POLC_ABI_VERSION});
  EXPECT_EQ(cfg.epoch, a.epoch);
  EXPECT_EQ(cfg.node_class, 3u);
  EXPECT_TRUE(cfg.flags & POLC_CFG_ALLOW_FROM_OWN_NODE);
}

}  // namespace
}  // namespace polc::backend_bpf::testing
