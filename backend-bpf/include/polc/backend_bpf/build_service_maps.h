// BuildServiceMaps: the cluster's Services as the load balancer's maps (datapath/lb.h): every
// service address (ClusterIP:port, and each node IP:nodePort) -> a slice of backend slots in
// which each backend appears in proportion to its weight. Cluster-wide except for the
// "local backend" flag, which is per node.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "polc/backend_bpf/map_contents.h"

namespace polc::backend_bpf {

/// Output of BuildServiceMaps.
struct ServiceMaps {
  MapContents services;  ///< polc_services
  MapContents backends;  ///< polc_lb_backends
  MapContents filter;    ///< polc_svc_filter: a bit for every key of polc_services
  nlohmann::json table;  ///< layout.json tables.services: one object per service port (id order)
};

/// The most slots one service port gets when its backends' weights need more (weights are then
/// rounded to multiples of 1/kMaxServiceSlots).
inline constexpr uint32_t kMaxServiceSlots = 1024;

/// Lowers `m.services` for `node`: ClusterIP, NodePort and LoadBalancer services with a cluster
/// IP; TCP and UDP ports (SCTP is not translated); backends are the pods the selector matches
/// whose targetPort resolves (named ports per pod). Weights: with a `polc.dev/weights`
/// annotation, each subset's weight is shared equally by the port's backends in that subset
/// (the first subset a pod matches) and pods in no subset get none; without it every backend
/// weighs the same. Deterministic; never fails (capacity is checked by PlanCapacity).
[[nodiscard]] ServiceMaps build_service_maps(const ir::Model& m, const NodeTarget& node);

/// Slot counts proportional to `weights` (exact when the reduced weights sum to at most
/// `max_slots`; otherwise largest remainders over max_slots slots, and every nonzero weight
/// keeps at least one slot). All zero -> all zero.
[[nodiscard]] std::vector<uint32_t> apportion_slots(const std::vector<uint64_t>& weights, uint32_t max_slots);

}  // namespace polc::backend_bpf
