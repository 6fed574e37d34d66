// The values the backend passes hand each other: map contents as raw bytes of the abi.h
// structs (BuildIpcache, BuildPolicyMaps), and the per-node tables that give their ids meaning.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "polc/backend_bpf/abi.h"
#include "polc/ir/model.h"

namespace polc::backend_bpf {

/// One key/value pair, as the bytes the kernel stores.
struct MapEntry {
  std::vector<uint8_t> key;
  std::vector<uint8_t> value;
};

/// Array indexes first..last (inclusive) all holding `value` (for large arrays).
struct MapRange {
  uint32_t first = 0;
  uint32_t last = 0;
  std::vector<uint8_t> value;
};

/// The initial contents of one map of the datapath.
struct MapContents {
  std::string name;               ///< the map's name in the object, e.g. "polc_policy"
  std::vector<MapEntry> entries;  ///< sorted by key bytes for hash maps, by index for arrays
  std::vector<MapRange> ranges;   ///< arrays only: runs of equal values
  uint64_t used = 0;              ///< entries the policy needs (arrays: highest index + 1)
  bool runtime_owned = false;     ///< filled by the datapath or the runtime (conntrack, events)

  template <typename K, typename V>
  void add(const K& key, const V& value) {
    static_assert(std::is_trivially_copyable_v<K> && std::is_trivially_copyable_v<V>);
    MapEntry e;
    e.key.resize(sizeof(K));
    e.value.resize(sizeof(V));
    std::memcpy(e.key.data(), &key, sizeof(K));
    std::memcpy(e.value.data(), &value, sizeof(V));
    entries.push_back(std::move(e));
  }
  template <typename V>
  void add_range(uint32_t first, uint32_t last, const V& value) {
    static_assert(std::is_trivially_copyable_v<V>);
    MapRange r{first, last, std::vector<uint8_t>(sizeof(V))};
    std::memcpy(r.value.data(), &value, sizeof(V));
    ranges.push_back(std::move(r));
  }
};

/// The node a set of maps is for.
struct NodeTarget {
  ir::NodeId node;
  std::string name;
  ir::Ipv4 ip;
};

/// Output of BuildIpcache: every pod and node /32 (hash) and every other prefix (LPM trie).
struct IpcacheMaps {
  MapContents host;                 ///< polc_ipcache
  MapContents lpm;                  ///< polc_ipcache_lpm
  uint32_t node_class = POLC_NONE;  ///< the class of the target node's own address
};

/// Output of BuildPolicyMaps: the node's pods, contexts, port functions and verdicts.
struct PolicyMaps {
  MapContents config;        ///< polc_config
  MapContents endpoints;     ///< polc_endpoints
  MapContents contexts;      ///< polc_contexts
  MapContents policy;        ///< polc_policy
  MapContents functions;     ///< polc_functions
  MapContents port_classes;  ///< polc_port_classes
  MapContents verdicts;      ///< polc_verdicts
  /// Local context id -> the tables' context id; local function id -> the tables' function id.
  std::vector<uint32_t> context_ids;
  std::vector<uint32_t> function_ids;
  /// Port classes per bucket (for the report): number of elementary intervals.
  std::array<uint32_t, POLC_BUCKETS> port_class_count{};
  std::vector<ir::EndpointId> local_endpoints;  ///< the node's policy-managed pods, in id order
  uint32_t epoch = 0;
};

}  // namespace polc::backend_bpf
