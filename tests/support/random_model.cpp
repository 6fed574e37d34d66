#include "random_model.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace polc::testing {

namespace {

using Labels = std::map<std::string, std::string>;

struct CPort {
  std::string name;
  uint16_t port = 0;
  std::string proto = "TCP";
};

struct Workload {
  std::string ns, name, kind;  ///< kind: Pod, Deployment, StatefulSet, DaemonSet
  Labels labels;
  std::vector<CPort> ports;
  size_t replicas = 1;
  bool host_network = false;
  std::string node;  ///< nodeName (bare pods), may be empty
  std::string ip;    ///< status.podIP (bare pods), may be empty
};

struct NsInfo {
  std::string name;
  Labels labels;
};

/// A label requirement as written in YAML (matchLabels entry or matchExpressions item).
struct Req {
  std::string key;
  std::string op;  ///< "" = matchLabels, else In/NotIn/Exists/DoesNotExist
  std::vector<std::string> values;
};

/// Named container ports: the same name maps to different numbers on different workloads.
struct PortName {
  const char* name;
  std::vector<uint16_t> numbers;
  const char* proto;
};
const std::vector<PortName> kPortNames = {
    {"http", {80, 8080, 8000}, "TCP"}, {"metrics", {9090, 9100}, "TCP"},
    {"grpc", {50051, 9000}, "TCP"},    {"dns", {53}, "UDP"},
    {"db", {5432, 3306}, "TCP"},       {"sig", {3868}, "SCTP"},
};
const std::vector<uint16_t> kPorts = {53, 80, 443, 3306, 5432, 6379, 8000, 8080, 8443, 9090, 9100, 50051};

const std::vector<std::string> kPaths = {
    "/api/v1/.*", "/api/v[12]/items",          "/users/[0-9]+", "/public(/.*)?", "/health", "/",
    "/a.c",       "/static/[a-z]+\\.(css|js)", "/api/v1/users"};
const std::vector<std::string> kMethods = {"GET", "POST", "GET|HEAD", "PUT|PATCH", "DELETE", "[A-Z]+"};
const std::vector<std::string> kHosts = {"api\\.example\\.com", ".*\\.example\\.com", "localhost(:[0-9]+)?"};
const std::vector<std::string> kEntities = {"world", "cluster",        "host",   "remote-node",
                                            "all",   "kube-apiserver", "health", "world-ipv4"};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string ip_str(uint32_t v) {
  return std::to_string(v >> 24) + "." + std::to_string((v >> 16) & 255) + "." + std::to_string((v >> 8) & 255) + "." +
         std::to_string(v & 255);
}

std::string cidr_str(uint32_t addr, int len) {
  uint32_t mask = len == 0 ? 0u : ~0u << (32 - len);
  return ip_str(addr & mask) + "/" + std::to_string(len);
}

class Gen {
 public:
  Gen(uint64_t seed, const RandomOptions& opt) : rng_(seed), opt_(opt) {}

  std::string run() {
    make_namespaces();
    make_nodes();
    make_workloads();
    emit_inventory();
    make_services();
    size_t n = opt_.exact ? opt_.policies : rng_.range(opt_.policies / 2, opt_.policies);
    for (size_t i = 0; i < n; ++i) {
      if (rng_.chance(opt_.cilium_share)) {
        if (rng_.chance(0.2))
          emit_cilium(i, true);
        else
          emit_cilium(i, false);
      } else {
        emit_network_policy(i);
      }
    }
    return out_.str();
  }

 private:
  Rng rng_;
  RandomOptions opt_;
  std::ostringstream out_;
  std::vector<NsInfo> namespaces_;
  std::vector<std::string> nodes_;
  std::vector<Workload> workloads_;
  std::vector<std::string> app_values_;
  std::vector<uint32_t> pod_ips_;  ///< declared pod IPs

  // ------------------------------------------------------------------------------------------
  // Inventory

  void make_namespaces() {
    size_t n = opt_.exact ? opt_.namespaces : rng_.range(1, std::max<size_t>(1, opt_.namespaces));
    namespaces_.push_back({"default", {}});
    static const std::vector<std::string> names = {"prod", "dev", "team-a", "team-b", "kube-system", "monitoring"};
    for (size_t i = 0; i < n; ++i) {
      NsInfo ns;
      ns.name = i < names.size() && !opt_.exact ? names[i] : "ns-" + std::to_string(i);
      if (rng_.chance(0.7)) ns.labels["team"] = rng_.chance(0.5) ? "a" : "b";
      if (rng_.chance(0.6)) ns.labels["env"] = rng_.chance(0.5) ? "prod" : "dev";
      namespaces_.push_back(ns);
    }
    if (rng_.chance(0.5)) namespaces_[0].labels["env"] = "dev";
  }

  void make_nodes() {
    size_t n = opt_.exact ? std::max<size_t>(1, opt_.nodes) : rng_.range(1, std::max<size_t>(1, opt_.nodes));
    if (!opt_.exact && rng_.chance(0.15)) return;  // no Node objects: the default node
    for (size_t i = 0; i < n; ++i) nodes_.push_back("node-" + std::to_string(i + 1));
  }

  const NsInfo& random_ns() { return namespaces_[rng_.below(namespaces_.size())]; }

  void make_workloads() {
    size_t n = opt_.exact ? std::max<size_t>(1, opt_.workloads) : rng_.range(2, std::max<size_t>(2, opt_.workloads));
    size_t napps = std::max<size_t>(5, opt_.exact ? n / 2 : 5);
    static const std::vector<std::string> small_apps = {"web", "api", "db", "cache", "worker"};
    for (size_t i = 0; i < napps; ++i)
      app_values_.push_back(i < small_apps.size() && !opt_.exact ? small_apps[i] : "app-" + std::to_string(i));
    size_t pods_left = opt_.pods;
    for (size_t i = 0; i < n; ++i) {
      Workload w;
      w.ns = opt_.exact ? namespaces_[i % namespaces_.size()].name : random_ns().name;
      w.name = "w" + std::to_string(i);
      double k = rng_.next() % 100 / 100.0;
      if (opt_.exact) {
        w.kind = "Deployment";
        size_t remaining = n - i;
        w.replicas = std::max<size_t>(1, (pods_left + remaining - 1) / remaining);
        w.replicas = std::min<size_t>(w.replicas, 1000);
        pods_left = pods_left > w.replicas ? pods_left - w.replicas : 0;
      } else if (k < 0.35) {
        w.kind = "Pod";
      } else if (k < 0.8) {
        w.kind = "Deployment";
        w.replicas = rng_.range(1, std::max<size_t>(1, opt_.max_replicas));
      } else if (k < 0.95) {
        w.kind = "StatefulSet";
        w.replicas = rng_.range(1, std::max<size_t>(1, opt_.max_replicas));
      } else {
        w.kind = "DaemonSet";
      }
      w.labels["app"] = opt_.exact ? app_values_[i % app_values_.size()] : rng_.pick(app_values_);
      if (rng_.chance(0.6)) w.labels["tier"] = rng_.pick(std::vector<std::string>{"front", "back", "data"});
      if (rng_.chance(0.4)) w.labels["env"] = rng_.chance(0.5) ? "prod" : "dev";
      if (rng_.chance(0.3)) w.labels["version"] = rng_.chance(0.5) ? "v1" : "v2";
      if (rng_.chance(0.15)) w.labels["debug"] = "true";
      std::set<std::string> used;
      size_t np = rng_.range(0, 3);
      for (size_t j = 0; j < np; ++j) {
        const PortName& pn = kPortNames[rng_.below(kPortNames.size())];
        if (!used.insert(pn.name).second) continue;
        CPort cp{pn.name, pn.numbers[rng_.below(pn.numbers.size())], pn.proto};
        // Occasionally a different number for the same name, so names resolve per pod.
        if (rng_.chance(0.2)) cp.port = static_cast<uint16_t>(cp.port + 1);
        w.ports.push_back(cp);
      }
      if (rng_.chance(0.3)) w.ports.push_back({"", kPorts[rng_.below(kPorts.size())], "TCP"});
      // De-duplicate (number, proto): a pod cannot declare the same port twice meaningfully.
      std::set<std::pair<uint16_t, std::string>> seen;
      std::vector<CPort> ports;
      for (auto& p : w.ports)
        if (seen.insert({p.port, p.proto}).second) ports.push_back(p);
      w.ports = ports;
      if (w.kind == "Pod") {
        if (!nodes_.empty() && rng_.chance(0.5)) w.node = rng_.pick(nodes_);
        if (rng_.chance(0.4)) {
          uint32_t ip = (10u << 24) | (10u << 16) | (200u << 8) | static_cast<uint32_t>(10 + pod_ips_.size());
          pod_ips_.push_back(ip);
          w.ip = ip_str(ip);
        }
      }
      workloads_.push_back(std::move(w));
    }
    if (!opt_.exact && rng_.chance(0.35)) {
      Workload h;
      h.ns = random_ns().name;
      h.name = "hostnet";
      h.kind = "Pod";
      h.host_network = true;
      h.labels["app"] = rng_.pick(app_values_);
      h.ports.push_back({"http", 10250, "TCP"});
      if (!nodes_.empty()) h.node = rng_.pick(nodes_);
      workloads_.push_back(h);
    }
  }

  void emit_labels(int indent, const Labels& l) {
    std::string pad(static_cast<size_t>(indent), ' ');
    if (l.empty()) {
      out_ << pad << "labels: {}\n";
      return;
    }
    out_ << pad << "labels:\n";
    for (const auto& [k, v] : l) out_ << pad << "  " << k << ": " << quote(v) << "\n";
  }

  void emit_pod_spec(int indent, const Workload& w) {
    std::string pad(static_cast<size_t>(indent), ' ');
    out_ << pad << "spec:\n";
    if (w.host_network) out_ << pad << "  hostNetwork: true\n";
    if (!w.node.empty()) out_ << pad << "  nodeName: " << w.node << "\n";
    out_ << pad << "  containers:\n";
    out_ << pad << "    - name: main\n";
    out_ << pad << "      image: example/app\n";
    if (!w.ports.empty()) {
      out_ << pad << "      ports:\n";
      for (const auto& p : w.ports) {
        out_ << pad << "        - containerPort: " << p.port << "\n";
        if (!p.name.empty()) out_ << pad << "          name: " << p.name << "\n";
        if (p.proto != "TCP" || rng_.chance(0.3)) out_ << pad << "          protocol: " << p.proto << "\n";
      }
    }
  }

  void emit_inventory() {
    for (const auto& ns : namespaces_) {
      out_ << "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: " << ns.name << "\n";
      if (!ns.labels.empty()) emit_labels(2, ns.labels);
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      out_ << "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: " << nodes_[i] << "\n";
      out_ << "  labels:\n    zone: " << quote(i % 2 ? "b" : "a") << "\n";
      out_ << "status:\n  addresses:\n    - type: InternalIP\n      address: "
           << ip_str((192u << 24) | (168u << 16) | (65u << 8) | (10u + i)) << "\n";
    }
    for (const auto& w : workloads_) {
      if (w.kind == "Pod") {
        out_ << "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: " << w.name << "\n  namespace: " << w.ns << "\n";
        emit_labels(2, w.labels);
        emit_pod_spec(0, w);
        if (!w.ip.empty()) out_ << "status:\n  podIP: " << w.ip << "\n";
        continue;
      }
      out_ << "---\napiVersion: apps/v1\nkind: " << w.kind << "\nmetadata:\n  name: " << w.name
           << "\n  namespace: " << w.ns << "\nspec:\n";
      if (w.kind != "DaemonSet") out_ << "  replicas: " << w.replicas << "\n";
      out_ << "  selector:\n    matchLabels:\n      app: " << quote(w.labels.at("app")) << "\n";
      out_ << "  template:\n    metadata:\n";
      emit_labels(6, w.labels);
      emit_pod_spec(4, w);
    }
  }

  void make_services() {
    size_t n = opt_.exact ? opt_.services : rng_.range(0, opt_.services);
    std::vector<const Workload*> cands;
    for (const auto& w : workloads_)
      if (!w.host_network) cands.push_back(&w);
    if (cands.empty()) return;
    for (size_t i = 0; i < n; ++i) {
      const Workload& w = *cands[rng_.below(cands.size())];
      out_ << "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-" << i << "\n  namespace: " << w.ns
           << "\nspec:\n  selector:\n    app: " << quote(w.labels.at("app")) << "\n  ports:\n";
      size_t np = rng_.range(1, 2);
      for (size_t j = 0; j < np; ++j) {
        out_ << "    - name: p" << j << "\n      port: " << (j == 0 ? 80 : 443 + j) << "\n";
        std::string proto = "TCP";
        if (!w.ports.empty() && rng_.chance(0.6)) {
          const CPort& cp = w.ports[rng_.below(w.ports.size())];
          proto = cp.proto;
          if (!cp.name.empty() && rng_.chance(0.6))
            out_ << "      targetPort: " << cp.name << "\n";
          else
            out_ << "      targetPort: " << cp.port << "\n";
        } else if (rng_.chance(0.5)) {
          out_ << "      targetPort: " << kPorts[rng_.below(kPorts.size())] << "\n";
        }
        out_ << "      protocol: " << proto << "\n";
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Selectors

  std::string pod_value(const std::string& key, const std::string& ns) {
    // Mostly a value some workload (preferably in `ns`) carries; sometimes an unused one.
    std::vector<const Workload*> in_ns;
    for (const auto& w : workloads_)
      if ((ns.empty() || w.ns == ns) && w.labels.count(key)) in_ns.push_back(&w);
    if (!in_ns.empty() && rng_.chance(0.85)) return in_ns[rng_.below(in_ns.size())]->labels.at(key);
    if (key == "app") return rng_.pick(app_values_);
    if (key == "tier") return rng_.pick(std::vector<std::string>{"front", "back", "data"});
    if (key == "env") return rng_.chance(0.5) ? "prod" : "dev";
    if (key == "version") return rng_.chance(0.5) ? "v1" : "v3";
    return "true";
  }

  std::vector<Req> pod_reqs(const std::string& ns, size_t max_reqs = 2) {
    std::vector<Req> reqs;
    size_t n = rng_.range(0, max_reqs);
    std::set<std::string> keys;
    static const std::vector<std::string> key_pool = {"app", "app", "app", "tier", "env", "version", "debug"};
    for (size_t i = 0; i < n; ++i) {
      Req r;
      r.key = rng_.pick(key_pool);
      size_t op = rng_.below(10);
      if (op < 5) {
        if (!keys.insert(r.key).second) continue;  // one matchLabels entry per key
        r.values = {pod_value(r.key, ns)};
      } else if (op < 7) {
        r.op = "In";
        r.values = {pod_value(r.key, ns), pod_value(r.key, ns)};
      } else if (op < 8) {
        r.op = "NotIn";
        r.values = {pod_value(r.key, ns)};
      } else if (op < 9) {
        r.op = "Exists";
      } else {
        r.op = "DoesNotExist";
      }
      reqs.push_back(r);
    }
    return reqs;
  }

  std::vector<Req> ns_reqs() {
    std::vector<Req> reqs;
    size_t k = rng_.below(6);
    if (k == 0) return reqs;  // {}: every namespace
    if (k <= 2) {
      reqs.push_back({"kubernetes.io/metadata.name", "", {random_ns().name}});
    } else if (k == 3) {
      reqs.push_back({"team", "", {rng_.chance(0.5) ? "a" : "b"}});
    } else if (k == 4) {
      reqs.push_back({"env", "In", {"prod", rng_.chance(0.5) ? "dev" : "staging"}});
    } else {
      reqs.push_back({"team", rng_.chance(0.5) ? "Exists" : "DoesNotExist", {}});
    }
    return reqs;
  }

  /// Emits `name:` + a selector body at `indent` (the key's column).
  void emit_selector(int indent, const std::string& name, const std::vector<Req>& reqs, bool dash = false) {
    std::string pad(static_cast<size_t>(indent), ' ');
    std::string lead = dash ? pad.substr(0, pad.size() - 2) + "- " : pad;
    if (reqs.empty()) {
      out_ << lead << name << (name.empty() ? "{}" : ": {}") << "\n";
      return;
    }
    std::string inner = pad;
    if (name.empty()) {
      // A list item that is itself the selector.
    } else {
      out_ << lead << name << ":\n";
      lead = inner = pad + "  ";
    }
    std::vector<const Req*> ml, me;
    for (const auto& r : reqs) (r.op.empty() ? ml : me).push_back(&r);
    if (!ml.empty()) {
      out_ << lead << "matchLabels:\n";
      lead = inner;
      for (const auto* r : ml) out_ << inner << "  " << quote(r->key) << ": " << quote(r->values[0]) << "\n";
    }
    if (!me.empty()) {
      out_ << lead << "matchExpressions:\n";
      for (const auto* r : me) {
        out_ << inner << "  - key: " << quote(r->key) << "\n" << inner << "    operator: " << r->op << "\n";
        if (!r->values.empty()) {
          out_ << inner << "    values:";
          for (const auto& v : r->values) out_ << "\n" << inner << "      - " << quote(v);
          out_ << "\n";
        }
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // CIDRs

  std::string random_cidr(std::vector<std::string>* except, bool strict_except) {
    uint32_t addr = 0;
    int len = 0;
    size_t k = rng_.below(10);
    if (k < 3) {  // inside the pod network
      len = static_cast<int>(rng_.range(16, 20));
      addr = (10u << 24) | (10u << 16) | static_cast<uint32_t>(rng_.below(65536));
    } else if (k < 4 && !pod_ips_.empty()) {  // around a declared pod IP
      addr = rng_.pick(pod_ips_);
      len = static_cast<int>(rng_.range(28, 32));
    } else if (k < 5) {  // the node network
      addr = (192u << 24) | (168u << 16) | (65u << 8) | static_cast<uint32_t>(rng_.below(256));
      len = static_cast<int>(rng_.range(24, 32));
    } else if (k < 7) {  // documentation ranges: the world
      static const uint32_t bases[] = {(203u << 24) | (113u << 8), (198u << 24) | (51u << 16) | (100u << 8)};
      addr = bases[rng_.below(2)] | static_cast<uint32_t>(rng_.below(256));
      len = static_cast<int>(rng_.range(24, 32));
    } else if (k < 8) {
      addr = 0;
      len = 0;
    } else if (k < 9) {
      addr = 10u << 24;
      len = 8;
    } else {
      addr = (8u << 24) | (8u << 16) | (8u << 8) | 8u;
      len = static_cast<int>(rng_.range(24, 32));
    }
    uint32_t mask = len == 0 ? 0u : ~0u << (32 - len);
    addr &= mask;
    if (except && len < 32 && rng_.chance(0.5)) {
      size_t n = rng_.range(1, 2);
      for (size_t i = 0; i < n; ++i) {
        int xl = static_cast<int>(rng_.range(static_cast<size_t>(len) + 1, std::min<size_t>(32, len + 8)));
        uint32_t x = addr | (static_cast<uint32_t>(rng_.next()) & ~mask);
        if (len == 0 && rng_.chance(0.6)) {  // except the pod network from 0.0.0.0/0
          x = (10u << 24) | (10u << 16);
          xl = 16;
        }
        std::string s = cidr_str(x, xl);
        if (strict_except && s == cidr_str(addr, len)) continue;
        except->push_back(s);
      }
    }
    return cidr_str(addr, len);
  }

  // ------------------------------------------------------------------------------------------
  // NetworkPolicy

  void emit_np_ports(int indent) {
    std::string pad(static_cast<size_t>(indent), ' ');
    size_t n = rng_.range(1, 3);
    out_ << pad << "ports:\n";
    for (size_t i = 0; i < n; ++i) {
      std::vector<std::string> fields;
      bool has_proto = rng_.chance(0.6);
      if (has_proto) fields.push_back("protocol: " + rng_.pick(std::vector<std::string>{"TCP", "TCP", "UDP", "SCTP"}));
      size_t k = rng_.below(10);
      if (k < 5) {
        uint16_t p = kPorts[rng_.below(kPorts.size())];
        fields.push_back("port: " + std::to_string(p));
        if (rng_.chance(0.3)) fields.push_back("endPort: " + std::to_string(p + rng_.range(0, 100)));
      } else if (k < 8) {
        fields.push_back(std::string("port: ") + kPortNames[rng_.below(kPortNames.size())].name);
      } else if (!has_proto) {
        fields.push_back("protocol: UDP");  // every UDP port
      }
      if (fields.empty()) fields.push_back("protocol: TCP");
      for (size_t j = 0; j < fields.size(); ++j) out_ << pad << (j == 0 ? "  - " : "    ") << fields[j] << "\n";
    }
  }

  void emit_np_rules(const std::string& ns, const char* key, const char* peer_key) {
    size_t shape = rng_.below(10);
    if (shape == 0) {
      out_ << "  " << key << ": []\n";
      return;
    }
    if (shape == 1) {
      out_ << "  " << key << ":\n    - {}\n";
      return;
    }
    out_ << "  " << key << ":\n";
    size_t n = rng_.range(1, 3);
    for (size_t i = 0; i < n; ++i) {
      bool wrote = false;
      auto lead = [&]() -> std::string {
        std::string s = wrote ? "      " : "    - ";
        wrote = true;
        return s;
      };
      size_t pk = rng_.below(10);
      if (pk == 0) {
        out_ << lead() << peer_key << ": []\n";
      } else if (pk > 1) {  // pk == 1: no peers (every peer)
        out_ << lead() << peer_key << ":\n";
        size_t np = rng_.range(1, 2);
        for (size_t j = 0; j < np; ++j) {
          size_t kind = rng_.below(10);
          if (kind < 3) {
            emit_selector(10, "podSelector", pod_reqs(ns), true);
          } else if (kind < 5) {
            emit_selector(10, "namespaceSelector", ns_reqs(), true);
          } else if (kind < 7) {
            emit_selector(10, "namespaceSelector", ns_reqs(), true);
            emit_selector(10, "podSelector", pod_reqs(""));
          } else {
            std::vector<std::string> except;
            std::string cidr = random_cidr(&except, true);
            out_ << "        - ipBlock:\n            cidr: " << cidr << "\n";
            if (!except.empty()) {
              out_ << "            except:\n";
              for (const auto& e : except) out_ << "              - " << e << "\n";
            }
          }
        }
      }
      if (rng_.chance(0.7)) {
        if (!wrote)
          out_ << "    - ";
        else
          out_ << "      ";
        // emit_np_ports writes "ports:" with the given indent on its first line already
        std::ostringstream tmp;
        std::swap(tmp, out_);
        emit_np_ports(6);
        std::string text = out_.str();
        std::swap(tmp, out_);
        out_ << text.substr(6);  // first line's indent was written above
        wrote = true;
      }
      if (!wrote) out_ << "    - {}\n";
    }
  }

  void emit_network_policy(size_t i) {
    std::string ns = opt_.exact ? namespaces_[rng_.below(namespaces_.size())].name : random_ns().name;
    out_ << "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: np-" << i
         << "\n  namespace: " << ns << "\nspec:\n";
    if (rng_.chance(opt_.exact ? 0.05 : 0.15)) {
      out_ << "  podSelector: {}\n  policyTypes:\n    - Ingress\n";
      if (rng_.chance(0.5)) out_ << "    - Egress\n";
      return;
    }
    emit_selector(2, "podSelector", pod_reqs(ns, opt_.exact ? 1 : 2));
    size_t types = rng_.below(5);  // 0-1: inferred, 2: Ingress, 3: Egress, 4: both
    if (types >= 2) {
      out_ << "  policyTypes:\n";
      if (types == 2 || types == 4) out_ << "    - Ingress\n";
      if (types == 3 || types == 4) out_ << "    - Egress\n";
    }
    bool ing = types != 3 ? rng_.chance(0.85) : rng_.chance(0.1);
    bool eg = types >= 3 ? rng_.chance(0.85) : rng_.chance(0.4);
    if (ing) emit_np_rules(ns, "ingress", "from");
    if (eg) emit_np_rules(ns, "egress", "to");
  }

  // ------------------------------------------------------------------------------------------
  // Cilium

  /// A Cilium endpoint selector for a peer (keys may carry k8s:/any: prefixes).
  std::vector<Req> cilium_peer_reqs(const std::string& ns, bool clusterwide) {
    std::vector<Req> reqs = pod_reqs(clusterwide ? "" : ns);
    for (auto& r : reqs) {
      size_t p = rng_.below(6);
      if (p == 0)
        r.key = "k8s:" + r.key;
      else if (p == 1)
        r.key = "any:" + r.key;
    }
    size_t k = rng_.below(8);
    if (k == 0) {
      reqs.push_back({"k8s:io.kubernetes.pod.namespace", "", {random_ns().name}});
    } else if (k == 1) {
      reqs.push_back({"io.kubernetes.pod.namespace", "Exists", {}});
    } else if (k == 2) {
      reqs.push_back({"io.cilium.k8s.namespace.labels.team", "", {rng_.chance(0.5) ? "a" : "b"}});
    }
    return reqs;
  }

  /// toPorts entries. L7 only for allow rules.
  void emit_to_ports(int indent, bool allow) {
    std::string pad(static_cast<size_t>(indent), ' ');
    out_ << pad << "toPorts:\n";
    size_t n = rng_.range(1, 2);
    for (size_t i = 0; i < n; ++i) {
      bool l7 = allow && opt_.l7 && rng_.chance(0.35);
      out_ << pad << "  - ports:\n";
      size_t np = rng_.range(1, 2);
      for (size_t j = 0; j < np; ++j) {
        std::string port;
        std::string end;
        size_t k = rng_.below(10);
        if (k < 6) {
          uint16_t p = kPorts[rng_.below(kPorts.size())];
          port = std::to_string(p);
          if (!l7 && rng_.chance(0.25)) end = std::to_string(p + rng_.range(0, 50));
        } else if (k < 9) {
          port = kPortNames[rng_.below(kPortNames.size())].name;
          if (rng_.chance(0.2)) {
            for (auto& c : port) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          }
        } else {
          port = l7 ? "8080" : "0";
        }
        out_ << pad << "      - port: " << quote(port) << "\n";
        if (!end.empty()) out_ << pad << "        endPort: " << end << "\n";
        if (l7) {
          out_ << pad << "        protocol: TCP\n";
        } else {
          size_t pr = rng_.below(6);
          if (pr < 4)
            out_ << pad << "        protocol: " << std::vector<std::string>{"TCP", "UDP", "SCTP", "ANY"}[pr] << "\n";
        }
      }
      if (l7) {
        out_ << pad << "    rules:\n" << pad << "      http:\n";
        size_t nh = rng_.range(1, 3);
        for (size_t h = 0; h < nh; ++h) {
          std::vector<std::string> fields;
          if (rng_.chance(0.7)) fields.push_back("method: " + quote(rng_.pick(kMethods)));
          if (rng_.chance(0.8)) fields.push_back("path: " + quote(rng_.pick(kPaths)));
          if (rng_.chance(0.2)) fields.push_back("host: " + quote(rng_.pick(kHosts)));
          if (rng_.chance(0.15)) fields.push_back("headers:\n" + pad + "            - 'X-Token: abc'");
          if (rng_.chance(0.1))
            fields.push_back("headerMatches:\n" + pad + "            - name: X-Env\n" + pad +
                             "              value: prod");
          if (fields.empty()) {
            out_ << pad << "        - {}\n";
            continue;
          }
          for (size_t f = 0; f < fields.size(); ++f)
            out_ << pad << (f == 0 ? "        - " : "          ") << fields[f] << "\n";
        }
      }
    }
  }

  void emit_cilium_rule(const std::string& ns, bool clusterwide, bool ingress, bool allow) {
    const char* ep_key = ingress ? "fromEndpoints" : "toEndpoints";
    const char* ent_key = ingress ? "fromEntities" : "toEntities";
    const char* cidr_key = ingress ? "fromCIDR" : "toCIDR";
    const char* cidrset_key = ingress ? "fromCIDRSet" : "toCIDRSet";
    bool wrote = false;
    auto lead = [&]() -> std::string {
      std::string s = wrote ? "      " : "    - ";
      wrote = true;
      return s;
    };
    size_t l3 = rng_.below(12);
    bool need_l4 = false;
    if (l3 < 4) {
      out_ << lead() << ep_key << ":\n";
      size_t n = rng_.range(1, 2);
      for (size_t i = 0; i < n; ++i) {
        if (rng_.chance(0.1)) {
          out_ << "        - matchLabels:\n            'reserved:host': ''\n";
          continue;
        }
        emit_selector(10, "", cilium_peer_reqs(ns, clusterwide), true);
      }
    } else if (l3 < 6) {
      out_ << lead() << ent_key << ":\n";
      size_t n = rng_.range(1, 2);
      for (size_t i = 0; i < n; ++i) out_ << "        - " << rng_.pick(kEntities) << "\n";
    } else if (l3 < 7) {
      out_ << lead() << cidr_key << ":\n";
      size_t n = rng_.range(1, 2);
      for (size_t i = 0; i < n; ++i) {
        std::string c = random_cidr(nullptr, false);
        if (c.size() > 3 && c.substr(c.size() - 3) == "/32" && rng_.chance(0.5)) c = c.substr(0, c.size() - 3);
        out_ << "        - " << c << "\n";
      }
    } else if (l3 < 8) {
      out_ << lead() << cidrset_key << ":\n";
      size_t n = rng_.range(1, 2);
      for (size_t i = 0; i < n; ++i) {
        std::vector<std::string> except;
        out_ << "        - cidr: " << random_cidr(&except, false) << "\n";
        if (!except.empty()) {
          out_ << "          except:\n";
          for (const auto& e : except) out_ << "            - " << e << "\n";
        }
      }
    } else if (l3 < 9 && rng_.chance(0.3)) {
      out_ << lead() << ep_key << ": []\n";  // selects nothing (warning)
    } else if (l3 < 9 && !ingress && rng_.chance(0.3)) {
      out_ << lead() << "toFQDNs:\n        - matchName: api.example.com\n";  // unresolvable (warning)
    } else {
      need_l4 = true;  // no L3 field: every peer on the ports, or nothing without ports
    }
    size_t l4 = rng_.below(10);
    if (l4 < 5 || (need_l4 && l4 < 8)) {
      out_ << (wrote ? "      " : "    - ");
      wrote = true;
      std::ostringstream tmp;
      std::swap(tmp, out_);
      emit_to_ports(6, allow);
      std::string text = out_.str();
      std::swap(tmp, out_);
      out_ << text.substr(6);
    } else if (l4 < 6) {
      out_ << (wrote ? "      " : "    - ");
      wrote = true;
      out_ << "icmps:\n        - fields:\n            - type: "
           << (rng_.chance(0.5) ? std::string("8") : std::string("EchoRequest")) << "\n";
      if (rng_.chance(0.3)) out_ << "            - type: 0\n";
    }
    if (!wrote) out_ << "    - {}\n";
  }

  void emit_cilium_spec(const std::string& ns, bool clusterwide, const std::string& indent_first,
                        const std::string& indent) {
    // Subject.
    std::vector<Req> subj = pod_reqs(ns, opt_.exact ? 1 : 2);
    if (clusterwide && rng_.chance(0.3)) subj.push_back({"k8s:io.kubernetes.pod.namespace", "", {random_ns().name}});
    if (clusterwide && rng_.chance(0.2)) subj.push_back({"io.cilium.k8s.namespace.labels.env", "In", {"prod", "dev"}});
    std::ostringstream tmp;
    std::swap(tmp, out_);
    emit_selector(2, "endpointSelector", subj);
    bool sections[4] = {false, false, false, false};  // ingress, ingressDeny, egress, egressDeny
    size_t shape = rng_.below(10);
    if (shape < 4) {
      sections[0] = true;
    } else if (shape < 6) {
      sections[2] = true;
    } else if (shape < 8) {
      sections[0] = sections[2] = true;
    } else {
      sections[rng_.chance(0.5) ? 1 : 3] = true;
      if (rng_.chance(0.6)) sections[rng_.chance(0.5) ? 0 : 2] = true;
    }
    if (rng_.chance(0.2)) {
      out_ << "  enableDefaultDeny:\n";
      if (rng_.chance(0.5) || !sections[2])
        out_ << "    ingress: " << (rng_.chance(0.7) ? "false" : "true") << "\n";
      else
        out_ << "    egress: " << (rng_.chance(0.7) ? "false" : "true") << "\n";
    }
    static const char* names[4] = {"ingress", "ingressDeny", "egress", "egressDeny"};
    for (int s = 0; s < 4; ++s) {
      if (!sections[s]) continue;
      out_ << "  " << names[s] << ":\n";
      bool ingress = s < 2;
      bool allow = s % 2 == 0;
      if (allow && rng_.chance(0.1)) {
        out_ << "    - {}\n";  // default deny, allows nothing
        continue;
      }
      size_t n = rng_.range(1, 3);
      for (size_t i = 0; i < n; ++i) emit_cilium_rule(ns, clusterwide, ingress, allow);
    }
    std::string text = out_.str();
    std::swap(tmp, out_);
    // Re-indent the spec body under `spec:` or a `specs:` list item.
    std::istringstream in(text);
    bool first = true;
    for (std::string line; std::getline(in, line);) {
      out_ << (first ? indent_first : indent) << line.substr(2) << "\n";
      first = false;
    }
  }

  void emit_cilium(size_t i, bool clusterwide) {
    std::string ns = random_ns().name;
    out_ << "---\napiVersion: cilium.io/v2\nkind: "
         << (clusterwide ? "CiliumClusterwideNetworkPolicy" : "CiliumNetworkPolicy")
         << "\nmetadata:\n  name: " << (clusterwide ? "ccnp-" : "cnp-") << i << "\n";
    if (!clusterwide) out_ << "  namespace: " << ns << "\n";
    if (rng_.chance(0.15)) {
      out_ << "specs:\n";
      size_t n = rng_.range(1, 2);
      for (size_t s = 0; s < n; ++s) emit_cilium_spec(ns, clusterwide, "  - ", "    ");
      return;
    }
    out_ << "spec:\n";
    emit_cilium_spec(ns, clusterwide, "  ", "  ");
  }
};

// ---------------------------------------------------------------------------------------------
// Probes

/// A random string from the full-match language of a regex (printable bytes preferred).
void sample_regex(Rng& rng, const ir::RegexNode& n, std::string& out, int depth = 0) {
  switch (n.kind) {
    case ir::RegexNode::Kind::Epsilon: return;
    case ir::RegexNode::Kind::Bytes: {
      std::vector<int> printable, any;
      for (int c = 0; c < 256; ++c)
        if (n.bytes.test(static_cast<size_t>(c))) {
          any.push_back(c);
          if (c > 32 && c < 127 && c != '?') printable.push_back(c);
        }
      if (any.empty()) return;  // cannot match; the caller's string will simply not match
      const auto& from = printable.empty() || rng.chance(0.02) ? any : printable;
      out += static_cast<char>(from[rng.below(from.size())]);
      return;
    }
    case ir::RegexNode::Kind::Concat:
      for (const auto& k : n.kids) sample_regex(rng, *k, out, depth + 1);
      return;
    case ir::RegexNode::Kind::Alt:
      if (!n.kids.empty()) sample_regex(rng, *n.kids[rng.below(n.kids.size())], out, depth + 1);
      return;
    case ir::RegexNode::Kind::Repeat: {
      int hi = n.max < 0 ? n.min + 3 : std::min(n.max, n.min + 3);
      if (depth > 20) hi = n.min;
      int count = static_cast<int>(rng.range(static_cast<size_t>(n.min), static_cast<size_t>(hi)));
      for (int i = 0; i < count; ++i) sample_regex(rng, *n.kids[0], out, depth + 1);
      return;
    }
  }
}

std::string mutate(Rng& rng, std::string s) {
  size_t k = rng.below(4);
  if (k == 0 || s.empty()) return s + "x";
  if (k == 1) return s.substr(0, s.size() - 1);
  if (k == 2) {
    s[rng.below(s.size())] = '_';
    return s;
  }
  return "/" + s;
}

ir::HttpRequest random_request(Rng& rng, const std::vector<const ir::HttpMatch*>& matches) {
  ir::HttpRequest req;
  static const std::vector<std::string> methods = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"};
  static const std::vector<std::string> paths = {"/",    "/api/v1/users", "/api/v1/", "/health",      "/admin",
                                                 "/a.c", "/users/42",     "/public",  "/static/x.css"};
  req.method = rng.pick(methods);
  req.path = rng.pick(paths);
  req.host = rng.chance(0.5) ? "api.example.com" : "";
  if (!matches.empty() && rng.chance(0.8)) {
    const ir::HttpMatch& hm = *matches[rng.below(matches.size())];
    if (hm.method) {
      req.method.clear();
      sample_regex(rng, *hm.method->root, req.method);
    }
    if (hm.path) {
      req.path.clear();
      sample_regex(rng, *hm.path->root, req.path);
    }
    if (hm.host) {
      req.host.clear();
      sample_regex(rng, *hm.host->root, req.host);
    }
    for (const auto& h : hm.headers)
      if (rng.chance(0.8)) req.headers.emplace_back(rng.chance(0.5) ? h.name : "X-Token", h.value.value_or("v"));
    if (rng.chance(0.25)) {
      size_t f = rng.below(3);
      if (f == 0) req.method = mutate(rng, req.method);
      if (f == 1) req.path = mutate(rng, req.path);
      if (f == 2) req.host = mutate(rng, req.host);
    }
  }
  if (rng.chance(0.1)) req.headers.emplace_back("X-Env", "prod");
  return req;
}

}  // namespace

RandomOptions RandomOptions::large(size_t pods, size_t namespaces, size_t policies) {
  RandomOptions o;
  o.exact = true;
  o.pods = pods;
  o.namespaces = namespaces > 0 ? namespaces - 1 : 0;  // plus "default"
  o.nodes = std::max<size_t>(3, pods / 100);
  o.workloads = std::max<size_t>(1, pods / 10);
  o.services = o.workloads / 2;
  o.policies = policies;
  o.cilium_share = 0.4;
  return o;
}

std::string random_cluster_yaml(uint64_t seed, const RandomOptions& opt) {
  Gen g(seed, opt);
  return g.run();
}

std::vector<ir::Probe> random_probes(const ir::Model& m, uint64_t seed, size_t n) {
  Rng rng(seed ^ 0xA5A5A5A5DEADBEEFull);
  std::vector<ir::Probe> out;
  std::vector<ir::EndpointId> pods, hostnet;
  for (const auto& e : m.endpoints) (e.host_network ? hostnet : pods).push_back(e.id);
  // Interesting addresses and ports taken from the rules.
  std::vector<uint32_t> world;
  std::vector<uint16_t> ports = {80, 443, 53, 8080, 1, 65535};
  std::vector<const ir::HttpMatch*> http;
  for (const auto& r : m.rules) {
    for (const auto& p : r.peers)
      if (const auto* c = std::get_if<ir::PeerCidr>(&p.v)) {
        for (uint32_t v : {c->cidr.first(), c->cidr.last(), c->cidr.first() - 1, c->cidr.last() + 1})
          world.push_back(v);
        for (const auto& e : c->except) {
          world.push_back(e.first());
          world.push_back(e.last());
        }
      }
    for (const auto& g : r.ports) {
      for (const auto& pm : g.ports) {
        if (!pm.named.empty()) continue;
        for (int v : {static_cast<int>(pm.range.lo), static_cast<int>(pm.range.hi), pm.range.lo - 1, pm.range.hi + 1})
          if (v >= 0 && v <= 65535) ports.push_back(static_cast<uint16_t>(v));
      }
      for (const auto& hm : g.http) http.push_back(&hm);
    }
  }
  for (uint32_t v :
       {(203u << 24) | (113u << 8) | 10u, (8u << 24) | (8u << 16) | (8u << 8) | 8u,
        (1u << 24) | (1u << 16) | (1u << 8) | 1u, (10u << 24) | (20u << 16) | 5u, (172u << 24) | (16u << 16) | 1u})
    world.push_back(v);
  // Only keep addresses that are not pods or nodes (those are probed by id and IP separately).
  std::vector<uint32_t> ext;
  for (uint32_t v : world)
    if (!m.endpoint_by_ip(ir::Ipv4{v}) && !m.node_by_ip(ir::Ipv4{v})) ext.push_back(v);
  std::sort(ext.begin(), ext.end());
  ext.erase(std::unique(ext.begin(), ext.end()), ext.end());

  auto pod_addr = [&](ir::EndpointId id) {
    if (rng.chance(0.3)) return ir::Address::ip(m.endpoint(id).ip);
    return ir::Address::pod(id);
  };
  auto world_addr = [&]() {
    if (ext.empty() || rng.chance(0.1)) return ir::Address::ip(ir::Ipv4{static_cast<uint32_t>(rng.next())});
    return ir::Address::ip(ir::Ipv4{ext[rng.below(ext.size())]});
  };
  auto node_addr = [&]() { return ir::Address::ip(m.nodes[rng.below(m.nodes.size())].ip); };

  for (size_t i = 0; i < n; ++i) {
    ir::Probe p;
    size_t k = rng.below(100);
    if (pods.empty()) k = 99;
    if (k < 45) {
      p.src = pod_addr(rng.pick(pods));
      p.dst = pod_addr(rng.pick(pods));
    } else if (k < 58) {
      p.src = world_addr();
      p.dst = pod_addr(rng.pick(pods));
    } else if (k < 71) {
      p.src = pod_addr(rng.pick(pods));
      p.dst = world_addr();
    } else if (k < 80) {
      p.src = node_addr();
      p.dst = pod_addr(rng.pick(pods));
    } else if (k < 85) {
      p.src = pod_addr(rng.pick(pods));
      p.dst = node_addr();
    } else if (k < 90 && !hostnet.empty()) {
      ir::EndpointId h = rng.pick(hostnet);
      if (rng.chance(0.5)) {
        p.src = ir::Address::pod(h);
        p.dst = pod_addr(rng.pick(pods));
      } else {
        p.src = pod_addr(rng.pick(pods));
        p.dst = ir::Address::pod(h);
      }
    } else if (k < 94) {
      ir::EndpointId e = rng.pick(pods);
      p.src = ir::Address::pod(e);
      p.dst = pod_addr(e);
    } else {
      p.src = world_addr();
      p.dst = world_addr();
      if (!pods.empty()) p.dst = pod_addr(rng.pick(pods));
    }
    // Protocol and port.
    size_t pk = rng.below(100);
    p.proto = pk < 55 ? 6 : pk < 70 ? 17 : pk < 80 ? 132 : pk < 92 ? 1 : static_cast<uint8_t>(rng.chance(0.5) ? 47 : 0);
    ir::Resolved dst = ir::resolve_address(m, p.dst);
    const ir::Endpoint* dpod = dst.kind == ir::Resolved::Kind::Pod ? &m.endpoint(dst.ep) : nullptr;
    size_t portk = rng.below(10);
    if (p.proto == 1) {
      p.port = static_cast<uint16_t>(rng.chance(0.7) ? (rng.chance(0.5) ? 8 : 0) : rng.below(256));
    } else if (portk < 3 && dpod && !dpod->ports.empty()) {
      const auto& cp = dpod->ports[rng.below(dpod->ports.size())];
      p.port = cp.port;
      if (rng.chance(0.7)) p.proto = cp.proto;
    } else if (portk < 9) {
      p.port = rng.pick(ports);
    } else {
      p.port = static_cast<uint16_t>(rng.below(65536));
    }
    if (p.proto == 6 && !http.empty() && rng.chance(0.35)) p.http = random_request(rng, http);
    out.push_back(std::move(p));
  }
  return out;
}

std::string probe_str(const ir::Model& m, const ir::Probe& p) {
  auto addr = [&](const ir::Address& a) {
    if (const auto* id = std::get_if<ir::EndpointId>(&a.v)) return m.endpoint_name(*id);
    return std::get<ir::Ipv4>(a.v).str();
  };
  std::string s = addr(p.src) + " -> " + addr(p.dst) + ":" + std::to_string(p.port) + "/";
  auto pn = ir::protocol_name(p.proto);
  s += pn.empty() ? std::to_string(p.proto) : std::string(pn);
  if (p.http) {
    s += " " + p.http->method + " " + p.http->path;
    if (!p.http->host.empty()) s += " host=" + p.http->host;
    for (const auto& [k, v] : p.http->headers) s += " " + k + ":" + v;
  }
  return s;
}

}  // namespace polc::testing
