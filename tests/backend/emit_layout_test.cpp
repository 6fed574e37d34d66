// EmitLayout and the whole pipeline: layout.json for samples/demo against a golden file
// (POLC_UPDATE_GOLDEN=1 regenerates it), the codec round trip on every entry of every sample,
// output directories, and the diagnostics compile_policy reports.
#include "polc/backend_bpf/emit_layout.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "polc/backend_bpf/backend.h"
#include "polc/backend_bpf/build_ipcache.h"
#include "polc/backend_bpf/build_l7_maps.h"
#include "polc/backend_bpf/build_policy_maps.h"
#include "polc/backend_bpf/build_service_maps.h"
#include "polc/backend_bpf/layout_codec.h"
#include "test_util.h"

namespace polc::backend_bpf::testing {
namespace {

namespace fs = std::filesystem;

/// Instruction counts change with every datapath edit, not with the layout: masked.
void mask_instructions(nlohmann::json& j) {
  if (j.is_object()) {
    for (auto& [k, v] : j.items()) {
      if (k == "instructions")
        v = "<masked>";
      else
        mask_instructions(v);
    }
  } else if (j.is_array()) {
    for (auto& v : j) mask_instructions(v);
  }
}

std::string normalize(std::string text) {
  const std::string root = std::string(POLC_SOURCE_DIR) + "/";
  for (size_t at; (at = text.find(root)) != std::string::npos;) text.erase(at, root.size());
  return text;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(EmitLayout, DemoMatchesGolden) {
  ir::Model m = load_dir(fs::path(POLC_SOURCE_DIR) / "samples" / "demo");
  ir::DiagnosticEngine diags;
  auto out = compile_policy(m, {}, diags);
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->nodes.size(), 1u);
  nlohmann::json layout = out->nodes[0].layout;
  mask_instructions(layout);
  std::string got = normalize(layout.dump(1)) + "\n";
  fs::path golden = fs::path(POLC_SOURCE_DIR) / "tests" / "backend" / "golden" / "demo.layout.json";
  if (std::getenv("POLC_UPDATE_GOLDEN")) {
    fs::create_directories(golden.parent_path());
    std::ofstream(golden) << got;
  }
  std::string want = read_file(golden);
  ASSERT_FALSE(want.empty()) << "missing " << golden << " (run with POLC_UPDATE_GOLDEN=1)";
  EXPECT_EQ(got, want) << "layout.json changed; if intended, regenerate with POLC_UPDATE_GOLDEN=1";
}

TEST(EmitLayout, EntriesRoundTripThroughTheCodec) {
  for (const auto& dir : sample_dirs()) {
    ir::Model m = load_dir(dir);
    ir::PolicyTables t = ir::resolve_policies(m);
    ir::DiagnosticEngine diags;
    auto out = compile_policy(m, {}, diags);
    ASSERT_TRUE(out.ok()) << dir << ": " << out.error().message;
    for (const auto& a : out->nodes) {
      // The bytes the passes produced, in the order layout.json lists them.
      IpcacheMaps ipc = build_ipcache(m, t, a.node);
      PolicyMaps pm = build_policy_maps(m, t, a.node, ipc.node_class);
      ServiceMaps svc = build_service_maps(m, a.node);
      auto l7 = build_l7_maps(m, t, diags);
      ASSERT_TRUE(l7.ok());
      std::map<std::string, const MapContents*> contents;
      for (const MapContents* mc :
           {&ipc.host, &ipc.lpm, &pm.config, &pm.endpoints, &pm.contexts, &pm.policy, &pm.functions, &pm.port_classes,
            &pm.verdicts, &svc.services, &svc.backends, &svc.filter})
        contents[mc->name] = mc;
      if (l7->enabled)
        for (const MapContents* mc : {&l7->sets, &l7->dfa}) contents[mc->name] = mc;
      for (const auto& map : a.layout["maps"]) {
        const std::string name = map["name"];
        EXPECT_LE(map["used"].get<uint64_t>(), map["max_entries"].get<uint64_t>()) << name;
        if (map["fill"] == "runtime") {
          EXPECT_EQ(contents.count(name), 0u) << name;
          continue;
        }
        const MapContents& mc = *contents.at(name);
        if (map["fill"] == "entries") {
          ASSERT_EQ(map["entries"].size(), mc.entries.size()) << name;
          for (size_t i = 0; i < mc.entries.size(); ++i) {
            EXPECT_EQ(layout::encode(map["key"], map["entries"][i]["key"]), mc.entries[i].key) << name << " #" << i;
            EXPECT_EQ(layout::encode(map["value"], map["entries"][i]["value"]), mc.entries[i].value) << name;
          }
        } else {
          ASSERT_EQ(map["ranges"].size(), mc.ranges.size()) << name;
          for (size_t i = 0; i < mc.ranges.size(); ++i)
            EXPECT_EQ(layout::encode(map["value"], map["ranges"][i]["value"]), mc.ranges[i].value) << name;
        }
      }
    }
  }
}

TEST(EmitLayout, DescribesProgramsTablesAndEvents) {
  ir::Model m = load_yaml("features.yaml", kFeaturesYaml);
  ir::DiagnosticEngine diags;
  auto out = compile_policy(m, {}, diags);
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->nodes.size(), 2u);
  const auto& l = out->nodes[1].layout;
  EXPECT_EQ(l["format"], kLayoutFormat);
  EXPECT_EQ(l["abi_version"], POLC_ABI_VERSION);
  EXPECT_EQ(l["node"]["name"], "n2");
  EXPECT_EQ(l["node"]["ip"], "192.168.65.11");
  ASSERT_EQ(l["programs"].size(), 4u);
  EXPECT_EQ(l["programs"][0]["name"], "polc_from_pod");
  EXPECT_EQ(l["programs"][0]["attach"]["direction"], "ingress");
  EXPECT_EQ(l["programs"][0]["attach"]["target"], "pod");
  EXPECT_EQ(l["programs"][0]["policy_direction"], "egress");
  EXPECT_EQ(l["programs"][1]["name"], "polc_from_underlay");
  EXPECT_EQ(l["programs"][1]["attach"]["target"], "underlay");
  EXPECT_EQ(l["programs"][1]["attach"]["direction"], "ingress");
  EXPECT_EQ(l["programs"][2]["name"], "polc_to_pod");
  EXPECT_EQ(l["programs"][2]["attach"]["direction"], "egress");
  EXPECT_EQ(l["programs"][3]["attach"]["target"], "underlay");
  EXPECT_EQ(l["types"]["polc_event"]["size"], sizeof(polc_event));
  EXPECT_EQ(l["tables"]["contexts"].size(), 2u);  // web2 and db on n2
  EXPECT_EQ(l["tables"]["rules"].size(), m.rules.size());
  bool origin = false;
  for (const auto& r : l["tables"]["rules"])
    origin = origin || r["origin"].get<std::string>().find("features.yaml:") == 0;
  EXPECT_TRUE(origin);
  // Only n2's pods are in its endpoints map.
  for (const auto& map : l["maps"])
    if (map["name"] == "polc_endpoints") {
      ASSERT_EQ(map["entries"].size(), 2u);
      EXPECT_EQ(map["entries"][0]["key"]["addr"], "10.10.2.5");
    }
}

TEST(CompilePolicy, OneNodeOnlyWithNode) {
  ir::Model m = load_yaml("features.yaml", kFeaturesYaml);
  ir::DiagnosticEngine diags;
  CompileOptions opt;
  opt.node = "n1";
  auto out = compile_policy(m, opt, diags);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->nodes.size(), 1u);
  EXPECT_EQ(out->nodes[0].node.name, "n1");
  opt.node = "nope";
  auto bad = compile_policy(m, opt, diags);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("unknown node 'nope' (nodes: n1, n2)"), std::string::npos);
}

TEST(CompilePolicy, OrderedPoliciesAreReportedNotCompiled) {
  ir::Model m = load_dir(fs::path(POLC_SOURCE_DIR) / "samples" / "demo");
  m.policies[0].tier = 10;
  ir::DiagnosticEngine diags;
  auto out = compile_policy(m, {}, diags);
  EXPECT_FALSE(out.ok());
  ASSERT_TRUE(diags.has_errors());
  EXPECT_EQ(diags.diagnostics()[0].id, ir::DiagId::DatapathUnsupported);
}

TEST(WriteOutput, PerNodeDirectoriesOrFlat) {
  ir::Model m = load_yaml("features.yaml", kFeaturesYaml);
  ir::DiagnosticEngine diags;
  auto out = compile_policy(m, {}, diags);
  ASSERT_TRUE(out.ok());
  fs::path dir = fs::temp_directory_path() / ("polc-backend-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_TRUE(write_output(*out, dir.string(), false, Emit::Obj).ok());
  EXPECT_TRUE(fs::exists(dir / "n1" / kObjectFile));
  EXPECT_TRUE(fs::exists(dir / "n2" / kLayoutFile));
  auto index = nlohmann::json::parse(read_file(dir / kIndexFile));
  ASSERT_EQ(index["nodes"].size(), 2u);
  EXPECT_EQ(index["nodes"][1]["dir"], "n2");
  fs::remove_all(dir);

  CompileOptions opt;
  opt.node = "n2";
  opt.emit = Emit::Asm;
  auto one = compile_policy(m, opt, diags);
  ASSERT_TRUE(one.ok());
  ASSERT_TRUE(write_output(*one, dir.string(), true, Emit::Asm).ok());
  EXPECT_TRUE(fs::exists(dir / "polc.s"));
  EXPECT_FALSE(fs::exists(dir / kIndexFile));
  EXPECT_NE(read_file(dir / "polc.s").find("polc_judge"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace polc::backend_bpf::testing
