#include "semantics_harness.h"

#include <gtest/gtest.h>

#include <optional>
#include <sstream>

#include "polc/frontend/loader.h"
#include "polc/ir/dump.h"
#include "polc/ir/evaluator.h"

namespace polc::testing {

// The shared inventory:
//   nodes      node-1 192.168.65.11, node-2 192.168.65.12
//   namespaces web {team=web, env=prod}, db {team=db, env=prod}, dev {env=dev};
//              tools and kube-system exist only through their pods (synthesized)
//   pods       web/client {app=client, role=frontend} 10.10.1.1 node-1
//              web/web    {app=web, tier=front}       10.10.1.2 node-1  http=80 metrics=9090
//              web/api    {app=api, tier=back}        10.10.1.3 node-2  http=8080 grpc=9000
//              web/plain  {}                          10.10.1.4 node-2
//              db/db      {app=db}                    10.10.2.1 node-2  pg=5432
//              db/client  {app=client}                10.10.2.2 node-1
//              dev/client {app=client}                10.10.3.1 node-2
//              dev/web    {app=web}                   10.10.3.2 node-1  http=8081
//              tools/probe {app=probe}                10.10.4.1 node-2
//              kube-system/agent {app=agent}  hostNetwork on node-1 (so 192.168.65.11)
//   services   web/web ClusterIP 10.96.0.50 port 80 -> http, selects app=web
//   external   203.0.113.0/24, 198.51.100.0/24 (documentation ranges)
const std::string& base_inventory() {
  static const std::string text = R"(apiVersion: v1
kind: Node
metadata: {name: node-1}
status: {addresses: [{type: InternalIP, address: 192.168.65.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-2}
status: {addresses: [{type: InternalIP, address: 192.168.65.12}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: web, labels: {team: web, env: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: db, labels: {team: db, env: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: dev, labels: {env: dev}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: web, labels: {app: client, role: frontend}}
spec: {nodeName: node-1, containers: [{name: c}]}
status: {podIP: 10.10.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: web, labels: {app: web, tier: front}}
spec:
  nodeName: node-1
  containers: [{name: c, ports: [{name: http, containerPort: 80}, {name: metrics, containerPort: 9090}]}]
status: {podIP: 10.10.1.2}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: web, labels: {app: api, tier: back}}
spec:
  nodeName: node-2
  containers: [{name: c, ports: [{name: http, containerPort: 8080}, {name: grpc, containerPort: 9000}]}]
status: {podIP: 10.10.1.3}
---
apiVersion: v1
kind: Pod
metadata: {name: plain, namespace: web}
spec: {nodeName: node-2, containers: [{name: c}]}
status: {podIP: 10.10.1.4}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: db, labels: {app: db}}
spec: {nodeName: node-2, containers: [{name: c, ports: [{name: pg, containerPort: 5432}]}]}
status: {podIP: 10.10.2.1}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: db, labels: {app: client}}
spec: {nodeName: node-1, containers: [{name: c}]}
status: {podIP: 10.10.2.2}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: dev, labels: {app: client}}
spec: {nodeName: node-2, containers: [{name: c}]}
status: {podIP: 10.10.3.1}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: dev, labels: {app: web}}
spec: {nodeName: node-1, containers: [{name: c, ports: [{name: http, containerPort: 8081}]}]}
status: {podIP: 10.10.3.2}
---
apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: tools, labels: {app: probe}}
spec: {nodeName: node-2, containers: [{name: c}]}
status: {podIP: 10.10.4.1}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: kube-system, labels: {app: agent}}
spec: {nodeName: node-1, hostNetwork: true, containers: [{name: c}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: web}
spec:
  clusterIP: 10.96.0.50
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
)";
  return text;
}

namespace {

std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

/// Resolves a SRC/DST token; fails the test (and returns nullopt) when it names nothing.
std::optional<ir::Address> address(const ir::Model& m, const std::string& tok) {
  if (tok.rfind("node:", 0) == 0) {
    for (const auto& n : m.nodes)
      if (n.name == tok.substr(5)) return ir::Address::ip(n.ip);
    ADD_FAILURE() << "no node '" << tok.substr(5) << "'";
    return std::nullopt;
  }
  if (tok.rfind("svc:", 0) == 0) {
    auto slash = tok.find('/');
    auto s = m.find_service(tok.substr(4, slash - 4), tok.substr(slash + 1));
    if (!s || !m.service(*s).cluster_ip) {
      ADD_FAILURE() << "no service with a ClusterIP '" << tok << "'";
      return std::nullopt;
    }
    return ir::Address::ip(*m.service(*s).cluster_ip);
  }
  if (auto ip = ir::Ipv4::parse(tok)) return ir::Address::ip(*ip);
  auto slash = tok.find('/');
  if (slash != std::string::npos)
    if (auto ep = m.find_endpoint(tok.substr(0, slash), tok.substr(slash + 1))) return ir::Address::pod(*ep);
  ADD_FAILURE() << "probe names unknown address '" << tok << "'";
  return std::nullopt;
}

std::optional<ir::Probe> parse_probe(const ir::Model& m, const std::string& flow) {
  auto tok = split_ws(flow);
  if (tok.size() < 4 || tok[1] != "->") {
    ADD_FAILURE() << "malformed probe '" << flow << "': expected 'SRC -> DST PROTO/PORT ...'";
    return std::nullopt;
  }
  auto src = address(m, tok[0]);
  auto dst = address(m, tok[2]);
  if (!src || !dst) return std::nullopt;
  ir::Probe p{*src, *dst};
  auto slash = tok[3].find('/');
  auto proto = ir::parse_protocol(tok[3].substr(0, slash));
  if (slash == std::string::npos || !proto) {
    ADD_FAILURE() << "malformed PROTO/PORT '" << tok[3] << "'";
    return std::nullopt;
  }
  p.proto = *proto;
  p.port = static_cast<uint16_t>(std::stoi(tok[3].substr(slash + 1)));
  if (tok.size() > 4) {
    if (tok.size() < 6) {
      ADD_FAILURE() << "an HTTP probe needs METHOD and PATH: '" << flow << "'";
      return std::nullopt;
    }
    ir::HttpRequest req;
    req.method = tok[4];
    req.path = tok[5];
    for (size_t i = 6; i < tok.size(); ++i) {
      if (tok[i].rfind("host=", 0) == 0) {
        req.host = tok[i].substr(5);
      } else if (tok[i].rfind("hdr:", 0) == 0 && tok[i].find('=') != std::string::npos) {
        auto eq = tok[i].find('=');
        req.headers.emplace_back(tok[i].substr(4, eq - 4), tok[i].substr(eq + 1));
      } else {
        ADD_FAILURE() << "unknown HTTP token '" << tok[i] << "' in '" << flow << "'";
        return std::nullopt;
      }
    }
    p.http = req;
  }
  return p;
}

std::string rules_str(const ir::Model& m, const std::vector<ir::RuleId>& rules) {
  std::string s;
  for (auto r : rules) s += (s.empty() ? "" : ", ") + m.policy(m.rule(r).policy).name + "/" + m.rule(r).path;
  return s.empty() ? "-" : s;
}

std::string verdict_str(const ir::Model& m, const ir::Verdict& v) {
  std::ostringstream o;
  o << (v.allowed ? "allow" : "deny") << " egress=" << ir::reason_name(v.egress.reason) << " ["
    << rules_str(m, v.egress.rules) << "]" << (v.egress.l7_restricted ? " l7" : "")
    << " ingress=" << ir::reason_name(v.ingress.reason) << " [" << rules_str(m, v.ingress.rules) << "]"
    << (v.ingress.l7_restricted ? " l7" : "");
  return o.str();
}

bool has_rule(const ir::Model& m, const ir::Verdict& v, const std::string& path) {
  for (const auto* d : {&v.egress, &v.ingress})
    for (auto rid : d->rules) {
      const ir::Rule& r = m.rule(rid);
      if (r.path == path || m.policy(r.policy).name + "/" + r.path == path) return true;
    }
  return false;
}

}  // namespace

size_t run_semantic_case(const SemanticCase& c) {
  ir::DiagnosticEngine diags;
  auto res = frontend::load_text("case.yaml", base_inventory() + c.yaml, diags);
  for (const auto& d : diags.diagnostics())
    EXPECT_NE(d.severity, ir::Severity::Error) << ir::render_text(d, res.model.sources);
  for (const auto& w : c.warnings) {
    bool found = false;
    for (const auto& d : diags.diagnostics())
      found = found || (d.severity == ir::Severity::Warning && d.message.find(w) != std::string::npos);
    EXPECT_TRUE(found) << "expected a warning containing '" << w << "'";
  }
  bool any_allow = false, any_deny = false;
  for (const auto& pc : c.probes) (pc.allow ? any_allow : any_deny) = true;
  EXPECT_TRUE(any_allow && any_deny) << "case " << c.name << " needs both an allow and a deny probe";
  if (c.tweak) c.tweak(res.model);

  const ir::Model& m = res.model;
  for (const auto& pc : c.probes) {
    SCOPED_TRACE(pc.flow);
    auto probe = parse_probe(m, pc.flow);
    if (!probe) continue;
    ir::Verdict v = ir::evaluate(m, *probe);
    std::string got = verdict_str(m, v);
    EXPECT_EQ(v.allowed, pc.allow) << pc.flow << "\n  got: " << got;
    for (const auto& check : split_ws(pc.why)) {
      if (check == "l7" || check == "!l7") {
        bool l7 = v.egress.l7_restricted || v.ingress.l7_restricted;
        EXPECT_EQ(l7, check == "l7") << pc.flow << ": expected " << check << "\n  got: " << got;
      } else if (check.rfind("ingress=", 0) == 0) {
        EXPECT_EQ(ir::reason_name(v.ingress.reason), check.substr(8)) << pc.flow << "\n  got: " << got;
      } else if (check.rfind("egress=", 0) == 0) {
        EXPECT_EQ(ir::reason_name(v.egress.reason), check.substr(7)) << pc.flow << "\n  got: " << got;
      } else if (check.rfind("rule=", 0) == 0) {
        EXPECT_TRUE(has_rule(m, v, check.substr(5)))
            << pc.flow << ": expected deciding rule " << check.substr(5) << "\n  got: " << got;
      } else {
        ADD_FAILURE() << "unknown check '" << check << "' in '" << pc.why << "'";
      }
    }
  }
  return c.probes.size();
}

}  // namespace polc::testing
