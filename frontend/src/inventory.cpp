// Inventory kinds: Namespace, Node, Pod, workloads (pod templates), Service.
#include <algorithm>

#include "load_context.h"

namespace polc::frontend {

using ir::DiagId;

namespace {

const std::vector<std::string> kTopFields{"apiVersion", "kind", "metadata", "spec", "status"};

const std::vector<std::string> kPodSpecFields{"activeDeadlineSeconds",
                                              "affinity",
                                              "automountServiceAccountToken",
                                              "containers",
                                              "dnsConfig",
                                              "dnsPolicy",
                                              "enableServiceLinks",
                                              "ephemeralContainers",
                                              "hostAliases",
                                              "hostIPC",
                                              "hostNetwork",
                                              "hostPID",
                                              "hostUsers",
                                              "hostname",
                                              "imagePullSecrets",
                                              "initContainers",
                                              "nodeName",
                                              "nodeSelector",
                                              "os",
                                              "overhead",
                                              "preemptionPolicy",
                                              "priority",
                                              "priorityClassName",
                                              "readinessGates",
                                              "resourceClaims",
                                              "resources",
                                              "restartPolicy",
                                              "runtimeClassName",
                                              "schedulerName",
                                              "schedulingGates",
                                              "securityContext",
                                              "serviceAccount",
                                              "serviceAccountName",
                                              "setHostnameAsFQDN",
                                              "shareProcessNamespace",
                                              "subdomain",
                                              "terminationGracePeriodSeconds",
                                              "tolerations",
                                              "topologySpreadConstraints",
                                              "volumes"};

const std::vector<std::string> kContainerFields{"args",
                                                "command",
                                                "env",
                                                "envFrom",
                                                "image",
                                                "imagePullPolicy",
                                                "lifecycle",
                                                "livenessProbe",
                                                "name",
                                                "ports",
                                                "readinessProbe",
                                                "resizePolicy",
                                                "resources",
                                                "restartPolicy",
                                                "securityContext",
                                                "startupProbe",
                                                "stdin",
                                                "stdinOnce",
                                                "terminationMessagePath",
                                                "terminationMessagePolicy",
                                                "tty",
                                                "volumeDevices",
                                                "volumeMounts",
                                                "workingDir"};

std::optional<uint8_t> k8s_protocol(Reader& r, const Cursor& c) {
  if (!c.present()) return uint8_t{6};
  auto s = r.string(c);
  if (!s) return std::nullopt;
  if (*s == "TCP") return uint8_t{6};
  if (*s == "UDP") return uint8_t{17};
  if (*s == "SCTP") return uint8_t{132};
  auto p = ir::parse_protocol(*s);
  r.error(DiagId::InvalidProtocol, c, "unsupported protocol '" + *s + "'; expected TCP, UDP or SCTP",
          p && *p != 1 ? "protocols are upper-case: '" + std::string(ir::protocol_name(*p)) + "'" : "");
  return std::nullopt;
}

std::optional<uint16_t> port_number(Reader& r, const Cursor& c, bool allow_zero = false) {
  auto v = r.integer(c);
  if (!v) return std::nullopt;
  if (*v < (allow_zero ? 0 : 1) || *v > 65535) {
    r.error(DiagId::InvalidPort, c, "port " + std::to_string(*v) + " is out of range (1-65535)");
    return std::nullopt;
  }
  return static_cast<uint16_t>(*v);
}

/// Reads a PodSpec into endpoint fields (ports, hostNetwork, nodeName).
void read_pod_spec(Reader& r, const Cursor& spec, ir::Endpoint& ep) {
  if (!spec.present() || !r.expect_map(spec)) return;
  r.check_fields(spec, kPodSpecFields);
  if (auto hn = spec.child("hostNetwork"); hn.present())
    if (auto b = r.boolean(hn)) ep.host_network = *b;
  if (auto nn = spec.child("nodeName"); nn.present())
    if (auto s = r.string(nn)) ep.node_name = *s;
  auto containers = spec.child("containers");
  if (!containers.present()) return;
  if (!r.expect_list(containers)) return;
  std::set<std::string> names;
  for (size_t i = 0; i < containers.node.size(); ++i) {
    Cursor c = containers.item(i);
    if (!r.expect_map(c, false)) continue;
    r.check_fields(c, kContainerFields);
    auto ports = c.child("ports");
    if (!ports.present() || !r.expect_list(ports)) continue;
    for (size_t j = 0; j < ports.node.size(); ++j) {
      Cursor p = ports.item(j);
      if (!r.expect_map(p, false)) continue;
      r.check_fields(p, {"containerPort", "hostIP", "hostPort", "name", "protocol"});
      ir::ContainerPort cp;
      auto num = p.child("containerPort");
      if (!num.present()) {
        r.error(DiagId::MissingField, p, "'" + p.path + "' needs a 'containerPort'");
        continue;
      }
      auto n = port_number(r, num);
      auto proto = k8s_protocol(r, p.child("protocol"));
      if (!n || !proto) continue;
      cp.port = *n;
      cp.proto = *proto;
      if (auto nm = p.child("name"); nm.present()) {
        if (auto s = r.string(nm)) {
          if (auto why = validate_port_name(*s); !why.empty()) {
            r.error(DiagId::InvalidPort, nm, "invalid port name '" + *s + "': " + why);
          } else if (!names.insert(*s).second) {
            r.error(DiagId::DuplicateName, nm, "port name '" + *s + "' is used twice in this pod");
          } else {
            cp.name = *s;
          }
        }
      }
      ep.ports.push_back(cp);
    }
  }
  std::sort(ep.ports.begin(), ep.ports.end());
}

}  // namespace

Meta read_meta(Reader& r, const Cursor& obj, bool namespaced, bool name_optional) {
  Meta m;
  Cursor md = obj.child("metadata");
  m.loc = r.loc(obj);
  if (!md.present()) {
    if (!name_optional) r.error(DiagId::MissingField, obj, "object has no 'metadata'");
    m.ok = name_optional;
    if (namespaced) m.ns = "default";
    return m;
  }
  if (!r.expect_map(md)) return m;
  r.check_fields(md, object_meta_fields());
  m.loc = md.child("name").present() ? r.loc(md.child("name")) : r.loc(md);
  bool ok = true;
  if (auto n = md.child("name"); n.present()) {
    if (auto s = r.string(n)) {
      m.name = *s;
      if (auto why = validate_dns_subdomain(*s); !why.empty()) {
        r.error(DiagId::InvalidValue, n, "invalid name '" + *s + "': " + why);
        ok = false;
      }
    } else {
      ok = false;
    }
  } else if (auto g = md.child("generateName"); g.present()) {
    if (auto s = r.string(g)) m.name = *s + "x";
  } else if (!name_optional) {
    r.error(DiagId::MissingField, md, "'metadata.name' is required");
    ok = false;
  }
  if (namespaced) {
    m.ns = "default";
    if (auto n = md.child("namespace"); n.present())
      if (auto s = r.string(n)) {
        if (auto why = validate_dns_subdomain(*s); !why.empty()) {
          r.error(DiagId::InvalidValue, n, "invalid namespace '" + *s + "': " + why);
          ok = false;
        } else {
          m.ns = *s;
        }
      }
  }
  if (auto l = md.child("labels"); l.present()) m.labels = r.string_map(l, true);
  if (auto a = md.child("annotations"); a.present()) {
    auto ann = r.string_map(a, false);
    m.annotations.insert(ann.begin(), ann.end());
  }
  m.ok = ok;
  return m;
}

bool LoadContext::claim_name(Reader& r, const Cursor& at, const std::string& kind, const std::string& ns,
                             const std::string& name) {
  auto key = std::make_tuple(kind, ns, name);
  ir::SourceLoc here = r.loc(at.child("metadata").child("name"));
  if (!here.line) here = r.loc(at);
  auto [it, fresh] = seen.emplace(key, here);
  if (fresh) return true;
  auto* d = diags.report(DiagId::DuplicateName, here,
                         kind + " '" + (ns.empty() ? "" : ns + "/") + name + "' is defined twice");
  if (d) d->notes.push_back({it->second, "first defined here"});
  return false;
}

void parse_namespace(LoadContext& ctx, Reader& r, const Cursor& obj) {
  r.check_fields(obj, kTopFields);
  Meta m = read_meta(r, obj, false);
  if (!m.ok || !ctx.claim_name(r, obj, "Namespace", "", m.name)) return;
  // A pod, workload or service read earlier may have synthesized this namespace already:
  // complete that entry instead of adding a second namespace with the same name.
  if (auto existing = ctx.model.find_namespace(m.name)) {
    ir::Namespace& ns = ctx.model.namespaces[existing->v];
    ns.labels = m.labels;
    ns.declared = true;
    ns.loc = m.loc;
    return;
  }
  ir::Namespace ns;
  ns.id = ir::NamespaceId(static_cast<uint32_t>(ctx.model.namespaces.size()));
  ns.name = m.name;
  ns.labels = m.labels;
  ns.declared = true;
  ns.loc = m.loc;
  ctx.model.namespaces.push_back(ns);
  ctx.model.ns_index[ns.name] = ns.id;
}

void parse_node(LoadContext& ctx, Reader& r, const Cursor& obj) {
  r.check_fields(obj, kTopFields);
  Meta m = read_meta(r, obj, false);
  if (!m.ok || !ctx.claim_name(r, obj, "Node", "", m.name)) return;
  ir::Node n;
  n.id = ir::NodeId(static_cast<uint32_t>(ctx.model.nodes.size()));
  n.name = m.name;
  n.labels = m.labels;
  n.loc = m.loc;
  Cursor addrs = obj.child("status").child("addresses");
  bool have_ip = false;
  if (addrs.present() && r.expect_list(addrs)) {
    for (size_t i = 0; i < addrs.node.size(); ++i) {
      Cursor a = addrs.item(i);
      if (!r.expect_map(a, false)) continue;
      auto type = a.child("type");
      auto addr = a.child("address");
      if (!type.present() || !addr.present()) continue;
      auto t = r.string(type);
      auto s = r.string(addr);
      if (!t || !s || *t != "InternalIP" || have_ip) continue;
      if (auto ip = ir::Ipv4::parse(*s)) {
        n.ip = *ip;
        have_ip = true;
      } else if (s->find(':') == std::string::npos) {
        r.error(DiagId::InvalidCidr, addr, "invalid IPv4 address '" + *s + "'");
      }
    }
  }
  if (!have_ip) {
    // A node without an address gets one from the node network, after declared ones.
    n.ip = ir::Ipv4{ctx.model.config.node_cidr.first() + 2 + static_cast<uint32_t>(ctx.model.nodes.size())};
  }
  ctx.model.nodes.push_back(n);
}

void parse_pod(LoadContext& ctx, Reader& r, const Cursor& obj) {
  r.check_fields(obj, kTopFields);
  Meta m = read_meta(r, obj, true);
  if (!m.ok || !ctx.claim_name(r, obj, "Pod", m.ns, m.name)) return;
  ir::Endpoint ep;
  ep.name = m.name;
  ep.workload = m.name;
  ep.labels = m.labels;
  ep.loc = m.loc;
  ep.ns = ir::NamespaceId();  // resolved below
  read_pod_spec(r, obj.child("spec"), ep);
  Cursor st = obj.child("status");
  if (st.present() && r.expect_map(st)) {
    if (auto ip = st.child("podIP"); ip.present()) {
      if (auto s = r.string(ip)) {
        if (auto a = ir::Ipv4::parse(*s))
          ep.ip = *a;
        else if (s->find(':') == std::string::npos)
          r.error(DiagId::InvalidCidr, ip, "invalid IPv4 address '" + *s + "'");
      }
    }
  }
  ep.ip_synthetic = ep.ip.value == 0;
  // Namespace id is resolved in finalize via the name; stash it now.
  auto nsid = ctx.model.find_namespace(m.ns);
  if (!nsid) {
    ir::Namespace ns;
    ns.id = ir::NamespaceId(static_cast<uint32_t>(ctx.model.namespaces.size()));
    ns.name = m.ns;
    ctx.model.namespaces.push_back(ns);
    ctx.model.ns_index[m.ns] = ns.id;
    nsid = ns.id;
  }
  ep.ns = *nsid;
  ep.id = ir::EndpointId(static_cast<uint32_t>(ctx.model.endpoints.size()));
  ctx.model.endpoints.push_back(std::move(ep));
}

void parse_workload(LoadContext& ctx, Reader& r, const Cursor& obj, const std::string& kind) {
  r.check_fields(obj, kTopFields);
  Meta m = read_meta(r, obj, true);
  if (!m.ok || !ctx.claim_name(r, obj, kind, m.ns, m.name)) return;
  Cursor spec = obj.child("spec");
  if (!spec.present()) {
    r.error(DiagId::MissingField, obj, kind + " '" + m.name + "' has no 'spec'");
    return;
  }
  if (!r.expect_map(spec)) return;
  int64_t replicas = 1;
  Cursor templ;
  if (kind == "Deployment") {
    r.check_fields(spec, {"minReadySeconds", "paused", "progressDeadlineSeconds", "replicas", "revisionHistoryLimit",
                          "selector", "strategy", "template"});
  } else if (kind == "StatefulSet") {
    r.check_fields(spec, {"minReadySeconds", "ordinals", "persistentVolumeClaimRetentionPolicy", "podManagementPolicy",
                          "replicas", "revisionHistoryLimit", "selector", "serviceName", "template", "updateStrategy",
                          "volumeClaimTemplates"});
  } else if (kind == "ReplicaSet") {
    r.check_fields(spec, {"minReadySeconds", "replicas", "selector", "template"});
  } else if (kind == "DaemonSet") {
    r.check_fields(spec, {"minReadySeconds", "revisionHistoryLimit", "selector", "template", "updateStrategy"});
  } else if (kind == "Job") {
    r.check_fields(
        spec, {"activeDeadlineSeconds", "backoffLimit", "backoffLimitPerIndex", "completionMode", "completions",
               "managedBy", "manualSelector", "maxFailedIndexes", "parallelism", "podFailurePolicy",
               "podReplacementPolicy", "selector", "successPolicy", "suspend", "template", "ttlSecondsAfterFinished"});
  } else if (kind == "CronJob") {
    r.check_fields(spec, {"concurrencyPolicy", "failedJobsHistoryLimit", "jobTemplate", "schedule",
                          "startingDeadlineSeconds", "successfulJobsHistoryLimit", "suspend", "timeZone"});
  }
  if (kind == "CronJob") {
    Cursor jt = spec.child("jobTemplate");
    if (!jt.present() || !r.expect_map(jt)) {
      r.error(DiagId::MissingField, spec, "CronJob '" + m.name + "' has no 'spec.jobTemplate'");
      return;
    }
    templ = jt.child("spec").child("template");
  } else {
    templ = spec.child("template");
  }
  if (kind == "Deployment" || kind == "StatefulSet" || kind == "ReplicaSet") {
    if (auto rc = spec.child("replicas"); rc.present())
      if (auto v = r.integer(rc)) {
        if (*v < 0)
          r.error(DiagId::InvalidValue, rc, "replicas must not be negative");
        else
          replicas = std::min<int64_t>(*v, 1000);
      }
  } else if (kind == "Job") {
    if (auto pc = spec.child("parallelism"); pc.present())
      if (auto v = r.integer(pc)) replicas = std::clamp<int64_t>(*v, 0, 1000);
  }
  if (!templ.present()) {
    r.error(DiagId::MissingField, spec, kind + " '" + m.name + "' has no pod 'template'");
    return;
  }
  if (!r.expect_map(templ)) return;
  r.check_fields(templ, {"metadata", "spec"});
  ir::Endpoint base;
  base.workload_kind = kind;
  base.workload = m.name;
  base.loc = m.loc;
  Cursor tmeta = templ.child("metadata");
  if (tmeta.present() && r.expect_map(tmeta)) {
    r.check_fields(tmeta, object_meta_fields());
    if (auto l = tmeta.child("labels"); l.present()) base.labels = r.string_map(l, true);
  }
  read_pod_spec(r, templ.child("spec"), base);
  auto nsid = ctx.model.find_namespace(m.ns);
  if (!nsid) {
    ir::Namespace ns;
    ns.id = ir::NamespaceId(static_cast<uint32_t>(ctx.model.namespaces.size()));
    ns.name = m.ns;
    ctx.model.namespaces.push_back(ns);
    ctx.model.ns_index[m.ns] = ns.id;
    nsid = ns.id;
  }
  base.ns = *nsid;
  base.ip_synthetic = true;
  if (kind == "DaemonSet") {
    ctx.daemonsets.push_back({base});
    return;
  }
  for (int64_t i = 0; i < replicas; ++i) {
    ir::Endpoint ep = base;
    ep.name = m.name + "-" + std::to_string(i);
    ep.replica = static_cast<int>(i);
    ep.id = ir::EndpointId(static_cast<uint32_t>(ctx.model.endpoints.size()));
    ctx.model.endpoints.push_back(std::move(ep));
  }
}

void expand_daemonsets(LoadContext& ctx) {
  for (auto& ds : ctx.daemonsets) {
    std::vector<std::string> nodes;
    for (const auto& n : ctx.model.nodes) nodes.push_back(n.name);
    // Nodes known only from pods' spec.nodeName are made by finalize (in name order); a
    // DaemonSet runs on them too.
    std::set<std::string> named;
    for (const auto& e : ctx.model.endpoints)
      if (!e.node_name.empty() && std::find(nodes.begin(), nodes.end(), e.node_name) == nodes.end())
        named.insert(e.node_name);
    nodes.insert(nodes.end(), named.begin(), named.end());
    if (nodes.empty()) nodes.push_back("");  // the default node, made by finalize
    for (size_t i = 0; i < nodes.size(); ++i) {
      ir::Endpoint ep = ds.templ;
      ep.name = ds.templ.workload + "-" + std::to_string(i);
      ep.replica = static_cast<int>(i);
      if (!nodes[i].empty()) ep.node_name = nodes[i];
      ep.id = ir::EndpointId(static_cast<uint32_t>(ctx.model.endpoints.size()));
      ctx.model.endpoints.push_back(std::move(ep));
    }
  }
  ctx.daemonsets.clear();
}

void parse_service(LoadContext& ctx, Reader& r, const Cursor& obj) {
  r.check_fields(obj, kTopFields);
  Meta m = read_meta(r, obj, true);
  if (!m.ok || !ctx.claim_name(r, obj, "Service", m.ns, m.name)) return;
  ir::Service s;
  s.name = m.name;
  s.loc = m.loc;
  Cursor spec = obj.child("spec");
  if (spec.present() && r.expect_map(spec)) {
    r.check_fields(spec, {"allocateLoadBalancerNodePorts",
                          "clusterIP",
                          "clusterIPs",
                          "externalIPs",
                          "externalName",
                          "externalTrafficPolicy",
                          "healthCheckNodePort",
                          "internalTrafficPolicy",
                          "ipFamilies",
                          "ipFamilyPolicy",
                          "loadBalancerClass",
                          "loadBalancerIP",
                          "loadBalancerSourceRanges",
                          "ports",
                          "publishNotReadyAddresses",
                          "selector",
                          "sessionAffinity",
                          "sessionAffinityConfig",
                          "trafficDistribution",
                          "type"});
    if (auto t = spec.child("type"); t.present()) {
      if (auto v = r.string(t)) {
        if (*v == "ClusterIP")
          s.type = ir::ServiceType::ClusterIP;
        else if (*v == "NodePort")
          s.type = ir::ServiceType::NodePort;
        else if (*v == "LoadBalancer")
          s.type = ir::ServiceType::LoadBalancer;
        else if (*v == "ExternalName")
          s.type = ir::ServiceType::ExternalName;
        else
          r.error(DiagId::InvalidValue, t,
                  "unknown service type '" + *v + "'; expected ClusterIP, NodePort, LoadBalancer or ExternalName");
      }
    }
    s.ip_synthetic = true;
    if (auto ip = spec.child("clusterIP"); ip.present()) {
      if (auto v = r.string(ip)) {
        if (*v == "None") {
          s.ip_synthetic = false;
        } else if (!v->empty()) {
          if (auto a = ir::Ipv4::parse(*v)) {
            s.cluster_ip = *a;
            s.ip_synthetic = false;
          } else {
            r.error(DiagId::InvalidCidr, ip, "invalid clusterIP '" + *v + "'");
          }
        }
      }
    }
    if (auto sel = spec.child("selector"); sel.present()) {
      s.selector = r.string_map(sel, true);
      s.has_selector = !s.selector.empty();
    }
    Cursor ports = spec.child("ports");
    if (ports.present() && r.expect_list(ports)) {
      for (size_t i = 0; i < ports.node.size(); ++i) {
        Cursor p = ports.item(i);
        if (!r.expect_map(p, false)) continue;
        r.check_fields(p, {"appProtocol", "name", "nodePort", "port", "protocol", "targetPort"});
        ir::ServicePort sp;
        sp.loc = r.loc(p);
        auto pc = p.child("port");
        if (!pc.present()) {
          r.error(DiagId::MissingField, p, "'" + p.path + "' needs a 'port'");
          continue;
        }
        auto num = port_number(r, pc);
        auto proto = k8s_protocol(r, p.child("protocol"));
        if (!num || !proto) continue;
        sp.port = *num;
        sp.proto = *proto;
        sp.target = sp.port;
        if (auto n = p.child("name"); n.present())
          if (auto v = r.string(n)) sp.name = *v;
        if (auto tp = p.child("targetPort"); tp.present()) {
          if (tp.node.IsScalar() && !Reader::quoted(tp.node) && !tp.node.Scalar().empty() &&
              std::isdigit(static_cast<unsigned char>(tp.node.Scalar()[0]))) {
            if (auto t = port_number(r, tp)) sp.target = *t;
          } else if (auto v = r.string(tp)) {
            if (auto why = validate_port_name(*v); !why.empty())
              r.error(DiagId::InvalidPort, tp, "invalid targetPort name '" + *v + "': " + why);
            else
              sp.target = *v;
          }
        }
        if (auto np = p.child("nodePort"); np.present())
          if (auto v = port_number(r, np)) sp.node_port = *v;
        s.ports.push_back(std::move(sp));
      }
    }
  }
  if (s.type == ir::ServiceType::ExternalName) s.ip_synthetic = false;
  // Canary weights: polc.dev/weights: "version=v1:80,version=v2:20".
  if (auto it = m.annotations.find("polc.dev/weights"); it != m.annotations.end()) {
    std::string text = it->second;
    size_t start = 0;
    bool bad = false;
    while (start <= text.size() && !text.empty()) {
      size_t end = text.find(',', start);
      std::string item = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
      auto eq = item.find('=');
      auto colon = item.rfind(':');
      if (eq == std::string::npos || colon == std::string::npos || colon < eq) {
        bad = true;
        break;
      }
      ir::BackendWeight w;
      w.subset[item.substr(0, eq)] = item.substr(eq + 1, colon - eq - 1);
      try {
        w.weight = static_cast<uint32_t>(std::stoul(item.substr(colon + 1)));
      } catch (...) {
        bad = true;
        break;
      }
      s.weights.push_back(w);
      if (end == std::string::npos) break;
      start = end + 1;
    }
    if (bad)
      r.error(DiagId::InvalidValue, obj.child("metadata").child("annotations").child("polc.dev/weights"),
              "invalid polc.dev/weights annotation '" + text + "'",
              "write it as 'label=value:weight,...', e.g. 'version=v1:80,version=v2:20'");
  }
  auto nsid = ctx.model.find_namespace(m.ns);
  if (!nsid) {
    ir::Namespace ns;
    ns.id = ir::NamespaceId(static_cast<uint32_t>(ctx.model.namespaces.size()));
    ns.name = m.ns;
    ctx.model.namespaces.push_back(ns);
    ctx.model.ns_index[m.ns] = ns.id;
    nsid = ns.id;
  }
  s.ns = *nsid;
  s.id = ir::ServiceId(static_cast<uint32_t>(ctx.model.services.size()));
  ctx.model.services.push_back(std::move(s));
}

}  // namespace polc::frontend
