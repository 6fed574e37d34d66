#include "polc/backend_bpf/backend.h"

#include <fmt/format.h>
#include <llvm/Config/llvm-config.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "polc/backend_bpf/build_ipcache.h"
#include "polc/backend_bpf/build_l7_maps.h"
#include "polc/backend_bpf/build_service_maps.h"
#include "polc/backend_bpf/emit_layout.h"
#include "polc/backend_bpf/read_object.h"
#include "polc/ir/policy_tables.h"

namespace polc::backend_bpf {

namespace fs = std::filesystem;

const char* llvm_version() {
  return LLVM_VERSION_STRING;
}

namespace {

/// Constructs the datapath cannot enforce, and the ones it enforces only in part.
bool check_supported(const ir::Model& m, ir::DiagnosticEngine& diags) {
  bool ok = true;
  for (const auto& p : m.policies)
    if (p.tier) {
      diags.report(ir::DiagId::DatapathUnsupported, p.loc,
                   "ordered (tiered) policy '" + p.display() + "' cannot be compiled to the datapath yet");
      ok = false;
    }
  // HTTP rules are enforced by the datapath (BuildL7Maps reports what it cannot encode).
  return ok;
}

}  // namespace

ir::Result<CompileOutput> compile_policy(const ir::Model& m, const CompileOptions& opt, ir::DiagnosticEngine& diags) {
  if (!check_supported(m, diags)) return ir::Error{"the policy uses constructs the datapath cannot enforce"};

  std::vector<NodeTarget> targets;
  for (const auto& n : m.nodes)
    if (!opt.node || n.name == *opt.node) targets.push_back(NodeTarget{n.id, n.name, n.ip});
  if (targets.empty()) {
    std::string names;
    for (const auto& n : m.nodes) names += (names.empty() ? "" : ", ") + n.name;
    return ir::Error{"unknown node '" + opt.node.value_or("") + "' (nodes: " + names + ")"};
  }

  // ResolvePolicies: the cluster-wide tables every node's maps are cut from.
  const ir::PolicyTables tables = ir::resolve_policies(m);
  // BuildL7Maps: the HTTP matches as DFAs, cluster-wide like the l7 sets.
  auto l7 = build_l7_maps(m, tables, diags);
  if (!l7) return l7.error();

  CompileOutput out;
  bool ok = true;
  for (const NodeTarget& node : targets) {
    NodeArtifact a;
    a.node = node;
    IpcacheMaps ipc = build_ipcache(m, tables, node);
    PolicyMaps pm = build_policy_maps(m, tables, node, ipc.node_class, opt.maps);
    ServiceMaps svc = build_service_maps(m, node);
    a.pods = pm.local_endpoints.size();
    if (a.pods == 0)
      diags.report(ir::DiagId::NodeWithoutPods, ir::SourceLoc{},
                   "node '" + node.name + "' has no policy-managed pods; its maps hold only the ipcache");

    CapacityPlan plan =
        plan_capacity({&ipc.host, &ipc.lpm, &pm.config, &pm.endpoints, &pm.contexts, &pm.policy, &pm.functions,
                       &pm.port_classes, &pm.verdicts, &svc.services, &svc.backends, &svc.filter},
                      tables.rule_sets.size(), opt.capacity);
    plan_l7_capacity(plan, *l7);

    // Nodes of similar size share a configuration; compile_datapath caches by it.
    auto obj = compile_datapath(plan.build_config, Emit::Obj);
    if (!obj) return obj.error();
    a.object = std::move(*obj);
    if (opt.emit != Emit::Obj) {
      auto text = compile_datapath(plan.build_config, opt.emit);
      if (!text) return text.error();
      a.text = std::move(*text);
    }

    auto info = read_object(a.object);
    if (!info) return info.error();
    auto report = check_capacity(*info, plan, node.name, diags);
    if (!report) return report.error();
    a.capacity = std::move(*report);
    ok = ok && a.capacity.ok();

    auto layout = emit_layout(LayoutInput{m, tables, node, ipc, pm, *info, a.capacity, kObjectFile, &svc, &*l7});
    if (!layout) return layout.error();
    a.layout = std::move(*layout);
    out.nodes.push_back(std::move(a));
  }
  if (!ok) return ir::Error{"the policy does not fit the datapath's limits"};
  return out;
}

namespace {

ir::Status write_file(const fs::path& p, const std::string& data) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  if (!f) return ir::Error{"cannot write " + p.string()};
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  f.close();
  if (!f) return ir::Error{"cannot write " + p.string()};
  return {};
}

}  // namespace

ir::Status write_output(const CompileOutput& out, const std::string& dir, bool flat, Emit emit) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return ir::Error{"cannot create " + dir + ": " + ec.message()};
  const bool per_node = !(flat && out.nodes.size() == 1);
  nlohmann::json index = {{"format", kLayoutFormat}, {"nodes", nlohmann::json::array()}};
  for (const auto& a : out.nodes) {
    fs::path d = per_node ? fs::path(dir) / a.node.name : fs::path(dir);
    fs::create_directories(d, ec);
    if (ec) return ir::Error{"cannot create " + d.string() + ": " + ec.message()};
    ir::Status st;
    switch (emit) {
      case Emit::Llvm: st = write_file(d / "polc.ll", a.text); break;
      case Emit::Asm: st = write_file(d / "polc.s", a.text); break;
      case Emit::Obj:
        st = write_file(d / kObjectFile, a.object);
        if (st.ok()) st = write_file(d / kLayoutFile, a.layout.dump(1) + "\n");
        break;
    }
    if (!st.ok()) return st;
    index["nodes"].push_back({{"name", a.node.name}, {"ip", a.node.ip.str()}, {"dir", per_node ? a.node.name : "."}});
  }
  if (per_node && emit == Emit::Obj) return write_file(fs::path(dir) / kIndexFile, index.dump(1) + "\n");
  return {};
}

}  // namespace polc::backend_bpf
