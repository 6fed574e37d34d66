// cilium.io/v2 CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy -> IR.
// Semantics follow docs/semantics.md (namespace scoping, wildcards, default deny, L7).
#include "load_context.h"
#include "polc/frontend/regex_parser.h"
#include "policy_common.h"

namespace polc::frontend {

using ir::DiagId;

namespace {

constexpr const char* kNsNameKey = "io.kubernetes.pod.namespace";
constexpr const char* kNsLabelsPrefix = "io.cilium.k8s.namespace.labels.";

/// A Cilium endpoint selector split into namespace and pod parts.
struct CiliumSelector {
  ir::EndpointSelector sel;
  bool names_namespace = false;        ///< mentions io.kubernetes.pod.namespace
  std::optional<ir::Entity> reserved;  ///< `reserved:<entity>` selector
  bool ok = true;
};

/// Strips a Cilium label source prefix ("k8s:", "any:", ...); reports the source in `src`.
std::string strip_source(const std::string& key, std::string* src) {
  static const char* sources[] = {"k8s", "any", "container", "unspec", "reserved", "cidr", "fqdn", "cilium-generated"};
  auto colon = key.find(':');
  if (colon != std::string::npos) {
    std::string pre = key.substr(0, colon);
    for (const char* s : sources)
      if (pre == s) {
        *src = pre;
        return key.substr(colon + 1);
      }
  }
  *src = "";
  return key;
}

CiliumSelector read_cilium_selector(Reader& r, const Cursor& c) {
  CiliumSelector out;
  auto raw = r.selector(c, false);
  if (!raw) {
    out.ok = false;
    return out;
  }
  for (const auto& req : raw->reqs) {
    std::string src;
    std::string key = strip_source(req.key, &src);
    if (src == "reserved") {
      auto e = ir::parse_entity(key);
      if (!e || req.op != ir::SelectorOp::In) {
        r.error(DiagId::InvalidEntity, c, "unsupported reserved label '" + req.key + "' in selector");
        out.ok = false;
        continue;
      }
      out.reserved = *e;
      continue;
    }
    if (auto why = validate_label_key(key); !why.empty()) {
      r.error(DiagId::InvalidLabel, c, "invalid label key '" + req.key + "': " + why);
      out.ok = false;
      continue;
    }
    // matchLabels values were not checked by Reader::selector (Cilium keys skip that path);
    // the CRD schema applies the Kubernetes label-value pattern to them.
    bool bad_value = false;
    for (const auto& v : req.values)
      if (auto why = validate_label_value(v); !why.empty()) {
        r.error(DiagId::InvalidLabel, c, "invalid label value '" + v + "' for '" + req.key + "': " + why);
        bad_value = true;
      }
    if (bad_value) {
      out.ok = false;
      continue;
    }
    ir::Requirement q = req;
    if (key == kNsNameKey) {
      q.key = ir::kNamespaceNameLabel;
      out.sel.ns.add(q);
      out.names_namespace = true;
    } else if (key.rfind(kNsLabelsPrefix, 0) == 0) {
      q.key = key.substr(std::string(kNsLabelsPrefix).size());
      out.sel.ns.add(q);
    } else if (key.rfind("io.cilium.k8s.policy.", 0) == 0) {
      r.warn(DiagId::UnsupportedField, c,
             "selector key '" + req.key +
                 "' (service account / cluster) is not modelled; it is treated as matching "
                 "every pod");
    } else {
      q.key = key;
      out.sel.pod.add(q);
    }
  }
  return out;
}

std::optional<ir::PortMatch> read_cilium_port(Reader& r, const Cursor& p, bool* is_tcp_only, bool* is_all_ports) {
  if (!r.expect_map(p, false)) return std::nullopt;
  r.check_fields(p, {"port", "endPort", "protocol"});
  ir::PortMatch pm;
  pm.loc = r.loc(p);
  pm.protos = ir::ProtoSet::with_ports();
  *is_tcp_only = false;
  if (auto pc = p.child("protocol"); pc.present()) {
    auto s = r.string(pc);
    if (!s) return std::nullopt;
    if (*s == "TCP")
      pm.protos = ir::ProtoSet(ir::ProtoSet::kTcp), *is_tcp_only = true;
    else if (*s == "UDP")
      pm.protos = ir::ProtoSet(ir::ProtoSet::kUdp);
    else if (*s == "SCTP")
      pm.protos = ir::ProtoSet(ir::ProtoSet::kSctp);
    else if (*s == "ANY")
      pm.protos = ir::ProtoSet::with_ports();
    else if (*s == "ICMP")
      pm.protos = ir::ProtoSet(ir::ProtoSet::kIcmp);
    else {
      std::string up;
      for (char ch : *s) up += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      bool known = up == "TCP" || up == "UDP" || up == "SCTP" || up == "ANY" || up == "ICMP";
      r.error(DiagId::InvalidProtocol, pc, "unsupported protocol '" + *s + "'; expected TCP, UDP, SCTP, ICMP or ANY",
              known ? "protocols are upper-case: '" + up + "'" : "");
      return std::nullopt;
    }
  }
  Cursor port = p.child("port");
  Cursor end = p.child("endPort");
  *is_all_ports = false;
  if (!port.present()) {
    pm.range = ir::PortRange{0, 65535};
    *is_all_ports = true;
    if (end.present()) r.warn(DiagId::InvalidPortRange, end, "endPort without port has no effect");
    return pm;
  }
  if (!port.node.IsScalar()) {
    r.error(DiagId::WrongType, port, "'" + port.path + "' must be a port number or name");
    return std::nullopt;
  }
  std::string text = port.node.Scalar();
  bool digits = !text.empty() && std::all_of(text.begin(), text.end(),
                                             [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
  bool negative = text.size() > 1 && text[0] == '-' && std::all_of(text.begin() + 1, text.end(), [](char ch) {
                    return std::isdigit(static_cast<unsigned char>(ch));
                  });
  if (digits || negative) {
    if (text.size() > 6 || !digits) {
      r.error(DiagId::InvalidPort, port, "port '" + text + "' is out of range (0-65535)");
      return std::nullopt;
    }
    long v = std::stol(text);
    if (v > 65535) {
      r.error(DiagId::InvalidPort, port, "port " + text + " is out of range (0-65535)");
      return std::nullopt;
    }
    if (v == 0) {
      pm.range = ir::PortRange{0, 65535};
      *is_all_ports = true;
      if (end.present()) r.warn(DiagId::InvalidPortRange, end, "endPort with port 0 (all ports) has no effect");
      return pm;
    }
    pm.range = ir::PortRange{static_cast<uint16_t>(v), static_cast<uint16_t>(v)};
    if (end.present()) {
      auto e = r.integer(end, true);
      if (!e) return std::nullopt;
      if (*e < 0 || *e > 65535) {
        r.error(DiagId::InvalidPort, end, "endPort " + std::to_string(*e) + " is out of range (1-65535)");
        return std::nullopt;
      }
      if (*e != 0 && *e < v) {
        r.error(DiagId::InvalidPortRange, end, "endPort " + std::to_string(*e) + " is below port " + text,
                "endPort must be greater than or equal to port");
        return std::nullopt;
      }
      if (*e != 0) pm.range.hi = static_cast<uint16_t>(*e);
    }
    return pm;
  }
  std::string lower;
  for (char ch : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (auto why = validate_port_name(lower); !why.empty()) {
    r.error(DiagId::InvalidPort, port, "invalid port name '" + text + "': " + why);
    return std::nullopt;
  }
  if (end.present()) {
    r.error(DiagId::InvalidPortRange, end, "endPort cannot be used with the named port '" + text + "'");
    return std::nullopt;
  }
  pm.named = lower;
  return pm;
}

std::optional<ir::Regex> read_regex(Reader& r, const Cursor& c) {
  auto s = r.string(c);
  if (!s) return std::nullopt;
  RegexError err;
  auto re = parse_regex(*s, &err);
  if (!re) {
    ir::SourceLoc loc = r.loc(c);
    // Point into the pattern when it sits on one line (plain or quoted scalar).
    if (loc.col) loc.col += static_cast<uint32_t>(err.column) + (Reader::quoted(c.node) ? 1 : 0);
    r.diags().report(DiagId::InvalidRegex, loc, "invalid regex '" + *s + "': " + err.message,
                     *s == "*" ? "to match anything, leave the field out or use '.*'" : "");
    return std::nullopt;
  }
  re->loc = r.loc(c);
  return re;
}

std::vector<ir::HttpMatch> read_http(Reader& r, const Cursor& list, bool* ok) {
  std::vector<ir::HttpMatch> out;
  if (!r.expect_list(list)) {
    *ok = false;
    return out;
  }
  for (size_t i = 0; i < list.node.size(); ++i) {
    Cursor h = list.item(i);
    if (!r.expect_map(h)) {
      *ok = false;
      continue;
    }
    r.check_fields(h, {"method", "path", "host", "headers", "headerMatches"});
    ir::HttpMatch hm;
    hm.loc = r.loc(h);
    auto field = [&](const char* name, std::optional<ir::Regex>& dst) {
      Cursor c = h.child(name);
      if (!c.present()) return;
      if (c.node.IsScalar() && c.node.Scalar().empty()) return;
      auto re = read_regex(r, c);
      if (!re) *ok = false;
      dst = std::move(re);
    };
    field("method", hm.method);
    field("path", hm.path);
    field("host", hm.host);
    if (auto hs = h.child("headers"); hs.present()) {
      // As Cilium's envoy translation: "Name" = present; "Name value" (split at the first
      // space, trailing ':' dropped from the name, so "Name: value" too) = exact value.
      for (const auto& text : r.string_list(hs)) {
        ir::HeaderMatch m;
        auto space = text.find(' ');
        std::string name = text.substr(0, space);
        if (space != std::string::npos) {
          while (!name.empty() && name.back() == ':') name.pop_back();
          m.value = text.substr(space + 1);
        }
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        m.name = name;
        hm.headers.push_back(m);
      }
    }
    if (auto hs = h.child("headerMatches"); hs.present() && r.expect_list(hs)) {
      for (size_t j = 0; j < hs.node.size(); ++j) {
        Cursor e = hs.item(j);
        if (!r.expect_map(e, false)) continue;
        r.check_fields(e, {"name", "value", "mismatch", "secret"});
        if (e.child("secret").present())
          r.warn(DiagId::UnsupportedField, e.child("secret"), "header values from secrets are not modelled");
        if (e.child("mismatch").present())
          r.warn(DiagId::UnsupportedField, e.child("mismatch"),
                 "header mismatch actions are not modelled; a mismatch denies the request");
        auto n = e.child("name");
        if (!n.present()) {
          r.error(DiagId::MissingField, e, "headerMatches entry needs a 'name'");
          continue;
        }
        ir::HeaderMatch m;
        if (auto s = r.string(n)) m.name = *s;
        for (auto& ch : m.name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (auto v = e.child("value"); v.present())
          if (auto s = r.string(v)) m.value = *s;
        hm.headers.push_back(m);
      }
    }
    out.push_back(std::move(hm));
  }
  return out;
}

/// toPorts -> port groups. `deny`: L7 rules are not allowed.
bool read_to_ports(Reader& r, const Cursor& list, bool deny, std::vector<ir::PortGroup>& out) {
  bool ok = true;
  if (!r.expect_list(list)) return false;
  for (size_t i = 0; i < list.node.size(); ++i) {
    Cursor pr = list.item(i);
    if (!r.expect_map(pr, false)) {
      ok = false;
      continue;
    }
    r.check_fields(pr, {"ports", "rules", "originatingTLS", "terminatingTLS", "serverNames", "listener"});
    for (const char* f : {"originatingTLS", "terminatingTLS", "serverNames", "listener"})
      if (pr.child(f).present())
        r.warn(DiagId::UnsupportedField, pr.child(f), std::string("'") + f + "' is not modelled; it is ignored");
    ir::PortGroup g;
    g.loc = r.loc(pr);
    bool all_tcp = true, any_all_ports = false;
    if (auto ports = pr.child("ports"); ports.present() && r.expect_list(ports)) {
      for (size_t j = 0; j < ports.node.size(); ++j) {
        bool tcp = false, allp = false;
        if (auto pm = read_cilium_port(r, ports.item(j), &tcp, &allp)) {
          g.ports.push_back(*pm);
          all_tcp = all_tcp && tcp;
          any_all_ports = any_all_ports || allp;
        } else {
          ok = false;
        }
      }
    }
    Cursor rules = pr.child("rules");
    if (rules.present() && r.expect_map(rules)) {
      r.check_fields(rules, {"http", "kafka", "dns", "l7proto", "l7"});
      if (deny) {
        r.error(DiagId::InvalidValue, rules, "deny rules cannot have L7 'rules'",
                "deny traffic at L4, or allow only the requests you want");
        ok = false;
      }
      for (const char* f : {"kafka", "l7proto", "l7"})
        if (rules.child(f).present())
          r.warn(DiagId::UnsupportedField, rules.child(f),
                 std::string("L7 '") + f + "' rules are not modelled; the port is treated as allowed at L4");
      if (rules.child("dns").present())
        r.warn(DiagId::UnsupportedField, rules.child("dns"),
               "DNS name filtering is not modelled; the port is treated as allowed at L4");
      if (auto http = rules.child("http"); http.present()) {
        g.http = read_http(r, http, &ok);
        if (g.http.empty() && http.node.IsSequence()) g.http.push_back(ir::HttpMatch{});
        if (g.ports.empty() || !all_tcp) {
          r.error(DiagId::InvalidProtocol, pr, "HTTP rules need 'protocol: TCP' on every port of this toPorts entry",
                  "add 'protocol: TCP' next to the port");
          ok = false;
        } else if (any_all_ports) {
          r.error(DiagId::InvalidPort, pr, "HTTP rules need a specific port, not port 0 (all ports)");
          ok = false;
        }
      }
    }
    out.push_back(std::move(g));
  }
  return ok;
}

std::optional<uint16_t> icmp_type(Reader& r, const Cursor& c) {
  static const std::pair<const char*, uint16_t> names[] = {{"EchoReply", 0},         {"DestinationUnreachable", 3},
                                                           {"Redirect", 5},          {"Echo", 8},
                                                           {"EchoRequest", 8},       {"RouterAdvertisement", 9},
                                                           {"RouterSelection", 10},  {"TimeExceeded", 11},
                                                           {"ParameterProblem", 12}, {"Timestamp", 13},
                                                           {"TimestampReply", 14}};
  if (!c.node.IsScalar()) {
    r.error(DiagId::WrongType, c, "ICMP type must be a number or a name");
    return std::nullopt;
  }
  std::string s = c.node.Scalar();
  if (!s.empty() &&
      std::all_of(s.begin(), s.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); })) {
    if (s.size() > 3 || std::stoi(s) > 255) {
      r.error(DiagId::InvalidValue, c, "ICMP type " + s + " is out of range (0-255)");
      return std::nullopt;
    }
    return static_cast<uint16_t>(std::stoi(s));
  }
  for (const auto& [n, v] : names)
    if (s == n) return v;
  r.error(DiagId::InvalidValue, c, "unknown ICMP type '" + s + "'");
  return std::nullopt;
}

bool read_icmps(Reader& r, const Cursor& list, std::vector<ir::PortGroup>& out) {
  bool ok = true;
  if (!r.expect_list(list)) return false;
  for (size_t i = 0; i < list.node.size(); ++i) {
    Cursor ic = list.item(i);
    if (!r.expect_map(ic, false)) continue;
    r.check_fields(ic, {"fields"});
    ir::PortGroup g;
    g.loc = r.loc(ic);
    Cursor fields = ic.child("fields");
    if (fields.present() && r.expect_list(fields)) {
      for (size_t j = 0; j < fields.node.size(); ++j) {
        Cursor f = fields.item(j);
        if (!r.expect_map(f, false)) continue;
        r.check_fields(f, {"type", "family"});
        if (auto fam = f.child("family"); fam.present())
          if (auto s = r.string(fam); s && *s == "IPv6") continue;  // IPv6 is not modelled
        auto t = f.child("type");
        if (!t.present()) {
          r.error(DiagId::MissingField, f, "ICMP field needs a 'type'");
          ok = false;
          continue;
        }
        if (auto v = icmp_type(r, t)) {
          ir::PortMatch pm;
          pm.protos = ir::ProtoSet(ir::ProtoSet::kIcmp);
          pm.range = ir::PortRange{*v, *v};
          pm.loc = r.loc(f);
          g.ports.push_back(pm);
        } else {
          ok = false;
        }
      }
    }
    if (!g.ports.empty()) out.push_back(std::move(g));
  }
  return ok;
}

struct SpecContext {
  std::string ns;  ///< empty for CCNP
  bool clusterwide = false;
};

/// One ingress/egress/ingressDeny/egressDeny item -> rule. Returns false when invalid.
bool read_rule(Reader& r, const Cursor& item, const SpecContext& sc, ir::Direction dir, bool deny, ir::Rule& rule) {
  bool in = dir == ir::Direction::Ingress;
  std::vector<std::string> fields;
  auto f = [&](const char* ingress_name, const char* egress_name) {
    const char* n = in ? ingress_name : egress_name;
    if (n) fields.push_back(n);
    return n;
  };
  const char* k_endpoints = f("fromEndpoints", "toEndpoints");
  const char* k_requires = f("fromRequires", "toRequires");
  const char* k_cidr = f("fromCIDR", "toCIDR");
  const char* k_cidrset = f("fromCIDRSet", "toCIDRSet");
  const char* k_entities = f("fromEntities", "toEntities");
  const char* k_groups = f("fromGroups", "toGroups");
  const char* k_nodes = f("fromNodes", "toNodes");
  const char* k_services = f(nullptr, "toServices");
  const char* k_fqdns = f(nullptr, "toFQDNs");
  fields.push_back("toPorts");
  fields.push_back("icmps");
  if (!deny) fields.push_back("authentication");
  if (!r.expect_map(item)) return false;
  r.check_fields(item, fields);
  if (!deny && item.child("authentication").present())
    r.warn(DiagId::UnsupportedField, item.child("authentication"), "mutual authentication is not modelled");

  bool ok = true;
  // Cilium accepts only one kind of L3 peer per rule.
  std::vector<const char*> l3_present;
  for (const char* k : {k_endpoints, k_cidr, k_cidrset, k_entities, k_groups, k_nodes, k_services, k_fqdns})
    if (k && item.child(k).present() && item.child(k).node.IsSequence() && item.child(k).node.size() > 0)
      l3_present.push_back(k);
  if (l3_present.size() > 1) {
    r.error(DiagId::InvalidValue, item,
            std::string("combining ") + l3_present[0] + " and " + l3_present[1] + " is not supported yet",
            "Cilium rejects such a rule; split it into one rule per peer kind");
    return false;
  }
  bool any_l3_field = false;
  bool empty_l3_list = false;
  auto note_field = [&](const char* k) -> Cursor {
    Cursor c = item.child(k);
    if (c.defined()) {
      any_l3_field = true;
      if (c.node.IsNull() || (c.node.IsSequence() && c.node.size() == 0)) {
        empty_l3_list = true;
        r.warn(DiagId::EmptyPeerList, c, std::string("'") + k + ": []' selects nothing, so this rule allows nothing",
               std::string("leave '") + k + "' out to mean every peer");
      }
    }
    return c;
  };
  if (Cursor c = note_field(k_endpoints); c.present() && r.expect_list(c)) {
    for (size_t i = 0; i < c.node.size(); ++i) {
      Cursor s = c.item(i);
      CiliumSelector cs = read_cilium_selector(r, s);
      if (!cs.ok) {
        ok = false;
        continue;
      }
      ir::Peer p;
      p.loc = r.loc(s);
      if (cs.reserved) {
        p.v = ir::PeerEntity{*cs.reserved};
      } else {
        ir::PeerEndpoints pe{cs.sel};
        if (!cs.names_namespace && !sc.clusterwide) {
          ir::LabelSelector ns = namespace_named(sc.ns);
          for (const auto& q : cs.sel.ns.reqs) ns.add(q);
          pe.sel.ns = ns;
        }
        p.v = pe;
      }
      rule.peers.push_back(p);
    }
  }
  // read_cidr fails without an error only for IPv6, which is skipped (not modelled).
  auto cidr_failed = [&](size_t errors_before) { return r.diags().error_count() != errors_before; };
  if (Cursor c = note_field(k_cidr); c.present() && r.expect_list(c)) {
    for (size_t i = 0; i < c.node.size(); ++i) {
      size_t errors_before = r.diags().error_count();
      if (auto cidr = read_cidr(r, c.item(i), true))
        rule.peers.push_back(ir::Peer{ir::PeerCidr{*cidr, {}, false}, r.loc(c.item(i))});
      else if (cidr_failed(errors_before))
        ok = false;
    }
  }
  if (Cursor c = note_field(k_cidrset); c.present() && r.expect_list(c)) {
    for (size_t i = 0; i < c.node.size(); ++i) {
      Cursor e = c.item(i);
      if (!r.expect_map(e, false)) {
        ok = false;
        continue;
      }
      r.check_fields(e, {"cidr", "except", "cidrGroupRef", "cidrGroupSelector"});
      if (e.child("cidrGroupRef").present() || e.child("cidrGroupSelector").present()) {
        r.warn(DiagId::UnresolvablePeer, e, "CIDR groups are not resolved statically; this peer matches nothing");
        rule.peers.push_back(ir::Peer{ir::PeerUnresolved{"cidrGroupRef"}, r.loc(e)});
        continue;
      }
      Cursor cc = e.child("cidr");
      if (!cc.present()) {
        r.error(DiagId::MissingField, e, "CIDR set entry needs a 'cidr'");
        ok = false;
        continue;
      }
      size_t errors_before = r.diags().error_count();
      auto base = read_cidr(r, cc, true);
      if (!base) {
        if (cidr_failed(errors_before)) ok = false;
        continue;
      }
      ir::PeerCidr pc{*base, {}, false};
      if (Cursor ex = e.child("except"); ex.present() && r.expect_list(ex))
        for (size_t j = 0; j < ex.node.size(); ++j) {
          size_t except_errors_before = r.diags().error_count();
          auto x = read_cidr(r, ex.item(j), true);
          if (!x) {
            if (cidr_failed(except_errors_before)) ok = false;
            continue;
          }
          if (!base->contains(*x)) {
            r.warn(DiagId::InvalidCidr, ex.item(j),
                   "except '" + x->str() + "' lies outside cidr '" + base->str() + "' and has no effect");
          } else {
            if (*x == *base)
              r.warn(DiagId::InvalidCidr, ex.item(j),
                     "except '" + x->str() + "' equals the cidr, so this entry matches nothing");
            pc.except.push_back(*x);
          }
        }
      rule.peers.push_back(ir::Peer{pc, r.loc(e)});
    }
  }
  if (Cursor c = note_field(k_entities); c.present() && r.expect_list(c)) {
    for (size_t i = 0; i < c.node.size(); ++i) {
      Cursor e = c.item(i);
      auto s = r.string(e);
      if (!s) {
        ok = false;
        continue;
      }
      if (*s == "world-ipv6") continue;  // IPv6 is not modelled
      auto ent = ir::parse_entity(*s);
      if (!ent) {
        std::vector<std::string> names{"all",  "world",  "cluster",   "host",    "remote-node", "kube-apiserver",
                                       "init", "health", "unmanaged", "ingress", "world-ipv4",  "world-ipv6"};
        auto best = ir::closest_match(*s, names);
        r.error(DiagId::InvalidEntity, e, "unknown entity '" + *s + "'", best ? "did you mean '" + *best + "'?" : "");
        ok = false;
        continue;
      }
      rule.peers.push_back(ir::Peer{ir::PeerEntity{*ent}, r.loc(e)});
    }
  }
  auto unresolved = [&](const char* k, const std::string& why) {
    if (!k) return;
    Cursor c = note_field(k);
    if (!c.present()) return;
    r.warn(DiagId::UnresolvablePeer, c,
           std::string("'") + k + "' " + why + "; this peer matches nothing in polc's analysis");
    rule.peers.push_back(ir::Peer{ir::PeerUnresolved{k}, r.loc(c)});
  };
  unresolved(k_fqdns, "depends on DNS answers at run time");
  unresolved(k_services, "is not resolved statically");
  unresolved(k_groups, "depends on a cloud provider");
  unresolved(k_nodes, "selects nodes, which polc does not model as peers");
  if (k_requires && item.child(k_requires).present()) {
    r.warn(
        DiagId::UnsupportedField, item.child(k_requires),
        std::string("'") + k_requires + "' is deprecated and not modelled; this rule is treated as allowing nothing");
    rule.peers.clear();
    any_l3_field = true;
    empty_l3_list = true;
  }

  bool has_l4 = false;
  if (Cursor tp = item.child("toPorts"); tp.present()) {
    has_l4 = true;
    if (!read_to_ports(r, tp, deny, rule.ports)) ok = false;
  }
  if (Cursor ic = item.child("icmps"); ic.present()) {
    has_l4 = true;
    if (!read_icmps(r, ic, rule.ports)) ok = false;
  }
  if (!any_l3_field) {
    // No L3 field: with ports this is every peer on those ports; without, it allows nothing.
    if (has_l4) rule.peers.push_back(ir::Peer{ir::PeerEntity{ir::Entity::All}, r.loc(item)});
  } else if (empty_l3_list && rule.peers.empty()) {
    rule.ports.clear();
  }
  (void)sc;
  return ok;
}

void read_spec(LoadContext& ctx, Reader& r, const Cursor& spec, const Meta& m, bool clusterwide, int spec_index) {
  if (!r.expect_map(spec, false)) return;
  r.check_fields(spec, {"endpointSelector", "nodeSelector", "ingress", "ingressDeny", "egress", "egressDeny", "labels",
                        "description", "enableDefaultDeny", "log"});
  const char* kind = clusterwide ? "CiliumClusterwideNetworkPolicy" : "CiliumNetworkPolicy";
  Cursor es = spec.child("endpointSelector");
  Cursor ns_sel = spec.child("nodeSelector");
  if (ns_sel.defined()) {
    if (!clusterwide) {
      r.error(DiagId::InvalidValue, ns_sel, "nodeSelector is only valid in a CiliumClusterwideNetworkPolicy");
    } else {
      r.warn(DiagId::UnsupportedField, ns_sel, "host policies (nodeSelector) are not modelled; this spec is skipped");
    }
    return;
  }
  if (!es.defined()) {
    r.error(DiagId::MissingField, spec, std::string(kind) + " spec needs an 'endpointSelector'",
            "use 'endpointSelector: {}' to select every endpoint");
    return;
  }
  // An invalid endpointSelector drops the spec, but its rules are still read to report every
  // problem in one run (the error count check below leaves the spec out).
  size_t errors_before_selector = ctx.diags.error_count();
  CiliumSelector subj = read_cilium_selector(r, es);
  SpecContext sc{m.ns, clusterwide};
  ir::Policy pol;
  pol.kind = clusterwide ? ir::PolicyKind::CiliumClusterwideNetworkPolicy : ir::PolicyKind::CiliumNetworkPolicy;
  pol.name = m.name;
  pol.ns_name = clusterwide ? "" : m.ns;
  pol.spec_index = spec_index;
  pol.annotations = m.annotations;
  pol.loc = m.loc;
  pol.subject_loc = r.loc(es);
  if (subj.reserved) {
    r.warn(DiagId::UnsupportedField, es, "selecting reserved identities in endpointSelector is not modelled");
    return;
  }
  pol.subject = subj.sel;
  if (!clusterwide) {
    ir::LabelSelector ns = namespace_named(m.ns);
    for (const auto& q : subj.sel.ns.reqs) ns.add(q);
    pol.subject.ns = ns;
  }

  struct Section {
    const char* key;
    ir::Direction dir;
    bool deny;
  };
  const Section sections[] = {{"ingress", ir::Direction::Ingress, false},
                              {"ingressDeny", ir::Direction::Ingress, true},
                              {"egress", ir::Direction::Egress, false},
                              {"egressDeny", ir::Direction::Egress, true}};
  bool has_items[2] = {false, false};
  bool any_section = false;
  for (const auto& s : sections) {
    Cursor c = spec.child(s.key);
    if (c.present() && c.node.IsSequence() && c.node.size() > 0) {
      has_items[static_cast<int>(s.dir)] = true;
      any_section = true;
      if (!pol.isolation_loc[static_cast<int>(s.dir)].line)
        pol.isolation_loc[static_cast<int>(s.dir)] = r.key_loc(spec, s.key);
    }
  }
  if (!any_section) {
    r.error(DiagId::InvalidValue, spec, "rule must have at least one of ingress, ingressDeny, egress, egressDeny",
            "to put endpoints in default deny, use 'ingress: [{}]' or 'egress: [{}]'");
    return;
  }
  // Default deny per direction: on when the direction has rules, unless enableDefaultDeny says false.
  bool dd[2] = {has_items[0], has_items[1]};
  if (Cursor edd = spec.child("enableDefaultDeny"); edd.present() && r.expect_map(edd)) {
    r.check_fields(edd, {"ingress", "egress"});
    const char* names[2] = {"ingress", "egress"};
    for (int d = 0; d < 2; ++d)
      if (Cursor v = edd.child(names[d]); v.present())
        if (auto b = r.boolean(v)) {
          if (*b && !has_items[d])
            r.warn(DiagId::InvalidValue, v,
                   std::string("enableDefaultDeny.") + names[d] + " has no effect without " + names[d] + " rules");
          if (!*b) dd[d] = false;
        }
  }
  pol.isolates = {dd[0], dd[1]};
  std::vector<ir::Rule> rules;
  for (const auto& s : sections) {
    Cursor c = spec.child(s.key);
    if (!c.present() || !r.expect_list(c)) continue;
    for (size_t i = 0; i < c.node.size(); ++i) {
      ir::Rule rule;
      rule.dir = s.dir;
      rule.action = s.deny ? ir::Action::Deny : ir::Action::Allow;
      rule.index = static_cast<int>(i);
      rule.path = (spec_index >= 0 ? "specs[" + std::to_string(spec_index) + "]." : std::string("spec.")) + s.key +
                  "[" + std::to_string(i) + "]";
      rule.loc = r.loc(c.item(i));
      if (read_rule(r, c.item(i), sc, s.dir, s.deny, rule)) rules.push_back(std::move(rule));
    }
  }
  // An invalid rule rejects the whole policy.
  if (!subj.ok || ctx.diags.error_count() != errors_before_selector) return;
  ir::Policy& p = add_policy(ctx, std::move(pol));
  for (auto& rule : rules) add_rule(ctx, ctx.model.policies[p.id.v], std::move(rule));
}

}  // namespace

void parse_cilium_policy(LoadContext& ctx, Reader& r, const Cursor& obj, bool clusterwide) {
  r.check_fields(obj, {"apiVersion", "kind", "metadata", "spec", "specs", "status"});
  if (auto av = obj.child("apiVersion"); av.present())
    if (auto s = r.string(av); s && *s != "cilium.io/v2")
      r.warn(DiagId::DeprecatedApi, av, "Cilium policy apiVersion '" + *s + "' is not 'cilium.io/v2'");
  const char* kind = clusterwide ? "CiliumClusterwideNetworkPolicy" : "CiliumNetworkPolicy";
  Meta m = read_meta(r, obj, !clusterwide);
  if (!m.ok || !ctx.claim_name(r, obj, kind, clusterwide ? "" : m.ns, m.name)) return;
  Cursor spec = obj.child("spec");
  Cursor specs = obj.child("specs");
  if (!spec.present() && !specs.present()) {
    r.error(DiagId::MissingField, obj, std::string(kind) + " '" + m.name + "' has neither 'spec' nor 'specs'");
    return;
  }
  if (spec.present()) read_spec(ctx, r, spec, m, clusterwide, -1);
  if (specs.present() && r.expect_list(specs))
    for (size_t i = 0; i < specs.node.size(); ++i)
      read_spec(ctx, r, specs.item(i), m, clusterwide, static_cast<int>(i));
}

}  // namespace polc::frontend
