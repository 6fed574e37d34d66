#include "polc/verifier/resolve.h"

#include <algorithm>
#include <set>

namespace polc::verifier {

namespace {

using K = ir::QueryEndpoint::Kind;

ir::Error report(ir::DiagnosticEngine& diags, ir::DiagId id, ir::SourceLoc loc, std::string msg,
                 std::string hint = {}) {
  diags.report(id, loc, msg, std::move(hint));
  return ir::Error{std::move(msg)};
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& cands) {
  auto best = ir::closest_match(word, cands);
  return best ? "did you mean '" + *best + "'?" : "";
}

Candidate pod_candidate(const ir::Model& m, ir::EndpointId id) {
  const ir::Endpoint& e = m.endpoint(id);
  Candidate c;
  c.ep = id;
  if (e.host_network) {  // shares its node's address: the datapath sees the node
    c.kind = Candidate::Kind::Node;
    c.node = e.node;
  }
  return c;
}

/// Everything a user may have meant by a bare or qualified name (for did-you-mean).
std::vector<std::string> name_candidates(const ir::Model& m, bool qualified) {
  std::set<std::string> out;
  for (const auto& e : m.endpoints) {
    const std::string& ns = m.ns(e.ns).name;
    out.insert(qualified ? ns + "/" + e.name : e.name);
    out.insert(qualified ? ns + "/" + e.workload : e.workload);
  }
  return {out.begin(), out.end()};
}

/// Workloads or pods called `name` (optionally in namespace `ns`).
std::vector<ir::EndpointId> pods_named(const ir::Model& m, const std::string& ns, const std::string& name) {
  std::vector<ir::EndpointId> out;
  for (const auto& e : m.endpoints) {
    if (!ns.empty() && m.ns(e.ns).name != ns) continue;
    if (e.name == name || e.workload == name) out.push_back(e.id);
  }
  return out;
}

ir::Result<std::optional<ir::NamespaceId>> lookup_namespace(const ir::Model& m, const ir::QueryEndpoint& ep,
                                                            ir::DiagnosticEngine& diags) {
  if (ep.ns.empty()) return std::optional<ir::NamespaceId>{};
  if (auto id = m.find_namespace(ep.ns)) return std::optional<ir::NamespaceId>{*id};
  std::vector<std::string> names;
  for (const auto& n : m.namespaces) names.push_back(n.name);
  return report(diags, ir::DiagId::QueryUnknownEndpoint, ep.loc, "no namespace '" + ep.ns + "'",
                did_you_mean(ep.ns, names));
}

/// Applies the question's named port to the destination candidates: each pod is reached on its
/// own container port of that name.
ir::Status apply_named_port(const ir::Model& m, const ir::Query& q, EndpointSet& set, ir::DiagnosticEngine& diags) {
  const std::string& name = q.port->name;
  set.named_port = name;
  std::vector<Candidate> kept;
  for (auto& c : set.candidates) {
    if (c.kind != Candidate::Kind::Pod) continue;  // nodes and host-network pods have no named ports
    for (const auto& cp : m.endpoint(c.ep).ports)
      if (cp.name == name && (!q.proto || *q.proto == cp.proto)) c.ports.emplace_back(cp.proto, cp.port);
    if (!c.ports.empty()) kept.push_back(c);
  }
  set.candidates = std::move(kept);
  set.external.reset();
  if (set.empty())
    return report(diags, ir::DiagId::QueryUnknownEndpoint, q.port->loc,
                  "no pod of '" + set.text + "' has a container port named '" + name + "'" +
                      (q.proto ? " with protocol " + std::string(ir::protocol_name(*q.proto)) : ""));
  return {};
}

ir::Result<EndpointSet> resolve_service(const ir::Model& m, const ir::QueryEndpoint& ep, const ir::Query& q,
                                        bool as_destination, ir::DiagnosticEngine& diags) {
  EndpointSet set;
  set.text = ep.text;
  set.loc = ep.loc;
  std::vector<ir::ServiceId> found;
  for (const auto& s : m.services)
    if (s.name == ep.name && (ep.ns.empty() || m.ns(s.ns).name == ep.ns)) found.push_back(s.id);
  if (found.empty()) {
    std::vector<std::string> names;
    for (const auto& s : m.services) names.push_back(ep.ns.empty() ? s.name : m.ns(s.ns).name + "/" + s.name);
    return report(diags, ir::DiagId::QueryUnknownEndpoint, ep.loc, "no service '" + ep.text.substr(4) + "'",
                  did_you_mean(ep.ns.empty() ? ep.name : ep.ns + "/" + ep.name, names));
  }
  if (found.size() > 1) {
    std::string list;
    for (auto id : found) list += (list.empty() ? "" : ", ") + m.ns(m.service(id).ns).name + "/" + ep.name;
    return report(diags, ir::DiagId::QueryAmbiguous, ep.loc,
                  "service '" + ep.name + "' exists in several namespaces: " + list,
                  "qualify it, e.g. 'svc:" + m.ns(m.service(found[0]).ns).name + "/" + ep.name + "'");
  }
  const ir::Service& svc = m.service(found[0]);
  auto backends = m.service_backends(svc.id);
  if (backends.empty())
    return report(diags, ir::DiagId::QueryUnknownEndpoint, ep.loc,
                  "service '" + m.ns(svc.ns).name + "/" + svc.name + "' selects no pods");
  // Which service ports the question means.
  std::vector<const ir::ServicePort*> sports;
  for (const auto& sp : svc.ports) {
    if (q.proto && sp.proto != *q.proto) continue;
    if (as_destination && q.port) {
      if (q.port->number && sp.port != *q.port->number) continue;
      if (!q.port->number && sp.name != q.port->name) continue;
    }
    sports.push_back(&sp);
  }
  if (as_destination && sports.empty()) {
    std::string list;
    for (const auto& sp : svc.ports)
      list += (list.empty() ? "" : ", ") + (sp.name.empty() ? "" : sp.name + "=") + std::to_string(sp.port) + "/" +
              std::string(ir::protocol_name(sp.proto));
    return report(diags, ir::DiagId::QueryUnknownEndpoint, q.port ? q.port->loc : ep.loc,
                  "service '" + svc.name + "' has no port " + (q.port ? q.port->text : std::string("")) +
                      (q.proto ? "/" + std::string(ir::protocol_name(*q.proto)) : "") +
                      (list.empty() ? "" : "; it has " + list));
  }
  for (auto b : backends) {
    Candidate c = pod_candidate(m, b);
    if (as_destination) {
      for (const auto* sp : sports)
        if (auto tp = m.target_port(*sp, m.endpoint(b))) c.ports.emplace_back(sp->proto, *tp);
      if (c.ports.empty()) continue;  // no container port for a named targetPort: unreachable
    }
    set.candidates.push_back(c);
  }
  if (set.candidates.empty())
    return report(diags, ir::DiagId::QueryUnknownEndpoint, ep.loc,
                  "no backend of service '" + svc.name + "' has the service's targetPort");
  return set;
}

}  // namespace

std::optional<ir::EndpointId> EndpointSet::single_pod() const {
  if (hypothetical || external || candidates.size() != 1 || candidates[0].kind != Candidate::Kind::Pod)
    return std::nullopt;
  return candidates[0].ep;
}

std::string candidate_name(const ir::Model& m, const Candidate& c) {
  if (c.ep.valid()) return m.endpoint_name(c.ep);
  return "node " + m.node(c.node).name;
}

ir::Result<EndpointSet> resolve_endpoint(const ir::Model& m, const ir::QueryEndpoint& ep, const ir::Query& q,
                                         bool as_destination, ir::DiagnosticEngine& diags) {
  bool named_port = as_destination && q.port && !q.port->number;
  if (ep.kind == K::Service) return resolve_service(m, ep, q, as_destination, diags);
  EndpointSet set;
  set.text = ep.text;
  set.loc = ep.loc;
  switch (ep.kind) {
    case K::Name: {
      auto ns = lookup_namespace(m, ep, diags);
      if (!ns) return ns.error();
      auto pods = pods_named(m, ep.ns, ep.name);
      if (pods.empty()) {
        std::string hint =
            did_you_mean(ep.ns.empty() ? ep.name : ep.ns + "/" + ep.name, name_candidates(m, !ep.ns.empty()));
        for (const auto& s : m.services)
          if (s.name == ep.name && hint.empty()) hint = "to reach the service, write 'svc:" + ep.name + "'";
        for (const auto& n : m.nodes)
          if (n.name == ep.name && hint.empty()) hint = "to name the node, write 'node:" + ep.name + "'";
        return report(diags, ir::DiagId::QueryUnknownEndpoint, ep.loc, "no workload or pod '" + ep.text + "'", hint);
      }
      std::set<std::string> spaces;
      for (auto id : pods) spaces.insert(m.ns(m.endpoint(id).ns).name);
      if (spaces.size() > 1) {
        std::string list;
        for (const auto& s : spaces) list += (list.empty() ? "" : ", ") + s + "/" + ep.name;
        return report(diags, ir::DiagId::QueryAmbiguous, ep.loc,
                      "'" + ep.name + "' names workloads or pods in several namespaces: " + list,
                      "qualify it, e.g. '" + *spaces.begin() + "/" + ep.name + "'");
      }
      for (auto id : pods) set.candidates.push_back(pod_candidate(m, id));
      break;
    }
    case K::Selector: {
      auto ns = lookup_namespace(m, ep, diags);
      if (!ns) return ns.error();
      Hypothetical h;
      h.pod = ep.pod;
      h.ns = *ns;
      if (ep.ns_labels) h.ns_labels = *ep.ns_labels;
      for (const auto& e : m.endpoints) {
        if (e.host_network) continue;
        if (h.ns ? e.ns != *h.ns : !h.ns_labels.matches(m.ns_labels(e))) continue;
        if (h.pod.matches(e.labels)) set.candidates.push_back(pod_candidate(m, e.id));
      }
      set.hypothetical = h;
      break;
    }
    case K::Node: {
      for (const auto& n : m.nodes)
        if (n.name == ep.name) {
          Candidate c;
          c.kind = Candidate::Kind::Node;
          c.node = n.id;
          set.candidates.push_back(c);
        }
      if (set.candidates.empty()) {
        std::vector<std::string> names;
        for (const auto& n : m.nodes) names.push_back(n.name);
        return report(diags, ir::DiagId::QueryUnknownEndpoint, ep.loc, "no node '" + ep.name + "'",
                      did_you_mean(ep.name, names));
      }
      break;
    }
    case K::Address: {
      for (const auto& e : m.endpoints)
        if (!e.host_network && ep.cidr.contains(e.ip)) set.candidates.push_back(pod_candidate(m, e.id));
      for (const auto& n : m.nodes)
        if (ep.cidr.contains(n.ip)) {
          Candidate c;
          c.kind = Candidate::Kind::Node;
          c.node = n.id;
          set.candidates.push_back(c);
        }
      // Addresses nobody in the cluster owns.
      uint64_t size = uint64_t(1) << (32 - ep.cidr.len);
      if (set.candidates.size() < size) set.external = ExternalRange{ep.cidr, false};
      break;
    }
    case K::World: set.external = ExternalRange{ir::Cidr{}, true}; break;
    case K::Any: {
      for (const auto& e : m.endpoints)
        if (!e.host_network) set.candidates.push_back(pod_candidate(m, e.id));
      for (const auto& n : m.nodes) {
        Candidate c;
        c.kind = Candidate::Kind::Node;
        c.node = n.id;
        set.candidates.push_back(c);
      }
      set.hypothetical = Hypothetical{};
      set.external = ExternalRange{ir::Cidr{}, false};
      break;
    }
    case K::Service: break;  // handled above
  }
  if (named_port) {
    auto st = apply_named_port(m, q, set, diags);
    if (!st) return st.error();
  }
  return set;
}

ir::Result<ReachQuery> resolve_reach(const ir::Model& m, const ir::Query& q, ir::DiagnosticEngine& diags) {
  ReachQuery rq;
  rq.text = q.text;
  rq.proto = q.proto;
  bool ok = true;
  if (q.src) {
    auto s = resolve_endpoint(m, *q.src, q, false, diags);
    if (s)
      rq.src = std::move(*s);
    else
      ok = false;
  }
  if (q.dst) {
    auto d = resolve_endpoint(m, *q.dst, q, true, diags);
    if (d)
      rq.dst = std::move(*d);
    else
      ok = false;
  }
  if (!ok) return ir::Error{"the question names unknown endpoints"};
  bool per_candidate = !rq.dst.named_port.empty() || (q.dst && q.dst->kind == K::Service);
  if (q.port && q.port->number && !per_candidate) {
    rq.port = *q.port->number;
    if (!rq.proto) rq.proto = 6;  // a bare port number means TCP
  }
  if (q.http) {
    if (rq.proto && *rq.proto != 6) {
      diags.report(ir::DiagId::QuerySyntax, q.http->loc,
                   "an HTTP request needs TCP, not " + std::string(ir::protocol_name(*rq.proto)));
      return ir::Error{"HTTP over a protocol other than TCP"};
    }
    rq.proto = 6;
    ir::HttpRequest req;
    req.method = q.http->method;
    req.path = q.http->path;
    rq.http = req;
  }
  return rq;
}

ReachQuery probe_query(const ir::Model& m, const ir::Probe& p) {
  ReachQuery q;
  auto side = [&](const ir::Address& a) {
    EndpointSet s;
    if (const auto* id = std::get_if<ir::EndpointId>(&a.v)) {
      s.candidates.push_back(pod_candidate(m, *id));
      s.text = m.endpoint_name(*id);
      return s;
    }
    ir::Ipv4 ip = std::get<ir::Ipv4>(a.v);
    s.text = ip.str();
    if (auto ep = m.endpoint_by_ip(ip)) {
      s.candidates.push_back(pod_candidate(m, *ep));
    } else if (auto n = m.node_by_ip(ip)) {
      Candidate c;
      c.kind = Candidate::Kind::Node;
      c.node = *n;
      s.candidates.push_back(c);
    } else {
      s.external = ExternalRange{ir::Cidr{ip, 32}, false};
    }
    return s;
  };
  q.src = side(p.src);
  q.dst = side(p.dst);
  q.proto = p.proto;
  q.port = p.port;
  q.http = p.http;
  return q;
}

}  // namespace polc::verifier
