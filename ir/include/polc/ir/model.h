// The IR: the normalized, kind-independent meaning of a cluster inventory plus its policies.
// The frontend fills a Model; finalize_model() derives identities, IPs and indexes; after that
// the Model is immutable and every later stage takes it by const reference.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "polc/ir/diagnostic.h"
#include "polc/ir/labels.h"
#include "polc/ir/net.h"
#include "polc/ir/regex.h"
#include "polc/ir/source.h"

namespace polc::ir {

/// A typed index into one of the Model's vectors.
template <typename Tag>
struct Id {
  static constexpr uint32_t kInvalid = std::numeric_limits<uint32_t>::max();
  uint32_t v = kInvalid;
  constexpr Id() = default;
  constexpr explicit Id(uint32_t x) : v(x) {}
  [[nodiscard]] constexpr bool valid() const { return v != kInvalid; }
  friend constexpr auto operator<=>(const Id&, const Id&) = default;
};
using NamespaceId = Id<struct NamespaceTag>;
using NodeId = Id<struct NodeTag>;
using EndpointId = Id<struct EndpointTag>;
using IdentityId = Id<struct IdentityTag>;
using ServiceId = Id<struct ServiceTag>;
using PolicyId = Id<struct PolicyTag>;
using RuleId = Id<struct RuleTag>;

// ---------------------------------------------------------------------------------------------
// Inventory

struct Namespace {
  NamespaceId id;
  std::string name;
  Labels labels;          ///< always includes kubernetes.io/metadata.name
  bool declared = false;  ///< false when synthesized because something lives in it
  SourceLoc loc;
};

struct Node {
  NodeId id;
  std::string name;
  Ipv4 ip;
  Labels labels;
  bool synthetic = false;  ///< true for the default node made when the inventory has none
  SourceLoc loc;
};

struct ContainerPort {
  std::string name;  ///< empty when unnamed
  uint16_t port = 0;
  uint8_t proto = 6;
  friend auto operator<=>(const ContainerPort&, const ContainerPort&) = default;
};

/// A pod: a concrete Pod object, or one replica of a workload's pod template.
struct Endpoint {
  EndpointId id;
  NamespaceId ns;
  std::string name;           ///< pod name (synthesized for workload replicas: frontend-0, ...)
  std::string workload_kind;  ///< "Deployment", ... ; empty for bare pods
  std::string workload;       ///< workload name; for bare pods the pod name
  int replica = 0;
  Labels labels;
  Ipv4 ip;
  bool ip_synthetic = false;
  NodeId node;
  std::string node_name;      ///< as written (spec.nodeName); resolved to `node` by finalize
  bool host_network = false;  ///< shares the node's IP; never selected by policies
  std::vector<ContainerPort> ports;
  IdentityId identity;
  SourceLoc loc;
};

/// Endpoints with equal namespace and labels share an identity (as in Cilium).
struct Identity {
  IdentityId id;
  NamespaceId ns;
  Labels labels;
  std::vector<EndpointId> endpoints;  ///< sorted
};

enum class ServiceType { ClusterIP, NodePort, LoadBalancer, ExternalName };
[[nodiscard]] const char* service_type_name(ServiceType t);

struct ServicePort {
  std::string name;
  uint8_t proto = 6;
  uint16_t port = 0;
  std::variant<uint16_t, std::string> target;  ///< number, or a container port name
  uint16_t node_port = 0;                      ///< 0 when none
  SourceLoc loc;
};

/// A weighted subset of a service's backends (`polc.dev/weights: "version=v1:80,version=v2:20"`).
struct BackendWeight {
  Labels subset;
  uint32_t weight = 0;
};

struct Service {
  ServiceId id;
  NamespaceId ns;
  std::string name;
  ServiceType type = ServiceType::ClusterIP;
  std::optional<Ipv4> cluster_ip;  ///< none for headless services
  bool ip_synthetic = false;
  bool has_selector = false;
  Labels selector;
  std::vector<ServicePort> ports;
  std::vector<BackendWeight> weights;
  SourceLoc loc;
};

// ---------------------------------------------------------------------------------------------
// Policy

enum class Direction : uint8_t { Ingress = 0, Egress = 1 };
[[nodiscard]] const char* direction_name(Direction d);

enum class Action : uint8_t { Allow, Deny, Pass };
[[nodiscard]] const char* action_name(Action a);

enum class Entity : uint8_t {
  All,            ///< everything
  World,          ///< IPs outside the cluster (not pods, not nodes)
  Cluster,        ///< pods and nodes of the cluster
  Host,           ///< the node the selected endpoint runs on
  RemoteNode,     ///< every other node
  KubeApiserver,  ///< the API server's addresses (ClusterConfig::apiserver_ips)
  Init,           ///< endpoints without identity yet (none in a static model)
  Health,         ///< Cilium health endpoints (none in a static model)
  Unmanaged,      ///< pods not managed by the CNI (none in a static model)
  Ingress,        ///< Cilium's ingress proxy (none in a static model)
};
[[nodiscard]] const char* entity_name(Entity e);
[[nodiscard]] std::optional<Entity> parse_entity(std::string_view s);

/// Pods chosen by labels.
struct PeerEndpoints {
  EndpointSelector sel;
  friend auto operator<=>(const PeerEndpoints&, const PeerEndpoints&) = default;
};
/// An IP block with exceptions.
struct PeerCidr {
  Cidr cidr;
  std::vector<Cidr> except;
  /// Kubernetes ipBlock also matches pod and node IPs inside it; Cilium CIDR rules match only
  /// addresses outside the cluster (world).
  bool matches_cluster = true;
  friend auto operator<=>(const PeerCidr&, const PeerCidr&) = default;
  [[nodiscard]] bool contains(Ipv4 ip) const;
};
struct PeerEntity {
  Entity entity = Entity::All;
  friend auto operator<=>(const PeerEntity&, const PeerEntity&) = default;
};
/// A peer that cannot be resolved statically (toFQDNs, toServices, ...): matches nothing.
struct PeerUnresolved {
  std::string what;  ///< e.g. "toFQDNs matchName: api.example.com"
  friend auto operator<=>(const PeerUnresolved&, const PeerUnresolved&) = default;
};

struct Peer {
  std::variant<PeerEndpoints, PeerCidr, PeerEntity, PeerUnresolved> v;
  SourceLoc loc;
  [[nodiscard]] std::string str() const;
};

/// One port condition. With `named` set, the port is resolved per destination pod.
struct PortMatch {
  ProtoSet protos = ProtoSet::all();
  PortRange range;    ///< ignored when `named` is set
  std::string named;  ///< named port, resolved against the destination pod's container ports
  SourceLoc loc;
  [[nodiscard]] std::string str() const;
};

struct HeaderMatch {
  std::string name;                  ///< lower-cased header name
  std::optional<std::string> value;  ///< exact value; none = presence only
};

/// One `rules.http` entry: every present field must match (fields are AND, entries are OR).
struct HttpMatch {
  std::optional<Regex> method;
  std::optional<Regex> path;
  std::optional<Regex> host;
  std::vector<HeaderMatch> headers;
  SourceLoc loc;
  [[nodiscard]] std::string str() const;
};

/// Ports (OR) sharing one optional L7 rule set. Empty `ports` = every port and protocol.
struct PortGroup {
  std::vector<PortMatch> ports;
  std::vector<HttpMatch> http;  ///< empty = no L7 restriction
  SourceLoc loc;
  [[nodiscard]] bool has_l7() const { return !http.empty(); }
};

struct Rule {
  RuleId id;
  PolicyId policy;
  Direction dir = Direction::Ingress;
  Action action = Action::Allow;
  std::vector<Peer> peers;       ///< OR; empty matches no peer
  std::vector<PortGroup> ports;  ///< OR; empty = every port and protocol
  int index = 0;                 ///< position in its source list
  std::string path;              ///< source path, e.g. "spec.ingress[0]"
  SourceLoc loc;
};

enum class PolicyKind : uint8_t { NetworkPolicy, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy };
[[nodiscard]] const char* policy_kind_name(PolicyKind k);

struct Policy {
  PolicyId id;
  PolicyKind kind = PolicyKind::NetworkPolicy;
  std::string name;
  std::string ns_name;  ///< empty for cluster-wide policies
  NamespaceId ns;       ///< invalid for cluster-wide policies
  int spec_index = -1;  ///< index in a Cilium `specs:` list, -1 for `spec:`
  EndpointSelector subject;
  SourceLoc subject_loc;
  /// Whether the policy puts the endpoints it selects into default deny, per direction.
  std::array<bool, 2> isolates{false, false};
  std::array<SourceLoc, 2> isolation_loc{};
  std::vector<RuleId> rules;
  /// Ordered policies (AdminNetworkPolicy, Calico tiers) carry a tier; none = the unordered
  /// NetworkPolicy/Cilium layer where deny beats allow and allows add up.
  std::optional<int> tier;
  int order = 0;  ///< precedence within a tier (lower first)
  std::map<std::string, std::string> annotations;
  SourceLoc loc;
  /// "NetworkPolicy default/allow-dns" (plus "[spec 2]" for specs lists).
  [[nodiscard]] std::string display() const;
};

// ---------------------------------------------------------------------------------------------
// The whole model

struct ClusterConfig {
  Cidr pod_cidr{Ipv4{(10u << 24) | (10u << 16)}, 16};                  ///< 10.10.0.0/16
  Cidr service_cidr{Ipv4{(10u << 24) | (96u << 16)}, 12};              ///< 10.96.0.0/12
  Cidr node_cidr{Ipv4{(192u << 24) | (168u << 16) | (65u << 8)}, 24};  ///< 192.168.65.0/24
  std::vector<Ipv4> apiserver_ips;
  /// Ingress from the pod's own node (kubelet probes) is always allowed (Kubernetes docs;
  /// Cilium's allow-localhost default).
  bool allow_from_own_node = true;
};

class Model {
 public:
  std::vector<Namespace> namespaces;
  std::vector<Node> nodes;
  std::vector<Endpoint> endpoints;
  std::vector<Identity> identities;
  std::vector<Service> services;
  std::vector<Policy> policies;
  std::vector<Rule> rules;
  ClusterConfig config;
  SourceManager sources;

  [[nodiscard]] const Namespace& ns(NamespaceId id) const { return namespaces[id.v]; }
  [[nodiscard]] const Node& node(NodeId id) const { return nodes[id.v]; }
  [[nodiscard]] const Endpoint& endpoint(EndpointId id) const { return endpoints[id.v]; }
  [[nodiscard]] const Identity& identity(IdentityId id) const { return identities[id.v]; }
  [[nodiscard]] const Service& service(ServiceId id) const { return services[id.v]; }
  [[nodiscard]] const Policy& policy(PolicyId id) const { return policies[id.v]; }
  [[nodiscard]] const Rule& rule(RuleId id) const { return rules[id.v]; }
  [[nodiscard]] const Labels& ns_labels(const Endpoint& e) const { return namespaces[e.ns.v].labels; }

  [[nodiscard]] std::optional<NamespaceId> find_namespace(std::string_view name) const;
  [[nodiscard]] std::optional<EndpointId> find_endpoint(std::string_view ns, std::string_view name) const;
  [[nodiscard]] std::optional<EndpointId> endpoint_by_ip(Ipv4 ip) const;  ///< non-host-network pods
  [[nodiscard]] std::optional<NodeId> node_by_ip(Ipv4 ip) const;
  [[nodiscard]] std::optional<ServiceId> find_service(std::string_view ns, std::string_view name) const;
  /// "ns/name" of an endpoint.
  [[nodiscard]] std::string endpoint_name(EndpointId id) const;
  /// Policies whose subject selects the endpoint (never for host-network pods). Sorted.
  [[nodiscard]] const std::vector<PolicyId>& policies_selecting(EndpointId id) const;
  /// Backends of a service: endpoints in its namespace matching its selector. Sorted.
  [[nodiscard]] std::vector<EndpointId> service_backends(ServiceId id) const;
  /// The target port of `sp` on backend `e` (resolves named targetPorts); none if unresolvable.
  [[nodiscard]] std::optional<uint16_t> target_port(const ServicePort& sp, const Endpoint& e) const;

  // Derived indexes, filled by finalize_model().
  std::map<std::string, NamespaceId, std::less<>> ns_index;
  std::map<std::pair<std::string, std::string>, EndpointId> endpoint_index;
  std::map<Ipv4, EndpointId> ip_index;
  std::map<Ipv4, NodeId> node_ip_index;
  std::vector<std::vector<PolicyId>> selecting;  ///< per endpoint
};

/// Derives everything the frontend did not fill: namespaces for names only referenced,
/// the kubernetes.io/metadata.name label, a default node, synthetic pod/service IPs (stable per
/// name), node placement, identities, indexes and policy selection. Reports conflicts
/// (duplicate IPs) as diagnostics. Call once, after the frontend and before any analysis.
void finalize_model(Model& m, DiagnosticEngine& diags);

/// Stable FNV-1a hash used for synthetic addresses and placement.
[[nodiscard]] uint64_t stable_hash(std::string_view s);

}  // namespace polc::ir
