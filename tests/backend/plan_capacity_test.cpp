// PlanCapacity / CheckCapacity: headroom and floors, the generated configuration header, and
// limit violations reported as capacity-exceeded diagnostics before anything is loaded.
#include "polc/backend_bpf/plan_capacity.h"

#include <gtest/gtest.h>

namespace polc::backend_bpf::testing {
namespace {

MapContents contents(const std::string& name, uint64_t used) {
  MapContents mc;
  mc.name = name;
  mc.used = used;
  return mc;
}

const MapPlan& find(const CapacityPlan& p, const std::string& name) {
  for (const auto& m : p.maps)
    if (m.name == name) return m;
  throw std::runtime_error("no map " + name);
}

TEST(PlanCapacity, DoublesToAPowerOfTwoAboveAFloor) {
  auto policy = contents("polc_policy", 3000), verdicts = contents("polc_verdicts", 10);
  auto ports = contents("polc_port_classes", POLC_PORT_INDEX_SIZE);
  CapacityPlan plan = plan_capacity({&policy, &verdicts, &ports}, 5000, {});
  EXPECT_EQ(find(plan, "polc_policy").max_entries, 8192u);
  EXPECT_EQ(find(plan, "polc_verdicts").max_entries, 4096u);   // the floor
  EXPECT_EQ(find(plan, "polc_port_classes").max_entries, 0u);  // fixed by the ABI
  EXPECT_EQ(find(plan, "polc_rule_counters").max_entries, 16384u);
  EXPECT_EQ(find(plan, "polc_ct").max_entries, 262144u);
  EXPECT_NE(plan.build_config.find("#define POLC_CAP_POLICY 8192u\n"), std::string::npos) << plan.build_config;
  EXPECT_NE(plan.build_config.find("#define POLC_CAP_RULE_COUNTERS 16384u\n"), std::string::npos);
  EXPECT_EQ(plan.build_config.find("POLC_CAP_PORT_CLASSES"), std::string::npos);
}

TEST(PlanCapacity, OptionsSizeRuntimeMaps) {
  CapacityOptions opt;
  opt.ct_entries = 1000;
  opt.event_bytes = 5000;
  CapacityPlan plan = plan_capacity({}, 1, opt);
  EXPECT_EQ(find(plan, "polc_ct").max_entries, 1024u);
  EXPECT_EQ(find(plan, "polc_events").max_entries, 8192u);
}

ObjectInfo object_for(const CapacityPlan& plan) {
  ObjectInfo obj;
  for (const auto& p : plan.maps) {
    ObjectMap m;
    m.name = p.name;
    m.type = p.name == "polc_events" ? 27 : p.name == "polc_port_classes" ? 2 : 1;
    m.max_entries = p.max_entries ? static_cast<uint32_t>(p.max_entries) : POLC_PORT_INDEX_SIZE;
    m.key_size = 4;
    m.value_size = 8;
    obj.maps.push_back(m);
  }
  obj.programs.push_back(ObjectProgram{"polc_from_pod", "tc", 900});
  obj.subprogram_instructions = 300;
  return obj;
}

TEST(CheckCapacity, AcceptsAPlanThatFits) {
  auto policy = contents("polc_policy", 100);
  CapacityPlan plan = plan_capacity({&policy}, 10, {});
  ir::DiagnosticEngine diags;
  auto r = check_capacity(object_for(plan), plan, "n1", diags);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->ok());
  EXPECT_FALSE(diags.has_errors());
  ASSERT_EQ(r->programs.size(), 1u);
  EXPECT_EQ(r->programs[0].instructions, 1200u);
  EXPECT_EQ(r->programs[0].limit, 1000000u);
  std::string text = render_capacity(*r, "n1");
  EXPECT_NE(text.find("polc_policy"), std::string::npos);
  EXPECT_NE(text.find("1200 instructions"), std::string::npos);
}

TEST(CheckCapacity, ReportsMapsOverTheKernelLimit) {
  auto policy = contents("polc_policy", uint64_t(1) << 29);  // over the hash limit (2^28)
  CapacityPlan plan = plan_capacity({&policy}, 10, {});
  ir::DiagnosticEngine diags;
  auto r = check_capacity(object_for(plan), plan, "n1", diags);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok());
  ASSERT_TRUE(diags.has_errors());
  EXPECT_EQ(diags.diagnostics()[0].id, ir::DiagId::CapacityExceeded);
  EXPECT_NE(diags.diagnostics()[0].message.find("polc_policy"), std::string::npos);
  EXPECT_NE(diags.diagnostics()[0].message.find("node 'n1'"), std::string::npos);
}

TEST(CheckCapacity, ReportsProgramsOverTheVerifierLimit) {
  CapacityPlan plan = plan_capacity({}, 10, {});
  ObjectInfo obj = object_for(plan);
  obj.programs[0].instructions = 999999;
  ir::DiagnosticEngine diags;
  auto r = check_capacity(obj, plan, "n1", diags);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok());
  EXPECT_TRUE(diags.has_errors());
}

TEST(CheckCapacity, APlanTheObjectIgnoresIsAnInternalError) {
  auto policy = contents("polc_policy", 100);
  CapacityPlan plan = plan_capacity({&policy}, 10, {});
  ObjectInfo obj = object_for(plan);
  for (auto& m : obj.maps)
    if (m.name == "polc_policy") m.max_entries = 65536;  // the macro was not used
  ir::DiagnosticEngine diags;
  EXPECT_FALSE(check_capacity(obj, plan, "n1", diags).ok());
}

}  // namespace
}  // namespace polc::backend_bpf::testing
