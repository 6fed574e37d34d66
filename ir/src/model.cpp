#include "polc/ir/model.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace polc::ir {

const char* service_type_name(ServiceType t) {
  switch (t) {
    case ServiceType::ClusterIP: return "ClusterIP";
    case ServiceType::NodePort: return "NodePort";
    case ServiceType::LoadBalancer: return "LoadBalancer";
    case ServiceType::ExternalName: return "ExternalName";
  }
  return "?";
}

const char* direction_name(Direction d) {
  return d == Direction::Ingress ? "ingress" : "egress";
}

const char* action_name(Action a) {
  switch (a) {
    case Action::Allow: return "allow";
    case Action::Deny: return "deny";
    case Action::Pass: return "pass";
  }
  return "?";
}

const char* entity_name(Entity e) {
  switch (e) {
    case Entity::All: return "all";
    case Entity::World: return "world";
    case Entity::Cluster: return "cluster";
    case Entity::Host: return "host";
    case Entity::RemoteNode: return "remote-node";
    case Entity::KubeApiserver: return "kube-apiserver";
    case Entity::Init: return "init";
    case Entity::Health: return "health";
    case Entity::Unmanaged: return "unmanaged";
    case Entity::Ingress: return "ingress";
  }
  return "?";
}

std::optional<Entity> parse_entity(std::string_view s) {
  static const std::pair<const char*, Entity> table[] = {
      {"all", Entity::All},
      {"world", Entity::World},
      {"world-ipv4", Entity::World},
      {"cluster", Entity::Cluster},
      {"host", Entity::Host},
      {"remote-node", Entity::RemoteNode},
      {"kube-apiserver", Entity::KubeApiserver},
      {"init", Entity::Init},
      {"health", Entity::Health},
      {"unmanaged", Entity::Unmanaged},
      {"ingress", Entity::Ingress},
  };
  for (const auto& [n, e] : table)
    if (s == n) return e;
  return std::nullopt;
}

const char* policy_kind_name(PolicyKind k) {
  switch (k) {
    case PolicyKind::NetworkPolicy: return "NetworkPolicy";
    case PolicyKind::CiliumNetworkPolicy: return "CiliumNetworkPolicy";
    case PolicyKind::CiliumClusterwideNetworkPolicy: return "CiliumClusterwideNetworkPolicy";
  }
  return "?";
}

bool PeerCidr::contains(Ipv4 ip) const {
  if (!cidr.contains(ip)) return false;
  for (const auto& e : except)
    if (e.contains(ip)) return false;
  return true;
}

std::string Peer::str() const {
  struct V {
    std::string operator()(const PeerEndpoints& p) const { return p.sel.str(); }
    std::string operator()(const PeerCidr& p) const {
      std::string s = "cidr " + p.cidr.str();
      if (!p.except.empty()) {
        s += " except ";
        for (size_t i = 0; i < p.except.size(); ++i) s += (i ? "," : "") + p.except[i].str();
      }
      return s;
    }
    std::string operator()(const PeerEntity& p) const { return std::string("entity ") + entity_name(p.entity); }
    std::string operator()(const PeerUnresolved& p) const { return "unresolved " + p.what; }
  };
  return std::visit(V{}, v);
}

std::string PortMatch::str() const {
  std::string p = named.empty() ? range.str() : named;
  return p + "/" + protos.str();
}

std::string HttpMatch::str() const {
  std::string s;
  auto add = [&](const char* k, const std::optional<Regex>& r) {
    if (!r) return;
    if (!s.empty()) s += ' ';
    s += k;
    s += '=';
    s += r->source;
  };
  add("method", method);
  add("path", path);
  add("host", host);
  for (const auto& h : headers) {
    if (!s.empty()) s += ' ';
    s += "header=" + h.name + (h.value ? ":" + *h.value : "");
  }
  return s.empty() ? "any request" : s;
}

std::string Policy::display() const {
  std::string s = policy_kind_name(kind);
  s += ' ';
  if (!ns_name.empty()) s += ns_name + '/';
  s += name;
  if (spec_index >= 0) s += " [specs " + std::to_string(spec_index) + "]";
  return s;
}

uint64_t stable_hash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::optional<NamespaceId> Model::find_namespace(std::string_view name) const {
  auto it = ns_index.find(name);
  if (it == ns_index.end()) return std::nullopt;
  return it->second;
}

std::optional<EndpointId> Model::find_endpoint(std::string_view ns, std::string_view name) const {
  auto it = endpoint_index.find({std::string(ns), std::string(name)});
  if (it == endpoint_index.end()) return std::nullopt;
  return it->second;
}

std::optional<EndpointId> Model::endpoint_by_ip(Ipv4 ip) const {
  auto it = ip_index.find(ip);
  if (it == ip_index.end()) return std::nullopt;
  return it->second;
}

std::optional<NodeId> Model::node_by_ip(Ipv4 ip) const {
  auto it = node_ip_index.find(ip);
  if (it == node_ip_index.end()) return std::nullopt;
  return it->second;
}

std::optional<ServiceId> Model::find_service(std::string_view ns, std::string_view name) const {
  for (const auto& s : services)
    if (s.name == name && namespaces[s.ns.v].name == ns) return s.id;
  return std::nullopt;
}

std::string Model::endpoint_name(EndpointId id) const {
  const Endpoint& e = endpoints[id.v];
  return namespaces[e.ns.v].name + "/" + e.name;
}

const std::vector<PolicyId>& Model::policies_selecting(EndpointId id) const {
  return selecting[id.v];
}

std::vector<EndpointId> Model::service_backends(ServiceId id) const {
  const Service& s = services[id.v];
  std::vector<EndpointId> out;
  if (!s.has_selector) return out;
  LabelSelector sel;
  for (const auto& [k, v] : s.selector) sel.add(Requirement{k, SelectorOp::In, {v}});
  for (const auto& e : endpoints)
    if (e.ns == s.ns && sel.matches(e.labels)) out.push_back(e.id);
  return out;
}

std::optional<uint16_t> Model::target_port(const ServicePort& sp, const Endpoint& e) const {
  if (const auto* n = std::get_if<uint16_t>(&sp.target)) return *n;
  const auto& name = std::get<std::string>(sp.target);
  for (const auto& cp : e.ports)
    if (cp.name == name && cp.proto == sp.proto) return cp.port;
  return std::nullopt;
}

namespace {

NamespaceId ensure_namespace(Model& m, const std::string& name) {
  if (auto id = m.find_namespace(name)) return *id;
  Namespace ns;
  ns.id = NamespaceId(static_cast<uint32_t>(m.namespaces.size()));
  ns.name = name;
  ns.declared = false;
  m.namespaces.push_back(ns);
  m.ns_index[name] = ns.id;
  return ns.id;
}

bool reserved_host(uint32_t ip) {
  uint32_t last = ip & 255;
  return last == 0 || last == 255;
}

/// Picks an address for `key` inside `cidr`, stable under unrelated additions, avoiding `used`.
Ipv4 pick_address(const Cidr& cidr, std::string_view key, std::set<uint32_t>& used,
                  const std::set<uint32_t>& reserved) {
  uint64_t size = uint64_t(1) << (32 - cidr.len);
  uint64_t h = stable_hash(key);
  for (uint64_t probe = 0; probe < size; ++probe) {
    uint32_t ip = cidr.first() + static_cast<uint32_t>((h + probe) % size);
    if (reserved_host(ip) || used.count(ip) || reserved.count(ip)) continue;
    used.insert(ip);
    return Ipv4{ip};
  }
  return Ipv4{cidr.first()};  // pool exhausted: degenerate but deterministic
}

}  // namespace

void finalize_model(Model& m, DiagnosticEngine& diags) {
  // Namespaces: index declared ones, synthesize the rest, label each with its own name.
  m.ns_index.clear();
  for (auto& ns : m.namespaces) m.ns_index[ns.name] = ns.id;
  for (auto& e : m.endpoints)
    if (!e.ns.valid()) e.ns = ensure_namespace(m, "default");
  for (auto& p : m.policies)
    if (!p.ns_name.empty()) p.ns = ensure_namespace(m, p.ns_name);
  for (auto& ns : m.namespaces) ns.labels[kNamespaceNameLabel] = ns.name;

  // Nodes: named by pods, or one default node.
  std::set<uint32_t> node_used;
  for (const auto& n : m.nodes) node_used.insert(n.ip.value);
  auto find_node = [&](const std::string& name) -> std::optional<NodeId> {
    for (const auto& n : m.nodes)
      if (n.name == name) return n.id;
    return std::nullopt;
  };
  auto add_node = [&](const std::string& name) {
    Node n;
    n.id = NodeId(static_cast<uint32_t>(m.nodes.size()));
    n.name = name;
    n.synthetic = true;
    n.labels["kubernetes.io/hostname"] = name;
    // Node IPs: .2, .3, ... in node order (stable for a given set of node names).
    uint32_t ip = m.config.node_cidr.first() + 2;
    while (node_used.count(ip)) ++ip;
    node_used.insert(ip);
    n.ip = Ipv4{ip};
    m.nodes.push_back(n);
    return n.id;
  };
  {
    std::set<std::string> named;
    for (const auto& e : m.endpoints)
      if (!e.node_name.empty() && !find_node(e.node_name)) named.insert(e.node_name);
    for (const auto& n : named) add_node(n);
    if (m.nodes.empty()) add_node("node-1");
  }
  for (auto& e : m.endpoints) {
    if (!e.node_name.empty()) {
      e.node = *find_node(e.node_name);
    } else {
      e.node =
          NodeId(static_cast<uint32_t>(stable_hash(m.namespaces[e.ns.v].name + "/" + e.workload) % m.nodes.size()));
      if (!e.workload_kind.empty())  // spread replicas of a workload across nodes
        e.node = NodeId(static_cast<uint32_t>((e.node.v + e.replica) % m.nodes.size()));
      e.node_name = m.nodes[e.node.v].name;
    }
  }
  m.node_ip_index.clear();
  for (const auto& n : m.nodes) {
    auto [it, fresh] = m.node_ip_index.emplace(n.ip, n.id);
    if (!fresh)
      diags.report(
          DiagId::IpConflict, n.loc,
          "node '" + n.name + "' has IP " + n.ip.str() + ", already used by node '" + m.nodes[it->second.v].name + "'");
  }

  // Pod IPs: declared first, then synthetic ones in name order (deterministic).
  std::set<uint32_t> used;
  std::set<uint32_t> reserved{m.config.pod_cidr.first() + 1};  // the pod network gateway
  m.ip_index.clear();
  for (auto& e : m.endpoints) {
    if (e.host_network) {
      e.ip = m.nodes[e.node.v].ip;
      e.ip_synthetic = false;
      continue;
    }
    if (e.ip_synthetic || e.ip.value == 0) continue;
    if (m.node_ip_index.count(e.ip)) {
      diags.report(DiagId::IpConflict, e.loc,
                   "pod '" + m.endpoint_name(e.id) + "' has IP " + e.ip.str() + ", which is a node's IP");
      continue;
    }
    auto [it, fresh] = m.ip_index.emplace(e.ip, e.id);
    if (!fresh)
      diags.report(DiagId::IpConflict, e.loc,
                   "pod '" + m.endpoint_name(e.id) + "' has IP " + e.ip.str() + ", already used by pod '" +
                       m.endpoint_name(it->second) + "'");
    used.insert(e.ip.value);
  }
  std::vector<EndpointId> synth;
  for (auto& e : m.endpoints)
    if (!e.host_network && (e.ip_synthetic || e.ip.value == 0)) synth.push_back(e.id);
  std::sort(synth.begin(), synth.end(),
            [&](EndpointId a, EndpointId b) { return m.endpoint_name(a) < m.endpoint_name(b); });
  for (auto id : synth) {
    Endpoint& e = m.endpoints[id.v];
    e.ip = pick_address(m.config.pod_cidr, m.endpoint_name(id), used, reserved);
    e.ip_synthetic = true;
    m.ip_index[e.ip] = e.id;
  }

  // Service IPs.
  std::set<uint32_t> svc_used;
  std::set<uint32_t> svc_reserved{m.config.service_cidr.first() + 1};
  for (const auto& s : m.services)
    if (s.cluster_ip && !s.ip_synthetic) svc_used.insert(s.cluster_ip->value);
  for (auto& s : m.services)
    if (s.ip_synthetic)
      s.cluster_ip =
          pick_address(m.config.service_cidr, m.namespaces[s.ns.v].name + "/" + s.name, svc_used, svc_reserved);

  // Identities: endpoints with equal namespace and labels (host-network pods have none).
  m.identities.clear();
  std::map<std::pair<std::string, Labels>, std::vector<EndpointId>> groups;
  for (const auto& e : m.endpoints)
    if (!e.host_network) groups[{m.namespaces[e.ns.v].name, e.labels}].push_back(e.id);
  for (auto& [key, eps] : groups) {
    Identity id;
    id.id = IdentityId(static_cast<uint32_t>(m.identities.size()));
    id.ns = *m.find_namespace(key.first);
    id.labels = key.second;
    id.endpoints = eps;
    for (auto ep : eps) m.endpoints[ep.v].identity = id.id;
    m.identities.push_back(std::move(id));
  }

  // Indexes and selection.
  m.endpoint_index.clear();
  for (const auto& e : m.endpoints) m.endpoint_index[{m.namespaces[e.ns.v].name, e.name}] = e.id;
  m.selecting.assign(m.endpoints.size(), {});
  for (const auto& e : m.endpoints) {
    if (e.host_network) continue;
    for (const auto& p : m.policies) {
      if (p.ns.valid() && p.ns != e.ns) continue;
      if (p.subject.matches(m.namespaces[e.ns.v].labels, e.labels)) m.selecting[e.id.v].push_back(p.id);
    }
  }
}

}  // namespace polc::ir
