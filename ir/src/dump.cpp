#include "polc/ir/dump.h"

#include <fmt/format.h>

namespace polc::ir {

using nlohmann::json;

json labels_json(const Labels& l) {
  json j = json::object();
  for (const auto& [k, v] : l) j[k] = v;
  return j;
}

namespace {

json selector_json(const LabelSelector& s) {
  if (s.none) return "none";
  return s.str();
}

json port_json(const PortMatch& p) {
  json j;
  j["protocols"] = p.protos.str();
  if (!p.named.empty())
    j["named"] = p.named;
  else
    j["ports"] = p.range.str();
  return j;
}

std::string loc_str(const Model& m, SourceLoc l) {
  return m.sources.format(l);
}

}  // namespace

json peer_json(const Peer& p) {
  json j;
  if (const auto* e = std::get_if<PeerEndpoints>(&p.v)) {
    j["kind"] = "endpoints";
    j["namespaces"] = selector_json(e->sel.ns);
    j["pods"] = selector_json(e->sel.pod);
  } else if (const auto* c = std::get_if<PeerCidr>(&p.v)) {
    j["kind"] = "cidr";
    j["cidr"] = c->cidr.str();
    j["except"] = json::array();
    for (const auto& x : c->except) j["except"].push_back(x.str());
    j["matches_cluster"] = c->matches_cluster;
  } else if (const auto* en = std::get_if<PeerEntity>(&p.v)) {
    j["kind"] = "entity";
    j["entity"] = entity_name(en->entity);
  } else if (const auto* u = std::get_if<PeerUnresolved>(&p.v)) {
    j["kind"] = "unresolved";
    j["what"] = u->what;
  }
  return j;
}

std::string rule_origin(const Model& m, RuleId id) {
  return m.sources.format(m.rule(id).loc);
}

std::string rule_summary(const Model& m, const Rule& r) {
  std::string peers;
  for (size_t i = 0; i < r.peers.size(); ++i) peers += (i ? " or " : "") + r.peers[i].str();
  if (r.peers.empty()) peers = "nobody";
  std::string ports;
  if (r.ports.empty()) ports = "any port";
  for (size_t i = 0; i < r.ports.size(); ++i) {
    const auto& g = r.ports[i];
    if (i) ports += " or ";
    if (g.ports.empty()) ports += "any port";
    for (size_t j = 0; j < g.ports.size(); ++j) ports += (j ? "," : "") + g.ports[j].str();
    if (g.has_l7()) {
      ports += " [HTTP ";
      for (size_t k = 0; k < g.http.size(); ++k) ports += (k ? " | " : "") + g.http[k].str();
      ports += "]";
    }
  }
  (void)m;
  return fmt::format("{} {} {} {} on {}", direction_name(r.dir), action_name(r.action),
                     r.dir == Direction::Ingress ? "from" : "to", peers, ports);
}

json dump_json(const Model& m) {
  json j;
  j["namespaces"] = json::array();
  for (const auto& ns : m.namespaces)
    j["namespaces"].push_back({{"name", ns.name}, {"labels", labels_json(ns.labels)}, {"declared", ns.declared}});
  j["nodes"] = json::array();
  for (const auto& n : m.nodes)
    j["nodes"].push_back({{"name", n.name}, {"ip", n.ip.str()}, {"synthetic", n.synthetic}});
  j["identities"] = json::array();
  for (const auto& id : m.identities) {
    json e = json::array();
    for (auto ep : id.endpoints) e.push_back(m.endpoint_name(ep));
    j["identities"].push_back(
        {{"id", id.id.v}, {"namespace", m.ns(id.ns).name}, {"labels", labels_json(id.labels)}, {"endpoints", e}});
  }
  j["endpoints"] = json::array();
  for (const auto& e : m.endpoints) {
    json ports = json::array();
    for (const auto& p : e.ports)
      ports.push_back({{"name", p.name}, {"port", p.port}, {"protocol", protocol_name(p.proto)}});
    json je{{"name", m.endpoint_name(e.id)},   {"ip", e.ip.str()},
            {"ip_synthetic", e.ip_synthetic},  {"node", e.node_name},
            {"labels", labels_json(e.labels)}, {"ports", ports},
            {"host_network", e.host_network},  {"origin", loc_str(m, e.loc)}};
    if (!e.workload_kind.empty()) je["workload"] = e.workload_kind + "/" + e.workload;
    if (e.identity.valid()) je["identity"] = e.identity.v;
    json sel = json::array();
    for (auto pid : m.policies_selecting(e.id)) sel.push_back(m.policy(pid).display());
    je["selected_by"] = sel;
    j["endpoints"].push_back(je);
  }
  j["services"] = json::array();
  for (const auto& s : m.services) {
    json ports = json::array();
    for (const auto& p : s.ports) {
      json jp{{"name", p.name}, {"port", p.port}, {"protocol", protocol_name(p.proto)}};
      if (const auto* n = std::get_if<uint16_t>(&p.target))
        jp["targetPort"] = *n;
      else
        jp["targetPort"] = std::get<std::string>(p.target);
      if (p.node_port) jp["nodePort"] = p.node_port;
      ports.push_back(jp);
    }
    json backends = json::array();
    for (auto b : m.service_backends(s.id)) backends.push_back(m.endpoint_name(b));
    j["services"].push_back({{"name", m.ns(s.ns).name + "/" + s.name},
                             {"type", service_type_name(s.type)},
                             {"clusterIP", s.cluster_ip ? s.cluster_ip->str() : "None"},
                             {"selector", labels_json(s.selector)},
                             {"ports", ports},
                             {"backends", backends}});
  }
  j["policies"] = json::array();
  for (const auto& p : m.policies) {
    json rules = json::array();
    for (auto rid : p.rules) {
      const Rule& r = m.rule(rid);
      json peers = json::array();
      for (const auto& pe : r.peers) peers.push_back(peer_json(pe));
      json groups = json::array();
      for (const auto& g : r.ports) {
        json ports = json::array();
        for (const auto& pm : g.ports) ports.push_back(port_json(pm));
        json http = json::array();
        for (const auto& h : g.http) http.push_back(h.str());
        groups.push_back({{"ports", ports}, {"http", http}});
      }
      rules.push_back({{"id", rid.v},
                       {"direction", direction_name(r.dir)},
                       {"action", action_name(r.action)},
                       {"peers", peers},
                       {"ports", groups},
                       {"path", r.path},
                       {"origin", loc_str(m, r.loc)}});
    }
    json jp{{"kind", policy_kind_name(p.kind)},
            {"name", p.name},
            {"namespace", p.ns_name},
            {"subject", {{"namespaces", selector_json(p.subject.ns)}, {"pods", selector_json(p.subject.pod)}}},
            {"isolates", {{"ingress", p.isolates[0]}, {"egress", p.isolates[1]}}},
            {"rules", rules},
            {"origin", loc_str(m, p.loc)}};
    if (p.spec_index >= 0) jp["spec_index"] = p.spec_index;
    j["policies"].push_back(jp);
  }
  return j;
}

std::string dump_text(const Model& m) {
  std::string out;
  out += fmt::format("namespaces ({})\n", m.namespaces.size());
  for (const auto& ns : m.namespaces) {
    std::string labels;
    for (const auto& [k, v] : ns.labels)
      if (k != kNamespaceNameLabel) labels += (labels.empty() ? "" : ",") + k + "=" + v;
    out +=
        fmt::format("  {}{}{}\n", ns.name, labels.empty() ? "" : " {" + labels + "}", ns.declared ? "" : " (implicit)");
  }
  out += fmt::format("nodes ({})\n", m.nodes.size());
  for (const auto& n : m.nodes) out += fmt::format("  {} {}{}\n", n.name, n.ip.str(), n.synthetic ? " (implicit)" : "");
  out += fmt::format("identities ({})\n", m.identities.size());
  for (const auto& id : m.identities) {
    std::string labels;
    for (const auto& [k, v] : id.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
    out += fmt::format("  #{} {} {{{}}}: {} endpoint(s)\n", id.id.v, m.ns(id.ns).name, labels, id.endpoints.size());
  }
  out += fmt::format("endpoints ({})\n", m.endpoints.size());
  for (const auto& e : m.endpoints) {
    std::string ports;
    for (const auto& p : e.ports)
      ports += (ports.empty() ? "" : ",") + (p.name.empty() ? "" : p.name + "=") + std::to_string(p.port) + "/" +
               std::string(protocol_name(p.proto));
    out += fmt::format("  {} {} node={}{}{}{}\n", m.endpoint_name(e.id), e.ip.str(), e.node_name,
                       e.identity.valid() ? " identity=#" + std::to_string(e.identity.v) : "",
                       e.host_network ? " hostNetwork" : "", ports.empty() ? "" : " ports=" + ports);
  }
  out += fmt::format("services ({})\n", m.services.size());
  for (const auto& s : m.services) {
    std::string ports;
    for (const auto& p : s.ports) {
      std::string t = std::holds_alternative<uint16_t>(p.target) ? std::to_string(std::get<uint16_t>(p.target))
                                                                 : std::get<std::string>(p.target);
      ports +=
          (ports.empty() ? "" : ",") + std::to_string(p.port) + "->" + t + "/" + std::string(protocol_name(p.proto));
    }
    out += fmt::format("  {}/{} {} {} ports={} backends={}\n", m.ns(s.ns).name, s.name, service_type_name(s.type),
                       s.cluster_ip ? s.cluster_ip->str() : "None", ports, m.service_backends(s.id).size());
  }
  out += fmt::format("policies ({})\n", m.policies.size());
  for (const auto& p : m.policies) {
    std::string iso;
    if (p.isolates[0]) iso += "ingress";
    if (p.isolates[1]) iso += iso.empty() ? "egress" : "+egress";
    out += fmt::format("  {} ({})\n    selects {}\n    default deny: {}\n", p.display(), m.sources.format(p.loc),
                       p.subject.str(), iso.empty() ? "none" : iso);
    for (auto rid : p.rules) {
      const Rule& r = m.rule(rid);
      out +=
          fmt::format("    rule #{} {} ({})\n      {}\n", rid.v, r.path, m.sources.format(r.loc), rule_summary(m, r));
    }
  }
  return out;
}

}  // namespace polc::ir
