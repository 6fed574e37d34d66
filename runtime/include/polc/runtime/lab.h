// The lab: a real local cluster made of network namespaces (one per node, one per pod, one for
// the underlay), veth pairs and routes, built from a plain LabSpec (the inventory, converted by
// the polnode main). Its state is persisted under /run/polnode/<lab>/ so that status, exec and
// down work across invocations, and every kernel object carries the lab's name prefix
// (`pl-<lab>-`) so that `down` finds them again after a crash. See docs/runtime.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "polc/runtime/handles.h"
#include "polc/runtime/net.h"
#include "polc/runtime/result.h"

namespace polc::runtime {

// ---------------------------------------------------------------------------------------------
// Input: what the lab should contain (plain data, no dependency on the compiler's IR)

struct LabPort {
  std::string name;  ///< empty when unnamed
  uint16_t port = 0;
  uint8_t proto = 6;  ///< IP protocol number (6 TCP, 17 UDP, 132 SCTP)
};

struct LabNode {
  std::string name;
  Ipv4Addr ip = 0;  ///< the node's underlay address
};

struct LabPod {
  std::string ns;
  std::string name;
  std::string workload;  ///< workload name; for bare pods the pod name
  int replica = 0;
  Ipv4Addr ip = 0;
  std::string node;
  bool host_network = false;  ///< runs in the node's namespace with the node's IP
  std::vector<LabPort> ports;
  [[nodiscard]] std::string full_name() const { return ns + "/" + name; }
};

struct LabBackend {
  std::string pod;  ///< "ns/name"
  Ipv4Addr ip = 0;
  uint16_t target_port = 0;
  uint32_t weight = 1;  ///< relative share of new connections; 0 = out of rotation
};

struct LabServicePort {
  std::string name;
  uint8_t proto = 6;
  uint16_t port = 0;
  uint16_t node_port = 0;  ///< 0 when none
  std::vector<LabBackend> backends;
};

struct LabService {
  std::string ns;
  std::string name;
  std::string type = "ClusterIP";
  std::optional<Ipv4Addr> cluster_ip;  ///< none for headless services
  std::vector<LabServicePort> ports;
};

struct LabSpec {
  std::string name;    ///< the lab's name: [a-z0-9]{1,16}
  std::string source;  ///< where the inventory came from (shown by status)
  std::vector<LabNode> nodes;
  std::vector<LabPod> pods;
  std::vector<LabService> services;
  uint8_t underlay_prefix = 24;  ///< node IPs share this prefix (one L2 segment)
};

// ---------------------------------------------------------------------------------------------
// Naming: every namespace starts with `pl-<lab>-`; interfaces live only inside those namespaces.

inline constexpr const char* kLabStateRoot = "/run/polnode";
/// The pods' default gateway: a link-local address answered by a static neighbour entry that
/// points at the node side of the pod's veth (as Calico does).
inline constexpr Ipv4Addr kPodGateway = (169u << 24) | (254u << 16) | (1u << 8) | 1u;
/// Every node-side pod veth has this MAC; the pod's neighbour entry for kPodGateway names it.
inline constexpr Mac kNodeSideMac{{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}};

/// Fails unless `lab` matches [a-z0-9]{1,16} (no '-', so one lab's prefix never matches another's).
Status validate_lab_name(const std::string& lab);
[[nodiscard]] std::string lab_prefix(const std::string& lab);  ///< "pl-<lab>-"
[[nodiscard]] std::string lab_state_dir(const std::string& lab);
[[nodiscard]] std::string lab_state_path(const std::string& lab);

// ---------------------------------------------------------------------------------------------
// State: what `lab up` built, persisted as JSON

struct LabNodeState {
  LabNode node;
  std::string netns;        ///< pl-<lab>-n-<node>
  std::string underlay_if;  ///< in the node's namespace
};

struct LabPodState {
  LabPod pod;
  std::string netns;       ///< the pod's namespace (the node's, for host-network pods)
  std::string node_netns;  ///< the node's namespace
  std::string host_if;     ///< node side of the pod's veth (where tc programs attach); empty for host-network pods
  std::string pod_if;      ///< pod side, in the pod's namespace ("eth0")
  Mac pod_mac;
};

struct LabState {
  int version = 1;
  LabSpec spec;
  std::string underlay_netns;  ///< pl-<lab>-ul: the bridge joining the nodes
  std::string underlay_bridge;
  std::vector<LabNodeState> nodes;
  std::vector<LabPodState> pods;
  [[nodiscard]] const std::string& name() const { return spec.name; }
  [[nodiscard]] const LabNodeState* find_node(const std::string& name) const;
};

[[nodiscard]] std::string lab_state_to_json(const LabState& s);
[[nodiscard]] Result<LabState> lab_state_from_json(const std::string& text);
/// Reads /run/polnode/<lab>/lab.json.
[[nodiscard]] Result<LabState> load_lab_state(const std::string& lab);
/// Labs with a state directory or leftover namespaces, sorted.
[[nodiscard]] std::vector<std::string> list_labs();

// ---------------------------------------------------------------------------------------------
// Operations

struct LabUpOptions {
  /// Test hooks: after this many created namespaces, fail with an error (RAII rolls back) or
  /// abort the process (simulating a crash: nothing rolls back, `lab down` must clean up).
  int fail_after_netns = -1;
  int crash_after_netns = -1;
};

/// Builds the lab: underlay, nodes, pods, routes; then writes the state file. On any failure
/// everything created so far is removed and the error names the step. Fails if the lab (or any
/// leftover object with its prefix) already exists.
[[nodiscard]] Result<LabState> lab_up(const LabSpec& spec, const LabUpOptions& opt = {});

struct LabDownReport {
  std::vector<std::string> netns_removed;
  std::vector<int> processes_killed;
  std::vector<std::string> paths_removed;
};
/// Removes everything with the lab's prefix: processes left in its namespaces, the namespaces
/// (and with them every interface, route and tc program inside), BPF pins under
/// /sys/fs/bpf/polnode/<lab>, and the state directory. Idempotent; needs no state file.
Status lab_down(const std::string& lab, LabDownReport* report = nullptr);

/// Where `lab exec NAME` runs: a pod ("ns/pod", "pod", or a workload meaning its first replica)
/// or a node (by node name).
struct ExecTarget {
  std::string display;  ///< "default/frontend-0" or "node node-1"
  std::string netns;
  const LabPodState* pod = nullptr;  ///< null for nodes
};
[[nodiscard]] Result<ExecTarget> resolve_exec_target(const LabState& s, const std::string& name);

/// Runs argv inside the target's namespace and waits; returns its exit status (128+signal when
/// killed). The child gets POLNODE_LAB and POLNODE_POD (or POLNODE_NODE) in its environment.
[[nodiscard]] Result<int> lab_exec(const LabState& s, const ExecTarget& target, const std::vector<std::string>& argv);

/// Live facts about a lab, checked against the kernel.
struct LabLiveNode {
  std::string name;
  bool netns_ok = false;
  bool underlay_ok = false;
};
struct LabLivePod {
  std::string name;  ///< ns/pod
  bool netns_ok = false;
  bool host_if_ok = false;
  int host_ifindex = 0;
  std::vector<TcFilterInfo> programs;
};
struct LabLiveStatus {
  bool underlay_ok = false;
  std::vector<LabLiveNode> nodes;
  std::vector<LabLivePod> pods;  ///< in LabState::pods order
  [[nodiscard]] bool healthy() const;
};
[[nodiscard]] LabLiveStatus lab_live_status(const LabState& s);

}  // namespace polc::runtime
