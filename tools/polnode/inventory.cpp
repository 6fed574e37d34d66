#include "inventory.h"

#include <iostream>

#include "polc/frontend/loader.h"
#include "polc/ir/diagnostic.h"

namespace polc::polnode {

namespace {

bool subset_matches(const ir::Labels& subset, const ir::Labels& labels) {
  for (const auto& [k, v] : subset) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace

runtime::Result<runtime::LabSpec> lab_spec_from_model(const ir::Model& m, const LabSpecOptions& opt) {
  runtime::LabSpec spec;
  spec.name = opt.name;
  spec.source = opt.source;
  spec.underlay_prefix = m.config.node_cidr.len;

  // Nodes, and where each endpoint runs.
  std::vector<std::string> placement(m.endpoints.size());
  bool only_default = m.nodes.size() == 1 && m.nodes[0].synthetic;
  if (opt.nodes > 0 && static_cast<size_t>(opt.nodes) != m.nodes.size() && !only_default)
    return runtime::Error{"--nodes " + std::to_string(opt.nodes) + ": the inventory already places pods on " +
                          std::to_string(m.nodes.size()) + " nodes"};
  if (opt.nodes > 1 && only_default) {
    auto n = static_cast<uint32_t>(opt.nodes);
    for (uint32_t i = 0; i < n; ++i)
      spec.nodes.push_back({"node-" + std::to_string(i + 1), m.config.node_cidr.first() + 2 + i});
    // The IR's placement rule, over N nodes: a workload's replicas go round-robin from a
    // hash-chosen start.
    for (const auto& e : m.endpoints) {
      uint32_t idx = static_cast<uint32_t>(ir::stable_hash(m.ns(e.ns).name + "/" + e.workload) % n);
      if (!e.workload_kind.empty()) idx = (idx + static_cast<uint32_t>(e.replica)) % n;
      placement[e.id.v] = spec.nodes[idx].name;
    }
  } else {
    for (const auto& n : m.nodes) spec.nodes.push_back({n.name, n.ip.value});
    for (const auto& e : m.endpoints) placement[e.id.v] = m.node(e.node).name;
  }

  for (const auto& e : m.endpoints) {
    runtime::LabPod p;
    p.ns = m.ns(e.ns).name;
    p.name = e.name;
    p.workload = e.workload;
    p.replica = e.replica;
    p.node = placement[e.id.v];
    p.host_network = e.host_network;
    p.ip = e.ip.value;
    if (e.host_network)  // the node's IP (its node may differ from the IR's with --nodes)
      for (const auto& n : spec.nodes)
        if (n.name == p.node) p.ip = n.ip;
    for (const auto& cp : e.ports) p.ports.push_back({cp.name, cp.port, cp.proto});
    spec.pods.push_back(std::move(p));
  }
  for (const auto& s : m.services) {
    runtime::LabService svc;
    svc.ns = m.ns(s.ns).name;
    svc.name = s.name;
    svc.type = ir::service_type_name(s.type);
    if (s.cluster_ip) svc.cluster_ip = s.cluster_ip->value;
    auto backends = m.service_backends(s.id);
    // Weighted subsets: each subset's weight is shared equally by its backends.
    std::vector<size_t> subset_size(s.weights.size(), 0);
    for (auto b : backends)
      for (size_t i = 0; i < s.weights.size(); ++i)
        if (subset_matches(s.weights[i].subset, m.endpoint(b).labels)) {
          ++subset_size[i];
          break;
        }
    for (const auto& sp : s.ports) {
      runtime::LabServicePort port;
      port.name = sp.name;
      port.proto = sp.proto;
      port.port = sp.port;
      port.node_port = sp.node_port;
      for (auto b : backends) {
        const auto& e = m.endpoint(b);
        auto target = m.target_port(sp, e);
        if (!target) continue;
        uint32_t weight = 1;
        if (!s.weights.empty()) {
          weight = 0;  // not in any weighted subset: out of rotation
          for (size_t i = 0; i < s.weights.size(); ++i)
            if (subset_matches(s.weights[i].subset, e.labels)) {
              weight = s.weights[i].weight * 1000 / static_cast<uint32_t>(subset_size[i]);
              break;
            }
        }
        port.backends.push_back({m.endpoint_name(b), spec.pods[b.v].ip, *target, weight});
      }
      svc.ports.push_back(std::move(port));
    }
    spec.services.push_back(std::move(svc));
  }
  return spec;
}

runtime::Result<runtime::LabSpec> load_lab_spec(const std::vector<std::string>& paths, const LabSpecOptions& opt) {
  ir::DiagnosticEngine diags;
  auto res = frontend::load_inputs(paths, diags);
  diags.sort();
  ir::RenderOptions ro;
  for (const auto& d : diags.diagnostics()) {
    if (d.severity == ir::Severity::Note) continue;
    std::cerr << ir::render_text(d, res.model.sources, ro);
  }
  if (diags.has_errors()) return runtime::Error{"the inventory has errors"};
  if (res.model.endpoints.empty()) return runtime::Error{"the inventory has no pods"};
  return lab_spec_from_model(res.model, opt);
}

}  // namespace polc::polnode
