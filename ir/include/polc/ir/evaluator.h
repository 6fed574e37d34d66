// The reference evaluator: the plain, obviously-correct answer to "is this packet allowed, and
// by which rules?". The verifier, the matrix and the BPF datapath are all tested against it.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "polc/ir/model.h"

namespace polc::ir {

struct HttpRequest {
  std::string method;
  std::string path;
  std::string host;
  std::vector<std::pair<std::string, std::string>> headers;  ///< names compared case-insensitively
};

/// One side of a probe: a pod, or an IP (which may belong to a pod or a node).
struct Address {
  std::variant<EndpointId, Ipv4> v;
  static Address pod(EndpointId id) { return Address{id}; }
  static Address ip(Ipv4 ip) { return Address{ip}; }
};

/// A connection attempt: the first packet of a flow from src to dst.
struct Probe {
  Address src;
  Address dst;
  uint8_t proto = 6;                ///< IP protocol number
  uint16_t port = 0;                ///< destination port (ICMP: type)
  std::optional<HttpRequest> http;  ///< an HTTP request sent on the connection, if any
};

/// What an address turned out to be.
struct Resolved {
  enum class Kind { Pod, Node, External } kind = Kind::External;
  EndpointId ep;  ///< Kind::Pod
  NodeId node;    ///< Kind::Node (also host-network pods), and the node of a Pod
  Ipv4 ip;
};
[[nodiscard]] Resolved resolve_address(const Model& m, const Address& a);

enum class Reason {
  Unmanaged,      ///< this side is not a policy-managed pod (external IP, node, host-network pod)
  SelfTraffic,    ///< a pod talking to itself is always allowed
  FromOwnNode,    ///< ingress from the pod's own node is always allowed
  NotIsolated,    ///< no policy isolates the pod in this direction
  AllowedByRule,  ///< an allow rule matched (see rules)
  DeniedByRule,   ///< a deny rule matched (see rules); deny beats every allow
  NoRuleMatched,  ///< isolated (see isolating) and no allow rule matched
  L7Denied,       ///< allowed at L4 only by L7 rules (see rules), none of which match the request
  OrderedAllow,   ///< an ordered (tiered) policy rule allowed it
  OrderedDeny,    ///< an ordered (tiered) policy rule denied it
};
[[nodiscard]] const char* reason_name(Reason r);

struct DirectionVerdict {
  Direction dir = Direction::Ingress;
  bool allowed = true;
  Reason reason = Reason::Unmanaged;
  std::vector<RuleId> rules;        ///< deciding rules (allowing, denying, or the L7 rules)
  std::vector<PolicyId> isolating;  ///< policies isolating the subject in this direction
  bool l7_restricted = false;       ///< allowed at L4, but only some HTTP requests pass
};

struct Verdict {
  bool allowed = true;
  DirectionVerdict egress;   ///< the source pod's egress policy
  DirectionVerdict ingress;  ///< the destination pod's ingress policy
};

/// Evaluates one probe. Never fails: unknown endpoint ids are a programming error (asserted).
[[nodiscard]] Verdict evaluate(const Model& m, const Probe& p);

/// Whether `peer` (in a rule of a policy selecting `subject`) matches `remote`.
[[nodiscard]] bool peer_matches(const Model& m, const Policy& pol, const Peer& peer, const Endpoint& subject,
                                const Resolved& remote);
/// Whether `pm` matches a packet of `proto`/`port` whose destination pod is `dst` (may be null).
[[nodiscard]] bool port_matches(const PortMatch& pm, uint8_t proto, uint16_t port, const Endpoint* dst);
[[nodiscard]] bool http_matches(const HttpMatch& hm, const HttpRequest& req);

}  // namespace polc::ir
