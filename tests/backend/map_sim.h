// A C++ model of the datapath's lookups over the map contents the passes produce: what
// polc_judge() and polc_peer_lookup() compute, without a kernel. The kernel tests check that
// the real programs compute the same.
#pragma once

#include <arpa/inet.h>

#include <cstring>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "polc/backend_bpf/abi.h"
#include "polc/backend_bpf/map_contents.h"

namespace polc::backend_bpf::testing {

template <typename T>
T as(const std::vector<uint8_t>& b) {
  T v;
  EXPECT_EQ(b.size(), sizeof(T));
  std::memcpy(&v, b.data(), sizeof(T));
  return v;
}

struct MapSim {
  std::map<uint32_t, polc_ipcache_entry> ipcache;  // by address (network order)
  std::vector<std::pair<polc_lpm_key, polc_ipcache_entry>> lpm;
  std::map<uint32_t, polc_context> contexts;
  std::map<std::tuple<uint32_t, uint32_t, uint8_t>, uint32_t> policy;
  std::map<uint32_t, polc_function> functions;
  std::vector<uint32_t> port_classes = std::vector<uint32_t>(POLC_PORT_INDEX_SIZE, 0xdeadbeef);
  std::map<std::tuple<uint32_t, uint32_t, uint8_t>, polc_verdict> verdicts;

  MapSim(const IpcacheMaps& ipc, const PolicyMaps& pm) {
    for (const auto& e : ipc.host.entries) ipcache[as<polc_ip_key>(e.key).addr] = as<polc_ipcache_entry>(e.value);
    for (const auto& e : ipc.lpm.entries) lpm.emplace_back(as<polc_lpm_key>(e.key), as<polc_ipcache_entry>(e.value));
    for (const auto& e : pm.contexts.entries) contexts[as<uint32_t>(e.key)] = as<polc_context>(e.value);
    for (const auto& e : pm.policy.entries) {
      auto k = as<polc_policy_key>(e.key);
      policy[{k.context, k.peer_class, k.dir}] = as<polc_policy_entry>(e.value).function;
    }
    for (const auto& e : pm.functions.entries) functions[as<uint32_t>(e.key)] = as<polc_function>(e.value);
    for (const auto& r : pm.port_classes.ranges)
      for (uint32_t i = r.first; i <= r.last; ++i) port_classes.at(i) = as<polc_port_class>(r.value).port_class;
    for (const auto& e : pm.verdicts.entries) {
      auto k = as<polc_verdict_key>(e.key);
      verdicts[{k.function, k.port_class, k.bucket}] = as<polc_verdict>(e.value);
    }
  }

  /// polc_peer_lookup(): the hash first, then the longest prefix. `addr` in host order.
  [[nodiscard]] std::optional<polc_ipcache_entry> peer(uint32_t addr) const {
    uint32_t nbo = htonl(addr);
    if (auto it = ipcache.find(nbo); it != ipcache.end()) return it->second;
    std::optional<polc_ipcache_entry> best;
    int best_len = -1;
    for (const auto& [k, v] : lpm) {
      uint32_t mask = k.prefixlen == 0 ? 0 : ~0u << (32 - k.prefixlen);
      if ((addr & mask) == ntohl(k.addr) && int(k.prefixlen) > best_len) {
        best = v;
        best_len = int(k.prefixlen);
      }
    }
    return best;
  }

  /// polc_judge().
  [[nodiscard]] std::optional<polc_verdict> judge(uint32_t ctx, uint8_t dir, uint32_t cls, uint8_t bucket,
                                                  uint16_t port) const {
    auto c = contexts.find(ctx);
    if (c == contexts.end()) return std::nullopt;
    uint32_t fn = c->second.default_function[dir & 1];
    if (auto p = policy.find({ctx, cls, dir}); p != policy.end()) fn = p->second;
    auto f = functions.find(fn);
    if (f == functions.end()) return std::nullopt;
    uint32_t pc = port_classes.at(polc_port_index(bucket, port));
    if (auto v = verdicts.find({fn, pc, bucket}); v != verdicts.end()) return v->second;
    return f->second.defaults[bucket];
  }
};

}  // namespace polc::backend_bpf::testing
