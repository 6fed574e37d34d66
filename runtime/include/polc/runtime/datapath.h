// Loading `polc compile` output into a lab: `polnode apply`, `detach`, `status`. Objects are
// loaded with libbpf, maps filled from layout.json, and a fixed dispatcher on every pod
// interface switches all of them to a new policy generation with one map write (atomic
// re-apply; docs/runtime.md). Everything is pinned under /sys/fs/bpf/polnode/<lab>/ and
// recorded in /run/polnode/<lab>/datapath.json, so each command is a separate process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "polc/runtime/lab.h"
#include "polc/runtime/result.h"

namespace polc::runtime {

/// Where the datapath of a lab is pinned.
[[nodiscard]] std::string datapath_pin_dir(const std::string& lab);

/// One node's loaded policy.
struct NodeDatapath {
  std::string node;
  uint32_t slot = 0;           ///< generation slot (0 or 1) holding this node's programs
  uint32_t epoch = 0;          ///< policy epoch of the loaded layout (conntrack re-judges older ones)
  std::string object;          ///< the object file it came from
  std::string layout;          ///< saved copy of its layout.json (names for status and flows)
  uint32_t prog_from_pod = 0;  ///< kernel program ids of the compiled programs
  uint32_t prog_to_pod = 0;
};

/// What is applied to a lab (datapath.json).
struct DatapathState {
  std::string lab;
  uint32_t active = 2;      ///< the generation word: 0/1 a slot, 2 open (no policy)
  uint64_t generation = 0;  ///< number of successful applies
  std::string out_dir;      ///< the applied `polc compile` output
  std::string applied_at;   ///< UTC, ISO 8601
  std::vector<NodeDatapath> nodes;
};
[[nodiscard]] Result<DatapathState> load_datapath_state(const std::string& lab);

struct ApplyReport {
  uint64_t generation = 0;
  size_t interfaces = 0;    ///< pod interfaces carrying the dispatchers
  size_t attached_now = 0;  ///< of those, attached by this apply
  double millis = 0;        ///< from start to the switch
  std::vector<std::string> nodes;
};

/// Loads OUT (index.json with a directory per node, or one node's layout.json) into every node
/// of the lab and switches to it atomically. Checks first that OUT was compiled for this lab
/// (same nodes, same pods and IPs per node). On any failure the previous policy (or none)
/// stays in force, nothing new is left behind, and the error says why.
[[nodiscard]] Result<ApplyReport> datapath_apply(const LabState& lab, const std::string& out_dir);

/// Switches every interface to "no policy", removes the dispatchers and clsact qdiscs from the
/// pod interfaces, and unpins everything: nothing of the datapath is left. Idempotent.
Status datapath_detach(const LabState& lab);

struct RuleCount {
  uint32_t rule = 0;
  std::string policy;  ///< "NetworkPolicy default/allow-dns"
  std::string path;    ///< "spec.ingress[0]"
  std::string origin;  ///< file:line:col
  std::string summary;
  uint64_t packets = 0;
  uint64_t bytes = 0;
};
struct ReasonCount {
  std::string reason;  ///< e.g. "policy-deny", "ct-established"
  bool dropped = false;
  uint64_t packets = 0;
  uint64_t bytes = 0;
};
struct NodeDatapathStatus {
  NodeDatapath dp;
  std::vector<RuleCount> rules;      ///< every rule of the active layout, by id
  std::vector<ReasonCount> reasons;  ///< packets per verdict reason (cumulative across applies)
};
/// Counters of the active generation, read from the pinned maps.
[[nodiscard]] Result<std::vector<NodeDatapathStatus>> datapath_status(const LabState& lab);

/// Display name of a verdict reason (polc_reason).
[[nodiscard]] const char* reason_name(uint32_t reason);

}  // namespace polc::runtime
