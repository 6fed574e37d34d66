#include "polc/verifier/explain.h"

#include <algorithm>

#include "polc/ir/dump.h"

namespace polc::verifier {

namespace {

using nlohmann::json;

/// How an endpoint is called inside an explanation: the workload ("database"), a pod, a node.
std::string short_name(const ir::Model& m, const EndpointView& v) {
  switch (v.kind) {
    case EndpointView::Kind::Pod: {
      const ir::Endpoint& e = m.endpoint(v.ep);
      return e.workload_kind.empty() ? e.name : e.workload;
    }
    case EndpointView::Kind::NewPod: return "the new pod";
    case EndpointView::Kind::Node: return v.ep.valid() ? m.endpoint(v.ep).name : "node " + m.node(v.node).name;
    case EndpointView::Kind::External: return v.ip.str();
  }
  return "?";
}

std::string policy_ref(const ir::Model& m, ir::PolicyId pid) {
  const ir::Policy& p = m.policy(pid);
  return p.display() + " (" + m.sources.format(p.loc) + ")";
}

std::string rule_ref(const ir::Model& m, ir::RuleId rid) {
  const ir::Rule& r = m.rule(rid);
  return m.policy(r.policy).display() + " " + r.path + " (" + m.sources.format(r.loc) + ")";
}

template <typename Id, typename F>
std::string join_refs(const std::vector<Id>& ids, F ref, size_t max = 3) {
  std::string s;
  for (size_t i = 0; i < ids.size() && i < max; ++i) {
    if (i) s += i + 1 == ids.size() ? " and " : ", ";
    s += ref(ids[i]);
  }
  if (ids.size() > max) s += " and " + std::to_string(ids.size() - max) + " more";
  return s;
}

std::string request_str(const ir::HttpRequest& r) {
  std::string s = (r.method.empty() ? "<any method>" : r.method) + " " + (r.path.empty() ? "\"\"" : r.path);
  if (!r.host.empty()) s += " (host " + r.host + ")";
  for (const auto& [k, v] : r.headers) s += " [" + k + ": " + v + "]";
  return s;
}

/// The rules of the policies selecting the subject in `dir` (what could have admitted it).
std::vector<ir::RuleId> applicable_rules(const ir::Model& m, const EndpointView& subject,
                                         const ir::DirectionVerdict& d) {
  std::vector<ir::PolicyId> pols;
  if (subject.kind == EndpointView::Kind::Pod)
    pols = m.policies_selecting(subject.ep);
  else
    pols = d.isolating;
  std::vector<ir::RuleId> out;
  for (auto pid : pols)
    for (auto rid : m.policy(pid).rules)
      if (m.rule(rid).dir == d.dir && m.rule(rid).action == ir::Action::Allow) out.push_back(rid);
  return out;
}

void explain_direction(std::string& out, const ir::Model& m, const Packet& p, const ir::DirectionVerdict& d,
                       const std::optional<ir::HttpRequest>& example, const std::string& port_text,
                       bool no_request = false) {
  bool in = d.dir == ir::Direction::Ingress;
  const EndpointView& subject = in ? p.dst : p.src;
  const EndpointView& remote = in ? p.src : p.dst;
  std::string label = in ? "  ingress: " : "  egress:  ";
  std::string dn = ir::direction_name(d.dir);
  std::string line;
  switch (d.reason) {
    case ir::Reason::Unmanaged:
      line = short_name(m, subject) + " is not a pod (" +
             (subject.kind == EndpointView::Kind::External ? std::string("outside the cluster")
                                                           : std::string("a node address")) +
             "), so no " + dn + " policy applies";
      break;
    case ir::Reason::SelfTraffic: line = "a pod's traffic to its own address never meets policy"; break;
    case ir::Reason::FromOwnNode:
      line = "from " + short_name(m, remote) + ", the pod's own node: always allowed (kubelet probes)";
      break;
    case ir::Reason::NotIsolated: line = "no policy isolates " + short_name(m, subject) + " for " + dn; break;
    case ir::Reason::AllowedByRule:
      if (d.l7_restricted) {
        line = "the connection is allowed by " + join_refs(d.rules, [&](ir::RuleId r) { return rule_ref(m, r); }) +
               ", whose HTTP rules filter every request";
        if (example) line += "; e.g. " + request_str(*example) + " passes";
        if (no_request) line += "; no request passes the HTTP rules of both directions (every one gets 403)";
      } else {
        line = "allowed by " + join_refs(d.rules, [&](ir::RuleId r) { return rule_ref(m, r); });
      }
      break;
    case ir::Reason::DeniedByRule:
      line = "denied by " + join_refs(d.rules, [&](ir::RuleId r) { return rule_ref(m, r); }) +
             " (a deny rule overrides every allow)";
      break;
    case ir::Reason::NoRuleMatched:
      line = short_name(m, subject) + " is isolated by " +
             join_refs(d.isolating, [&](ir::PolicyId pid) { return policy_ref(m, pid); }) + ", and no " + dn +
             " rule admits " + short_name(m, remote) + " on " + port_text;
      break;
    case ir::Reason::L7Denied:
      line = join_refs(d.rules, [&](ir::RuleId r) { return rule_ref(m, r); }) +
             (d.rules.size() == 1 ? " admits" : " admit") + " only some HTTP requests, and " +
             (p.http ? request_str(*p.http) : std::string("this request")) +
             " matches none of them (Cilium answers 403 Access denied)";
      break;
    case ir::Reason::OrderedAllow:
    case ir::Reason::OrderedDeny:
      line = std::string(d.allowed ? "allowed" : "denied") + " by " +
             join_refs(d.rules, [&](ir::RuleId r) { return rule_ref(m, r); });
      break;
  }
  out += label + line + "\n";
  if (d.reason == ir::Reason::NoRuleMatched) {
    auto rules = applicable_rules(m, subject, d);
    if (rules.empty()) {
      out += "           (no policy selecting " + short_name(m, subject) + " has " + dn + " rules)\n";
    } else {
      out += "           " + dn + " rules for " + short_name(m, subject) + ":\n";
      for (size_t i = 0; i < rules.size() && i < 6; ++i)
        out += "             " + ir::rule_summary(m, m.rule(rules[i])) + "  -- " + rule_ref(m, rules[i]) + "\n";
      if (rules.size() > 6) out += "             ... and " + std::to_string(rules.size() - 6) + " more\n";
    }
  }
}

json endpoint_json(const ir::Model& m, const EndpointView& v) {
  json j;
  switch (v.kind) {
    case EndpointView::Kind::Pod: {
      const ir::Endpoint& e = m.endpoint(v.ep);
      j = {
          {"kind", "pod"},    {"name", m.endpoint_name(v.ep)}, {"namespace", m.ns(e.ns).name}, {"workload", e.workload},
          {"ip", e.ip.str()}, {"node", m.node(e.node).name}};
      break;
    }
    case EndpointView::Kind::NewPod: {
      json ports = json::array();
      for (const auto& p : v.ports)
        ports.push_back({{"name", p.name}, {"port", p.port}, {"protocol", ir::protocol_name(p.proto)}});
      j = {{"kind", "new-pod"},
           {"name", v.name(m)},
           {"namespace", v.ns_name},
           {"new_namespace", v.new_namespace},
           {"labels", ir::labels_json(v.labels)},
           {"namespace_labels", ir::labels_json(v.ns_labels)},
           {"ip", v.ip.str()},
           {"node", v.node.v < m.nodes.size() ? m.node(v.node).name : ""},
           {"named_ports", ports}};
      break;
    }
    case EndpointView::Kind::Node:
      j = {{"kind", "node"}, {"name", v.name(m)}, {"node", m.node(v.node).name}, {"ip", v.ip.str()}};
      if (v.ep.valid()) j["host_network_pod"] = m.endpoint_name(v.ep);
      break;
    case EndpointView::Kind::External: j = {{"kind", "external"}, {"name", v.ip.str()}, {"ip", v.ip.str()}}; break;
  }
  return j;
}

json http_json(const ir::HttpRequest& r) {
  json h = json::array();
  for (const auto& [k, v] : r.headers) h.push_back({{"name", k}, {"value", v}});
  return {{"method", r.method}, {"path", r.path}, {"host", r.host}, {"headers", h}};
}

json packet_json(const ir::Model& m, const Packet& p) {
  json j = {{"src", endpoint_json(m, p.src)},
            {"dst", endpoint_json(m, p.dst)},
            {"protocol",
             ir::protocol_name(p.proto).empty() ? std::to_string(p.proto) : std::string(ir::protocol_name(p.proto))},
            {"port", p.port}};
  if (p.http) j["http"] = http_json(*p.http);
  return j;
}

json rule_json(const ir::Model& m, ir::RuleId rid) {
  const ir::Rule& r = m.rule(rid);
  const ir::Policy& p = m.policy(r.policy);
  return {{"policy", p.display()},
          {"kind", ir::policy_kind_name(p.kind)},
          {"rule", r.path},
          {"location", m.sources.format(r.loc)},
          {"summary", ir::rule_summary(m, r)}};
}

json policy_json(const ir::Model& m, ir::PolicyId pid) {
  const ir::Policy& p = m.policy(pid);
  return {{"policy", p.display()}, {"kind", ir::policy_kind_name(p.kind)}, {"location", m.sources.format(p.loc)}};
}

json direction_json(const ir::Model& m, const ir::DirectionVerdict& d) {
  json rules = json::array(), iso = json::array();
  for (auto r : d.rules) rules.push_back(rule_json(m, r));
  for (auto p : d.isolating) iso.push_back(policy_json(m, p));
  return {{"allowed", d.allowed},
          {"reason", ir::reason_name(d.reason)},
          {"rules", rules},
          {"isolating", iso},
          {"l7_restricted", d.l7_restricted}};
}

/// A tracked assertion name ("r12", "r12_l7", "iso_p3_ingress") as the rule or policy it stands for.
json core_json(const ir::Model& m, const std::string& name) {
  if (name.rfind("iso_p", 0) == 0) {
    uint32_t pid = static_cast<uint32_t>(std::stoul(name.substr(5)));
    json j = policy_json(m, ir::PolicyId(pid));
    j["fact"] = "isolates " + name.substr(name.rfind('_') + 1);
    return j;
  }
  if (name.size() > 1 && name[0] == 'r') {
    uint32_t rid = static_cast<uint32_t>(std::stoul(name.substr(1)));
    json j = rule_json(m, ir::RuleId(rid));
    j["fact"] = name.find("_l7") != std::string::npos   ? "http match"
                : name.find("_l4") != std::string::npos ? "L4 match"
                                                        : "match";
    return j;
  }
  return {{"fact", name}};
}

std::string side_size(const EndpointSet& s) {
  size_t pods = 0, nodes = 0;
  for (const auto& c : s.candidates) (c.kind == Candidate::Kind::Pod ? pods : nodes) += 1;
  std::string out;
  if (pods) out += std::to_string(pods) + (pods == 1 ? " pod" : " pods");
  if (nodes) out += (out.empty() ? "" : ", ") + std::to_string(nodes) + (nodes == 1 ? " node" : " nodes");
  if (s.hypothetical) out += (out.empty() ? "" : ", ") + std::string("any new pod");
  if (s.external) out += (out.empty() ? "" : ", ") + std::string("external addresses");
  return out;
}

bool multiple(const EndpointSet& s) {
  return s.candidates.size() + (s.hypothetical ? 1 : 0) + (s.external ? 1 : 0) > 1 ||
         (s.external && s.external->cidr.len < 32);
}

}  // namespace

std::string port_str(uint8_t proto, uint16_t port) {
  switch (proto) {
    case 6:
    case 17:
    case 132: return std::to_string(port) + "/" + std::string(ir::protocol_name(proto));
    case 1: return "ICMP type " + std::to_string(port);
    default: return "protocol " + std::to_string(proto);
  }
}

std::string packet_str(const ir::Model& m, const Packet& p) {
  std::string s = p.src.name(m) + " -> " + p.dst.name(m);
  if (p.proto == 6 || p.proto == 17 || p.proto == 132)
    s += ":" + std::to_string(p.port) + "/" + std::string(ir::protocol_name(p.proto));
  else
    s += " " + port_str(p.proto, p.port);
  if (p.http) s += " " + request_str(*p.http);
  return s;
}

std::string render_reach_text(const ir::Model& m, const ReachQuery& q, const ReachAnswer& a) {
  std::string out;
  if (a.no_packet) return "DENY  no packet fits the question (" + q.src.text + " -> " + q.dst.text + ")\n";
  // A denied question without a port is denied on every port: say so instead of showing one.
  bool per_candidate = !q.dst.named_port.empty();
  for (const auto& c : q.dst.candidates) per_candidate = per_candidate || !c.ports.empty();
  std::string port_text = port_str(a.packet.proto, a.packet.port);
  std::string header = packet_str(m, a.packet);
  if (!a.allowed && !q.port && !per_candidate) {
    port_text = q.proto ? "any " + std::string(ir::protocol_name(*q.proto)) + " port" : "any port";
    Packet p = a.packet;
    p.http.reset();
    header = p.src.name(m) + " -> " + p.dst.name(m) + " (" + port_text + ")";
  }
  out += std::string(a.allowed ? "ALLOW " : "DENY  ") + header + "\n";
  explain_direction(out, m, a.packet, a.verdict.egress, a.example_request, port_text, a.no_request_passes);
  explain_direction(out, m, a.packet, a.verdict.ingress, a.example_request, port_text, a.no_request_passes);
  if (a.allowed && a.counterexample && a.counterexample_verdict) {
    out += "  not every pair: " + packet_str(m, *a.counterexample) + " is denied\n";
    std::string sub;
    for (const auto* d : {&a.counterexample_verdict->egress, &a.counterexample_verdict->ingress})
      if (!d->allowed)
        explain_direction(sub, m, *a.counterexample, *d, std::nullopt,
                          port_str(a.counterexample->proto, a.counterexample->port));
    for (size_t pos = 0; pos < sub.size();) {  // indented under the counterexample
      size_t nl = sub.find('\n', pos);
      out += "  " + sub.substr(pos, nl - pos) + "\n";
      pos = nl + 1;
    }
  } else if (multiple(q.src) || multiple(q.dst)) {
    out += "  every pair of " + q.src.text + " (" + side_size(q.src) + ") and " + q.dst.text + " (" + side_size(q.dst) +
           ") is " + (a.allowed ? "allowed" : "denied") + "\n";
  }
  return out;
}

json render_reach_json(const ir::Model& m, const ReachQuery& q, const ReachAnswer& a) {
  json j;
  j["question"] = q.text;
  j["verdict"] = a.allowed ? "allow" : "deny";
  j["packet"] = packet_json(m, a.packet);
  j["egress"] = direction_json(m, a.verdict.egress);
  j["ingress"] = direction_json(m, a.verdict.ingress);
  if (a.example_request) j["example_request"] = http_json(*a.example_request);
  if (a.no_request_passes) j["no_request_passes"] = true;
  if (a.counterexample) {
    j["counterexample"] = packet_json(m, *a.counterexample);
    if (a.counterexample_verdict) {
      j["counterexample"]["egress"] = direction_json(m, a.counterexample_verdict->egress);
      j["counterexample"]["ingress"] = direction_json(m, a.counterexample_verdict->ingress);
    }
  }
  j["every_pair"] = !a.counterexample.has_value() || !a.allowed;
  json core = json::array();
  for (const auto& c : a.core) core.push_back(core_json(m, c));
  if (!a.allowed) j["unsat_core"] = core;
  return j;
}

std::string render_listing_text(const ir::Model& m, ListingKind kind, const EndpointSet& subject,
                                std::optional<uint8_t> proto, std::optional<uint16_t> port, const ReachListing& l) {
  std::string scope;
  if (proto && port)
    scope = " on " + port_str(*proto, *port);
  else if (proto)
    scope = std::string(" over ") + std::string(ir::protocol_name(*proto));
  std::string out = std::string(kind == ListingKind::Who ? "WHO CAN REACH " : "WHAT CAN ") + subject.text + " (" +
                    side_size(subject) + ")" + (kind == ListingKind::What ? " REACH" : "") + scope + "\n";
  size_t w = 0;
  for (const auto& r : l.allowed) w = std::max(w, r.workload.size());
  for (const auto& r : l.allowed) {
    std::string count;
    if (r.kind == Group::Kind::Pods) count = std::to_string(r.pods.size()) + (r.pods.size() == 1 ? " pod" : " pods");
    count.resize(std::max<size_t>(count.size(), 8), ' ');
    out += "  " + r.workload + std::string(w - r.workload.size() + 2, ' ') + count + "  " + r.ports.str() +
           (r.uniform ? "" : "  (not for every pod pair)") + "\n";
  }
  if (l.allowed.empty()) out += "  nothing\n";
  if (!l.denied.empty()) {
    std::string d;
    for (const auto& r : l.denied) d += (d.empty() ? "" : ", ") + r.workload;
    out += std::string("  denied: ") + d + "\n";
  }
  (void)m;
  return out;
}

json port_set_json(const PortSet& p) {
  json a = json::array();
  for (int b = 0; b < ir::kProtoBuckets; ++b)
    for (const auto& [lo, hi] : p.allowed[static_cast<size_t>(b)]) {
      bool l7 = false;
      for (const auto& [x, y] : p.l7[static_cast<size_t>(b)])
        if (x <= lo && hi <= y) l7 = true;
      a.push_back({{"protocol", ir::proto_bucket_name(static_cast<ir::ProtoBucket>(b))},
                   {"from", lo},
                   {"to", hi},
                   {"http_filtered", l7}});
    }
  return a;
}

json render_listing_json(const ir::Model& m, ListingKind kind, const EndpointSet& subject, std::optional<uint8_t> proto,
                         std::optional<uint16_t> port, const ReachListing& l) {
  json j;
  j["kind"] = kind == ListingKind::Who ? "who-can-reach" : "what-can-reach";
  j["subject"] = subject.text;
  if (proto) j["protocol"] = ir::protocol_name(*proto);
  if (port) j["port"] = *port;
  auto rows = [&](const std::vector<ReachRow>& v) {
    json a = json::array();
    for (const auto& r : v) {
      json pods = json::array();
      for (auto e : r.pods) pods.push_back(m.endpoint_name(e));
      a.push_back({{"workload", r.workload},
                   {"kind", r.kind == Group::Kind::Pods   ? "pods"
                            : r.kind == Group::Kind::Node ? "node"
                                                          : "world"},
                   {"pods", pods},
                   {"ports", port_set_json(r.ports)},
                   {"summary", r.ports.str()},
                   {"uniform", r.uniform}});
    }
    return a;
  };
  j["allowed"] = rows(l.allowed);
  j["denied"] = rows(l.denied);
  return j;
}

}  // namespace polc::verifier
