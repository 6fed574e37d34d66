#include "polc/backend_bpf/build_ipcache.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cassert>
#include <map>

namespace polc::backend_bpf {

IpcacheMaps build_ipcache(const ir::Model& m, const ir::PolicyTables& t, const NodeTarget& node) {
  IpcacheMaps out;
  out.host.name = "polc_ipcache";
  out.lpm.name = "polc_ipcache_lpm";
  std::map<uint32_t, polc_ipcache_entry> host;                     // by address (host order)
  std::map<std::pair<uint32_t, uint8_t>, polc_ipcache_entry> lpm;  // by (address, length)
  for (const auto& c : t.classes) {
    for (const auto& p : c.prefixes) {
      polc_ipcache_entry e{};
      e.addr_class = c.id;
      if (c.kind == ir::AddrClass::Kind::World) {
        // A world /32 equal to a pod or node address is shadowed by the hash, as in the tables.
        lpm.emplace(std::make_pair(p.addr.value, p.len), e);
        continue;
      }
      assert(p.len == 32 && "pod and node classes hold /32s only");
      if (c.kind == ir::AddrClass::Kind::Node && c.node == node.node) {
        e.flags |= POLC_IPC_LOCAL_NODE;
        out.node_class = c.id;
      }
      auto [it, fresh] = host.emplace(p.addr.value, e);
      assert(fresh && "two classes claim one address");
      (void)it;
      (void)fresh;
    }
  }
  for (const auto& [addr, e] : host) {
    polc_ip_key k{};
    k.addr = htonl(addr);
    out.host.add(k, e);
  }
  for (const auto& [p, e] : lpm) {
    polc_lpm_key k{};
    k.prefixlen = p.second;
    k.addr = htonl(p.first);
    out.lpm.add(k, e);
  }
  out.host.used = out.host.entries.size();
  out.lpm.used = out.lpm.entries.size();
  return out;
}

}  // namespace polc::backend_bpf
