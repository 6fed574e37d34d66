// PlanCapacity: how many entries each datapath map gets (the policy's needs plus headroom, so
// that most policy changes fit the same object), written as the polc_build_config.h the
// datapath is compiled with. CheckCapacity: after compiling, the object's maps and programs
// against kernel limits, before anything is loaded; problems are diagnostics.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "polc/backend_bpf/map_contents.h"
#include "polc/backend_bpf/read_object.h"
#include "polc/ir/diagnostic.h"

namespace polc::backend_bpf {

struct CapacityOptions {
  uint32_t ct_entries = 262144;     ///< polc_ct: tracked connections (both directions count)
  uint32_t frag_entries = 8192;     ///< polc_frags: fragmented datagrams in flight
  uint32_t lb_ct_entries = 65536;   ///< polc_lb_ct: service connections (two entries each)
  uint32_t event_bytes = 1u << 20;  ///< polc_events: ring buffer size (power of two, >= 4096)
};

struct MapPlan {
  std::string name;
  std::string macro;  ///< POLC_CAP_* in polc_build_config.h; empty when fixed by the ABI
  uint64_t used = 0;
  uint64_t max_entries = 0;  ///< 0 when fixed by the ABI (read from the object)
};

struct CapacityPlan {
  std::vector<MapPlan> maps;
  std::string build_config;  ///< polc_build_config.h
};

/// Sizes every map in `maps` (contents from BuildIpcache/BuildPolicyMaps) plus the runtime's
/// maps: max_entries = the next power of two at or above twice the need, at least a floor per
/// map. Never fails; limits are checked by check_capacity.
[[nodiscard]] CapacityPlan plan_capacity(const std::vector<const MapContents*>& maps, uint64_t rule_sets,
                                         const CapacityOptions& opt);

struct CapacityReport {
  struct Map {
    std::string name;
    std::string type;
    uint64_t used = 0;  ///< entries the policy needs (runtime maps: 0)
    uint64_t max_entries = 0;
    uint64_t limit = 0;  ///< the largest max_entries the kernel (or polc) accepts
    uint64_t bytes = 0;  ///< estimated kernel memory (per-CPU maps: per CPU)
    bool ok = true;
  };
  struct Program {
    std::string name;
    uint64_t instructions = 0;  ///< own instructions plus every subprogram
    uint64_t limit = 0;
    bool ok = true;
  };
  std::vector<Map> maps;
  std::vector<Program> programs;
  uint64_t total_bytes = 0;
  [[nodiscard]] bool ok() const;
};

/// Checks the compiled object against its plan and the kernel limits: used entries within
/// max_entries, max_entries within the map type's limit, instructions within the verifier's
/// 1,000,000. Each violation is a capacity-exceeded error naming the node. A map the object and
/// the plan disagree on is an internal error (Error).
[[nodiscard]] ir::Result<CapacityReport> check_capacity(const ObjectInfo& obj, const CapacityPlan& plan,
                                                        const std::string& node, ir::DiagnosticEngine& diags);

/// The report as text (one line per map and program) and as JSON (layout.json "capacity").
[[nodiscard]] std::string render_capacity(const CapacityReport& r, const std::string& node);
[[nodiscard]] nlohmann::json capacity_json(const CapacityReport& r);

}  // namespace polc::backend_bpf
