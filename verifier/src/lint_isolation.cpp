// Lint: default-deny gaps per namespace, and egress isolation that blocks DNS.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "lint_context.h"

namespace polc::verifier {

using ir::DiagId;

void check_isolation(Linter& l) {
  const ir::Model& m = l.m;
  if (!l.has_pods()) return;
  // Default-deny gaps: a namespace with pods and no policy isolating all of them.
  for (const auto& ns : m.namespaces) {
    std::vector<ir::EndpointId> pods;
    for (const auto& e : m.endpoints)
      if (!e.host_network && e.ns == ns.id) pods.push_back(e.id);
    if (pods.empty()) continue;
    for (auto dir : {ir::Direction::Ingress, ir::Direction::Egress}) {
      int d = static_cast<int>(dir);
      bool covered = false;
      for (const auto& p : m.policies) {
        if (!p.isolates[d] || p.tier) continue;
        if (p.ns.valid() && p.ns != ns.id) continue;
        if (!p.subject.ns.matches(ns.labels) || !p.subject.pod.matches_all()) continue;
        covered = true;
        break;
      }
      if (covered) continue;
      std::vector<ir::EndpointId> open;
      for (auto ep : pods) {
        uint32_t c = l.tables().context_of_endpoint[ep.v];
        if (!l.tables().contexts[c].isolated[d]) open.push_back(ep);
      }
      ir::SourceLoc loc = ns.declared ? ns.loc : m.endpoint(pods.front()).loc;
      std::string msg = fmt::format("namespace '{}' has {} pod{} and no default-deny {} policy", ns.name, pods.size(),
                                    pods.size() == 1 ? "" : "s", ir::direction_name(dir));
      auto* diag =
          l.report(std::nullopt, DiagId::DefaultDenyGap, loc, msg,
                   fmt::format("add a policy with 'podSelector: {{}}' and 'policyTypes: [{}]' in namespace '{}'",
                               dir == ir::Direction::Ingress ? "Ingress" : "Egress", ns.name));
      if (diag && !open.empty())
        diag->notes.push_back(
            {{},
             fmt::format("not isolated for {}: {} — {}", ir::direction_name(dir), l.pod_list(open),
                         dir == ir::Direction::Ingress ? "any pod in any namespace and the world can reach them"
                                                       : "they can reach any pod in any namespace and the world")});
    }
  }

  // DNS: pods isolated for egress must still reach kube-dns on 53/UDP and 53/TCP.
  std::vector<ir::EndpointId> dns;
  for (const auto& e : m.endpoints) {
    auto it = e.labels.find("k8s-app");
    if (!e.host_network && it != e.labels.end() && it->second == "kube-dns") dns.push_back(e.id);
  }
  if (dns.empty()) return;
  // Decide per context (every pod of a context behaves alike), report once per isolating policy
  // and blocked set, listing the pods of every context concerned.
  std::map<std::pair<std::optional<ir::PolicyId>, std::string>, std::vector<ir::EndpointId>> findings;
  for (const auto& ctx : l.tables().contexts) {
    if (!ctx.isolated[1]) continue;
    const ir::Endpoint& src = m.endpoint(ctx.endpoints.front());
    if (std::find(dns.begin(), dns.end(), src.id) != dns.end()) continue;
    std::vector<std::string> blocked;
    for (uint8_t proto : {uint8_t(17), uint8_t(6)}) {
      bool ok = false;
      for (auto d : dns) {
        ir::Probe p{ir::Address::pod(src.id), ir::Address::pod(d), proto, 53, std::nullopt};
        if (ir::evaluate(m, p).allowed) ok = true;
      }
      if (!ok) blocked.push_back(proto == 17 ? "53/UDP" : "53/TCP");
    }
    if (blocked.empty()) continue;
    // Attribute the finding to the first policy that isolates egress.
    std::optional<ir::PolicyId> iso;
    for (auto pid : ctx.policies)
      if (m.policy(pid).isolates[1]) {
        iso = pid;
        break;
      }
    std::string what = blocked.size() == 2 ? "53/UDP and 53/TCP" : blocked[0];
    auto& pods = findings[{iso, what}];
    pods.insert(pods.end(), ctx.endpoints.begin(), ctx.endpoints.end());
  }
  for (auto& [key, pods] : findings) {
    const auto& [iso, what] = key;
    std::sort(pods.begin(), pods.end());
    auto* diag = l.report(iso, DiagId::EgressBlocksDns, iso ? m.policy(*iso).isolation_loc[1] : m.endpoint(pods[0]).loc,
                          fmt::format("{} {} isolated for egress but cannot reach kube-dns on {}", l.pod_list(pods),
                                      pods.size() == 1 ? "is" : "are", what),
                          fmt::format("allow egress to kube-system pods labelled k8s-app=kube-dns on {}", what));
    if (diag && iso) diag->notes.push_back({m.policy(*iso).loc, "egress isolated by " + m.policy(*iso).display()});
  }
}

}  // namespace polc::verifier
