// EmitLayout: layout.json for one node: every map of the object (type, max entries, key/value
// layout read from the object's BTF, initial entries decoded through that layout), every
// program (section, attach point), the tables that give ids meaning (classes, contexts, rule
// sets, rules with their source locations), and the capacity report.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "polc/backend_bpf/build_l7_maps.h"
#include "polc/backend_bpf/build_service_maps.h"
#include "polc/backend_bpf/map_contents.h"
#include "polc/backend_bpf/plan_capacity.h"
#include "polc/backend_bpf/read_object.h"
#include "polc/ir/policy_tables.h"

namespace polc::backend_bpf {

/// The layout format version ("format" in layout.json).
inline constexpr const char* kLayoutFormat = "polc-layout/1";

struct LayoutInput {
  const ir::Model& model;
  const ir::PolicyTables& tables;
  const NodeTarget& node;
  const IpcacheMaps& ipcache;
  const PolicyMaps& policy;
  const ObjectInfo& object;
  const CapacityReport& capacity;
  std::string object_file;                ///< file name of the object beside layout.json
  const ServiceMaps* services = nullptr;  ///< BuildServiceMaps; none: the service maps start empty
  const L7Maps* l7 = nullptr;             ///< BuildL7Maps (when the object has the L7 maps)
};

/// Builds layout.json. Deterministic (entries sorted as the passes sorted them). A map whose
/// contents the passes produced but the object lacks, or a program without a known attach
/// point, is an internal error (Error).
[[nodiscard]] ir::Result<nlohmann::json> emit_layout(const LayoutInput& in);

}  // namespace polc::backend_bpf
