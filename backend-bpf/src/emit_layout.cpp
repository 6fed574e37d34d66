#include "polc/backend_bpf/emit_layout.h"

#include <algorithm>
#include <map>

#include "polc/backend_bpf/layout_codec.h"
#include "polc/ir/dump.h"

namespace polc::backend_bpf {

namespace {

struct Attach {
  const char* hook;
  const char* direction;  ///< tc direction on the host-side veth
  const char* policy;     ///< policy direction enforced
  const char* what;
};

/// The datapath's programs (backend-bpf/datapath/polc_datapath.bpf.c) and where they attach.
const std::map<std::string, Attach>& attach_points() {
  static const std::map<std::string, Attach> points = {
      {"polc_from_pod", {"tc", "ingress", "egress", "packets the pod sends: its egress policy"}},
      {"polc_to_pod", {"tc", "egress", "ingress", "packets to the pod: its ingress policy"}},
      {"polc_from_underlay", {"tc", "ingress", "none", "NodePort connections from other nodes (datapath/lb.h)"}},
      {"polc_to_underlay", {"tc", "egress", "none", "replies of local NodePort backends (datapath/lb.h)"}},
  };
  return points;
}

nlohmann::json entries_json(const ObjectMap& om, const MapContents& mc) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : mc.entries)
    out.push_back({{"key", layout::decode(om.key, e.key.data())}, {"value", layout::decode(om.value, e.value.data())}});
  return out;
}

nlohmann::json ranges_json(const ObjectMap& om, const MapContents& mc) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : mc.ranges)
    out.push_back({{"first", r.first}, {"last", r.last}, {"value", layout::decode(om.value, r.value.data())}});
  return out;
}

const char* class_kind(ir::AddrClass::Kind k) {
  switch (k) {
    case ir::AddrClass::Kind::Pods: return "pods";
    case ir::AddrClass::Kind::Node: return "node";
    case ir::AddrClass::Kind::World: return "world";
  }
  return "?";
}

nlohmann::json tables_json(const LayoutInput& in) {
  const ir::Model& m = in.model;
  const ir::PolicyTables& t = in.tables;
  nlohmann::json classes = nlohmann::json::array();
  for (const auto& c : t.classes) {
    nlohmann::json j = {{"id", c.id}, {"kind", class_kind(c.kind)}, {"name", c.name}};
    if (c.kind == ir::AddrClass::Kind::Pods) {
      nlohmann::json eps = nlohmann::json::array();
      for (auto e : c.endpoints) eps.push_back(m.endpoint_name(e));
      j["endpoints"] = eps;
    } else if (c.kind == ir::AddrClass::Kind::Node) {
      j["node"] = m.node(c.node).name;
    } else {
      nlohmann::json ps = nlohmann::json::array();
      for (const auto& p : c.prefixes) ps.push_back(p.str());
      j["prefixes"] = ps;
    }
    classes.push_back(j);
  }
  nlohmann::json contexts = nlohmann::json::array();
  for (uint32_t lc = 0; lc < in.policy.context_ids.size(); ++lc) {
    const ir::Context& c = t.contexts[in.policy.context_ids[lc]];
    nlohmann::json eps = nlohmann::json::array(), pols = nlohmann::json::array();
    for (auto e : c.endpoints)
      if (std::find(in.policy.local_endpoints.begin(), in.policy.local_endpoints.end(), e) !=
          in.policy.local_endpoints.end())
        eps.push_back(m.endpoint_name(e));  // the context's pods on this node
    for (auto p : c.policies) pols.push_back(m.policy(p).display());
    contexts.push_back({{"id", lc},
                        {"endpoints", eps},
                        {"policies", pols},
                        {"isolated", {{"ingress", c.isolated[0]}, {"egress", c.isolated[1]}}}});
  }
  nlohmann::json rule_sets = nlohmann::json::array();
  for (const auto& rs : t.rule_sets) {
    nlohmann::json ids = nlohmann::json::array();
    for (auto r : rs) ids.push_back(r.v);
    rule_sets.push_back(ids);
  }
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& r : m.rules)
    rules.push_back({{"id", r.id.v},
                     {"policy", m.policy(r.policy).display()},
                     {"path", r.path},
                     {"origin", ir::rule_origin(m, r.id)},
                     {"summary", ir::rule_summary(m, r)}});
  nlohmann::json l7_sets = nlohmann::json::array();
  for (const auto& s : t.l7_sets) {
    nlohmann::json ms = nlohmann::json::array();
    for (const auto& ref : s.matches) {
      const auto& hm = m.rule(ref.rule).ports[ref.group].http[ref.match];
      ms.push_back({{"rule", ref.rule.v}, {"group", ref.group}, {"match", ref.match}, {"http", hm.str()}});
    }
    l7_sets.push_back(ms);
  }
  nlohmann::json endpoints = nlohmann::json::array();
  for (const auto& e : m.endpoints) {
    nlohmann::json j = {{"id", e.id.v},
                        {"name", m.endpoint_name(e.id)},
                        {"ip", e.ip.str()},
                        {"node", m.node(e.node).name},
                        {"host_network", e.host_network},
                        {"class", t.class_of_endpoint[e.id.v]}};
    endpoints.push_back(j);
  }
  nlohmann::json services = in.services ? in.services->table : nlohmann::json::array();
  return {{"classes", classes}, {"contexts", contexts},   {"rule_sets", rule_sets}, {"rules", rules},
          {"l7_sets", l7_sets}, {"endpoints", endpoints}, {"services", services}};
}

}  // namespace

ir::Result<nlohmann::json> emit_layout(const LayoutInput& in) {
  std::map<std::string, const MapContents*> contents;
  for (const MapContents* mc :
       {&in.ipcache.host, &in.ipcache.lpm, &in.policy.config, &in.policy.endpoints, &in.policy.contexts,
        &in.policy.policy, &in.policy.functions, &in.policy.port_classes, &in.policy.verdicts})
    contents[mc->name] = mc;
  if (in.services)
    for (const MapContents* mc : {&in.services->services, &in.services->backends, &in.services->filter})
      contents[mc->name] = mc;
  if (in.l7 && in.l7->enabled)
    for (const MapContents* mc : {&in.l7->sets, &in.l7->dfa}) contents[mc->name] = mc;
  std::map<std::string, uint64_t> used;
  for (const auto& m : in.capacity.maps) used[m.name] = m.used;

  nlohmann::json maps = nlohmann::json::array();
  try {
    for (const auto& om : in.object.maps) {
      nlohmann::json j = {{"name", om.name},
                          {"type", map_type_name(om.type)},
                          {"max_entries", om.max_entries},
                          {"flags", om.flags},
                          {"key", om.key.is_null() ? nlohmann::json() : om.key},
                          {"value", om.value.is_null() ? nlohmann::json() : om.value}};
      auto it = contents.find(om.name);
      if (it == contents.end()) {
        j["fill"] = "runtime";  // conntrack, fragments, counters, events: the datapath fills them
      } else if (!it->second->ranges.empty()) {
        j["fill"] = "ranges";
        j["ranges"] = ranges_json(om, *it->second);
      } else {
        j["fill"] = "entries";
        j["entries"] = entries_json(om, *it->second);
      }
      j["used"] = used[om.name];
      if (it != contents.end()) contents.erase(it);
      maps.push_back(std::move(j));
    }
  } catch (const std::exception& e) {
    return ir::Error{std::string("internal error: layout: ") + e.what()};
  }
  if (!contents.empty()) return ir::Error{"internal error: the object lacks map " + contents.begin()->first};

  nlohmann::json programs = nlohmann::json::array();
  for (const auto& p : in.object.programs) {
    auto it = attach_points().find(p.name);
    if (it == attach_points().end()) return ir::Error{"internal error: program " + p.name + " has no attach point"};
    const Attach& a = it->second;
    const bool underlay = std::string(a.policy) == "none";
    programs.push_back(
        {{"name", p.name},
         {"section", p.section},
         {"type", "sched_cls"},
         {"policy_direction", a.policy},
         {"attach",
          {{"hook", a.hook},
           {"direction", a.direction},
           {"target", underlay ? "underlay" : "pod"},
           {"interface", underlay ? "the node's underlay interface" : "host-side veth of each local pod"}}},
         {"description", a.what},
         {"instructions", p.instructions + in.object.subprogram_instructions}});
  }

  nlohmann::json types = nlohmann::json::object();
  for (const char* name : {"polc_event"}) {
    auto it = in.object.structs.find(name);
    if (it == in.object.structs.end()) return ir::Error{std::string("internal error: BTF lacks struct ") + name};
    types[name] = it->second;
  }

  nlohmann::json out;
  out["format"] = kLayoutFormat;
  out["abi_version"] = POLC_ABI_VERSION;
  out["node"] = {{"name", in.node.name}, {"ip", in.node.ip.str()}, {"class", in.ipcache.node_class}};
  out["object"] = in.object_file;
  out["epoch"] = in.policy.epoch;
  out["programs"] = programs;
  out["maps"] = maps;
  out["types"] = types;
  out["events"] = {{"map", "polc_events"}, {"record", "polc_event"}};
  out["tables"] = tables_json(in);
  out["capacity"] = capacity_json(in.capacity);
  return out;
}

}  // namespace polc::backend_bpf
