// BuildIpcache: the address -> class maps (polc_ipcache, polc_ipcache_lpm) for one node, from
// the address classes of ir::resolve_policies().
#pragma once

#include "polc/backend_bpf/map_contents.h"
#include "polc/ir/policy_tables.h"

namespace polc::backend_bpf {

/// Every pod and node /32 goes to the hash, every world prefix (0.0.0.0/0 included) to the
/// trie; the target node's own address carries POLC_IPC_LOCAL_NODE. The hash is consulted
/// first, so /32s of pods and nodes beat any prefix, as PolicyTables::class_of_ip() says.
/// Never fails; entries are sorted by address.
[[nodiscard]] IpcacheMaps build_ipcache(const ir::Model& m, const ir::PolicyTables& t, const NodeTarget& node);

}  // namespace polc::backend_bpf
