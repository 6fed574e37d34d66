// Reads `polc compile` output: OUT/index.json (one directory per node) or a single node's
// OUT/layout.json, and the parts of layout.json the runtime uses (maps with their initial
// contents, programs with their attach points, the id tables for names in status and flows).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "polc/runtime/net.h"
#include "polc/runtime/result.h"

namespace polc::runtime {

struct LayoutMap {
  std::string name;
  std::string type;  ///< "array", "hash", "lpm_trie", "lru_hash", "percpu_array", "ringbuf", ...
  std::string fill;  ///< "entries", "ranges" or "runtime" (filled by the datapath)
  uint32_t max_entries = 0;
  nlohmann::json key;                       ///< type layout (layout_codec.h schema); null for ring buffers
  nlohmann::json value;                     ///< type layout; null for ring buffers
  const nlohmann::json* entries = nullptr;  ///< fill == "entries": [{"key":..,"value":..}]
  const nlohmann::json* ranges = nullptr;   ///< fill == "ranges": [{"first","last","value"}]
};

struct LayoutProgram {
  std::string name;            ///< function name in the object (polc_from_pod, polc_to_pod)
  std::string hook_direction;  ///< tc "ingress" or "egress" of the pod's host-side veth
  std::string target = "pod";  ///< "pod" (each pod's host-side veth) or "underlay" (the node's underlay interface)
};

struct LayoutEndpoint {
  std::string name;  ///< ns/pod
  Ipv4Addr ip = 0;
  std::string node;
  bool host_network = false;
};

/// One node's compiled output.
struct Layout {
  std::string dir;          ///< directory of layout.json
  std::string object_path;  ///< absolute path of the BPF object
  std::string node;
  Ipv4Addr node_ip = 0;
  uint32_t abi_version = 0;
  uint32_t epoch = 0;
  std::vector<LayoutMap> maps;
  std::vector<LayoutProgram> programs;
  std::vector<LayoutEndpoint> endpoints;  ///< tables.endpoints (cluster-wide)
  nlohmann::json doc;                     ///< the whole file (tables for names)
  [[nodiscard]] const LayoutMap* find_map(const std::string& name) const;
};

/// Loads OUT: index.json with per-node directories, or layout.json of a single node.
[[nodiscard]] Result<std::vector<Layout>> load_compiled_output(const std::string& out_dir);
/// Loads one layout.json; with check_object, fails when the object file next to it is missing.
[[nodiscard]] Result<Layout> load_layout(const std::string& path, bool check_object = true);

}  // namespace polc::runtime
