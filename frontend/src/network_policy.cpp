// networking.k8s.io/v1 NetworkPolicy -> IR.
#include "load_context.h"
#include "policy_common.h"

namespace polc::frontend {

using ir::DiagId;

namespace {

/// One NetworkPolicyPort -> PortMatch.
std::optional<ir::PortMatch> read_port(Reader& r, const Cursor& p) {
  if (!r.expect_map(p, false)) return std::nullopt;
  r.check_fields(p, {"protocol", "port", "endPort"});
  ir::PortMatch pm;
  pm.loc = r.loc(p);
  pm.protos = ir::ProtoSet(ir::ProtoSet::kTcp);
  if (auto pc = p.child("protocol"); pc.present()) {
    auto s = r.string(pc);
    if (!s) return std::nullopt;
    if (*s == "TCP")
      pm.protos = ir::ProtoSet(ir::ProtoSet::kTcp);
    else if (*s == "UDP")
      pm.protos = ir::ProtoSet(ir::ProtoSet::kUdp);
    else if (*s == "SCTP")
      pm.protos = ir::ProtoSet(ir::ProtoSet::kSctp);
    else {
      auto guess = ir::parse_protocol(*s);
      r.error(DiagId::InvalidProtocol, pc, "unsupported protocol '" + *s + "'; expected TCP, UDP or SCTP",
              guess && *guess != 1 ? "protocols are upper-case: '" + std::string(ir::protocol_name(*guess)) + "'" : "");
      return std::nullopt;
    }
  }
  Cursor port = p.child("port");
  Cursor end = p.child("endPort");
  if (!port.present()) {
    if (end.present()) {
      r.error(DiagId::InvalidPortRange, end, "endPort requires a numeric 'port'");
      return std::nullopt;
    }
    pm.range = ir::PortRange{0, 65535};
    return pm;
  }
  if (!port.node.IsScalar()) {
    r.error(DiagId::WrongType, port, "'" + port.path + "' must be a number or a port name");
    return std::nullopt;
  }
  const std::string& text = port.node.Scalar();
  // An unquoted integer is a port number; anything else is a port name (IntOrString), so `8o` is
  // the (valid) name "8o" and `-http` an invalid name.
  size_t digits_from = !text.empty() && text[0] == '-' ? 1 : 0;
  bool numeric = !Reader::quoted(port.node) && text.size() > digits_from &&
                 std::all_of(text.begin() + static_cast<long>(digits_from), text.end(),
                             [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  if (numeric) {
    auto v = r.integer(port);
    if (!v) return std::nullopt;
    if (*v < 1 || *v > 65535) {
      r.error(DiagId::InvalidPort, port, "port " + std::to_string(*v) + " is out of range (1-65535)");
      return std::nullopt;
    }
    pm.range = ir::PortRange{static_cast<uint16_t>(*v), static_cast<uint16_t>(*v)};
    if (end.present()) {
      auto e = r.integer(end);
      if (!e) return std::nullopt;
      if (*e < 1 || *e > 65535) {
        r.error(DiagId::InvalidPort, end, "endPort " + std::to_string(*e) + " is out of range (1-65535)");
        return std::nullopt;
      }
      if (*e < *v) {
        r.error(DiagId::InvalidPortRange, end, "endPort " + std::to_string(*e) + " is below port " + std::to_string(*v),
                "endPort must be greater than or equal to port");
        return std::nullopt;
      }
      pm.range.hi = static_cast<uint16_t>(*e);
    }
    return pm;
  }
  if (auto why = validate_port_name(text); !why.empty()) {
    bool all_digits =
        std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    r.error(DiagId::InvalidPort, port, "invalid port name '" + text + "': " + why,
            all_digits ? "write the number without quotes: port: " + text : "");
    return std::nullopt;
  }
  if (end.present()) {
    r.error(DiagId::InvalidPortRange, end, "endPort cannot be used with the named port '" + text + "'",
            "use a numeric port, or drop endPort");
    return std::nullopt;
  }
  pm.named = text;
  return pm;
}

/// One NetworkPolicyPeer -> IR peer.
std::optional<ir::Peer> read_peer(Reader& r, const Cursor& c, const std::string& ns) {
  if (!r.expect_map(c, false)) return std::nullopt;
  r.check_fields(c, {"podSelector", "namespaceSelector", "ipBlock"});
  Cursor pod = c.child("podSelector");
  Cursor nss = c.child("namespaceSelector");
  Cursor ipb = c.child("ipBlock");
  ir::Peer peer;
  peer.loc = r.loc(c);
  if (ipb.defined()) {
    if (pod.defined() || nss.defined()) {
      r.error(DiagId::InvalidValue, ipb, "a peer may not combine ipBlock with podSelector or namespaceSelector",
              "split it into two peers");
      return std::nullopt;
    }
    if (!r.expect_map(ipb, false)) return std::nullopt;
    r.check_fields(ipb, {"cidr", "except"});
    Cursor cidr = ipb.child("cidr");
    if (!cidr.present()) {
      r.error(DiagId::MissingField, ipb, "ipBlock needs a 'cidr'");
      return std::nullopt;
    }
    auto base = read_cidr(r, cidr, false);
    if (!base) return std::nullopt;
    ir::PeerCidr pc;
    pc.cidr = *base;
    pc.matches_cluster = true;
    Cursor ex = ipb.child("except");
    if (ex.present() && r.expect_list(ex)) {
      for (size_t i = 0; i < ex.node.size(); ++i) {
        Cursor e = ex.item(i);
        auto x = read_cidr(r, e, false);
        if (!x) continue;
        if (!base->contains(*x) || *x == *base) {
          r.error(DiagId::InvalidCidr, e,
                  "except '" + x->str() + "' must be a strict subset of cidr '" + base->str() + "'");
          continue;
        }
        pc.except.push_back(*x);
      }
    }
    peer.v = pc;
    return peer;
  }
  if (!pod.defined() && !nss.defined()) {
    r.error(DiagId::MissingField, c, "a peer must specify podSelector, namespaceSelector or ipBlock",
            "to allow every source, leave out 'from' (or 'to') entirely");
    return std::nullopt;
  }
  ir::PeerEndpoints pe;
  if (pod.defined()) {
    auto s = r.selector(pod);
    if (!s) return std::nullopt;
    pe.sel.pod = *s;
  }
  if (nss.defined()) {
    auto s = r.selector(nss);
    if (!s) return std::nullopt;
    pe.sel.ns = *s;
  } else {
    pe.sel.ns = namespace_named(ns);
  }
  peer.v = pe;
  return peer;
}

/// Reads one ingress/egress list; valid rules of an effective direction are appended to `out`.
void read_rules(Reader& r, const ir::Policy& pol, const Cursor& list, ir::Direction dir, bool effective,
                std::vector<ir::Rule>& out) {
  const char* peers_key = dir == ir::Direction::Ingress ? "from" : "to";
  for (size_t i = 0; i < list.node.size(); ++i) {
    Cursor item = list.item(i);
    if (!r.expect_map(item)) continue;
    r.check_fields(item, {peers_key, "ports"});
    ir::Rule rule;
    rule.dir = dir;
    rule.action = ir::Action::Allow;
    rule.index = static_cast<int>(i);
    rule.path = list.path + "[" + std::to_string(i) + "]";
    rule.loc = r.loc(item);
    bool ok = true;
    Cursor peers = item.child(peers_key);
    if (!peers.present() || (peers.node.IsSequence() && peers.node.size() == 0)) {
      rule.peers.push_back(ir::Peer{ir::PeerEntity{ir::Entity::All}, r.loc(item)});
    } else if (r.expect_list(peers)) {
      for (size_t j = 0; j < peers.node.size(); ++j) {
        size_t errors_before = r.diags().error_count();
        if (auto p = read_peer(r, peers.item(j), pol.ns_name))
          rule.peers.push_back(*p);
        else if (r.diags().error_count() != errors_before)
          ok = false;  // without a new error the peer was skipped with a warning (an IPv6 ipBlock)
      }
    }
    Cursor ports = item.child("ports");
    if (ports.present() && r.expect_list(ports) && ports.node.size() > 0) {
      ir::PortGroup g;
      g.loc = r.loc(ports);
      for (size_t j = 0; j < ports.node.size(); ++j)
        if (auto pm = read_port(r, ports.item(j)))
          g.ports.push_back(*pm);
        else
          ok = false;
      rule.ports.push_back(std::move(g));
    }
    if (ok && effective) out.push_back(std::move(rule));
  }
}

}  // namespace

void parse_network_policy(LoadContext& ctx, Reader& r, const Cursor& obj) {
  r.check_fields(obj, {"apiVersion", "kind", "metadata", "spec", "status"});
  if (auto av = obj.child("apiVersion"); av.present())
    if (auto s = r.string(av); s && *s != "networking.k8s.io/v1")
      r.warn(DiagId::DeprecatedApi, av, "NetworkPolicy apiVersion '" + *s + "' is not served by current clusters",
             "use 'networking.k8s.io/v1'");
  Meta m = read_meta(r, obj, true);
  if (!m.ok || !ctx.claim_name(r, obj, "NetworkPolicy", m.ns, m.name)) return;
  Cursor spec = obj.child("spec");
  if (!spec.present()) {
    r.error(DiagId::MissingField, obj, "NetworkPolicy '" + m.name + "' has no 'spec'");
    return;
  }
  if (!r.expect_map(spec)) return;
  r.check_fields(spec, {"podSelector", "policyTypes", "ingress", "egress"});
  ir::Policy pol;
  pol.kind = ir::PolicyKind::NetworkPolicy;
  pol.name = m.name;
  pol.ns_name = m.ns;
  pol.annotations = m.annotations;
  pol.loc = m.loc;
  // After an error the rest of the policy is still read, to report every problem in one run; the
  // policy is then left out of the model.
  bool valid = true;
  Cursor ps = spec.child("podSelector");
  if (!ps.defined()) {
    r.error(DiagId::MissingField, spec, "'spec.podSelector' is required",
            "use 'podSelector: {}' to select every pod in the namespace");
    valid = false;
  } else if (auto subj = r.selector(ps)) {
    pol.subject.ns = namespace_named(m.ns);
    pol.subject.pod = *subj;
    pol.subject_loc = r.loc(ps);
  } else {
    valid = false;
  }

  Cursor ingress = spec.child("ingress");
  Cursor egress = spec.child("egress");
  bool has_ingress = ingress.present() && ingress.node.IsSequence() && ingress.node.size() > 0;
  bool has_egress = egress.present() && egress.node.IsSequence() && egress.node.size() > 0;
  bool types_ok = true;
  Cursor types = spec.child("policyTypes");
  // An empty list is defaulted like a missing one (SetDefaults_NetworkPolicy: len == 0).
  if (types.present() && !(types.node.IsSequence() && types.node.size() == 0)) {
    if (!r.expect_list(types)) {
      types_ok = false;
    } else {
      for (size_t i = 0; i < types.node.size(); ++i) {
        Cursor t = types.item(i);
        auto s = r.string(t);
        if (!s) {
          types_ok = false;
          continue;
        }
        if (*s == "Ingress") {
          pol.isolates[0] = true;
          pol.isolation_loc[0] = r.loc(t);
        } else if (*s == "Egress") {
          pol.isolates[1] = true;
          pol.isolation_loc[1] = r.loc(t);
        } else {
          auto best = ir::closest_match(*s, {"Ingress", "Egress"});
          r.error(DiagId::InvalidValue, t, "unknown policy type '" + *s + "'; expected Ingress or Egress",
                  best ? "did you mean '" + *best + "'?" : "");
          types_ok = false;
        }
      }
    }
  } else {
    pol.isolates[0] = true;
    pol.isolation_loc[0] = r.loc(ps);
    if (has_egress) {
      pol.isolates[1] = true;
      pol.isolation_loc[1] = r.key_loc(spec, "egress");
    }
  }
  if (!types_ok) valid = false;
  if (has_ingress && !pol.isolates[0])
    r.warn(DiagId::IgnoredRules, ingress, "ingress rules are ignored: policyTypes does not list Ingress",
           "add Ingress to policyTypes, or remove the ingress rules");
  if (has_egress && !pol.isolates[1])
    r.warn(DiagId::IgnoredRules, egress, "egress rules are ignored: policyTypes does not list Egress",
           "add Egress to policyTypes, or remove the egress rules");
  std::vector<ir::Rule> rules;
  if (ingress.present() && r.expect_list(ingress))
    read_rules(r, pol, ingress, ir::Direction::Ingress, pol.isolates[0], rules);
  if (egress.present() && r.expect_list(egress))
    read_rules(r, pol, egress, ir::Direction::Egress, pol.isolates[1], rules);
  if (!valid) return;
  ir::Policy& p = add_policy(ctx, std::move(pol));
  for (auto& rule : rules) add_rule(ctx, ctx.model.policies[p.id.v], std::move(rule));
}

}  // namespace polc::frontend
