// CheckReach: answers "is some packet from SRC to DST allowed?" with Z3. The policies relevant
// to the two sides are encoded (bit-vectors for addresses, ports, protocols and label values,
// sequences and regexes for HTTP), each rule's condition as a tracked assertion, so the model of
// an ALLOW (the witness) and the unsat core of a DENY map back to the rules that decide.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "polc/ir/evaluator.h"
#include "polc/ir/model.h"
#include "polc/ir/result.h"
#include "polc/verifier/resolve.h"

namespace polc::verifier {

/// One end of a witness packet, decoded from the Z3 model.
struct EndpointView {
  enum class Kind : uint8_t {
    Pod,       ///< an existing pod (`ep`)
    NewPod,    ///< a pod that does not exist yet, with `labels` in namespace `ns_name`
    Node,      ///< a node (`node`); `ep` is set when it is a host-network pod the user named
    External,  ///< an address outside the cluster
  };
  Kind kind = Kind::External;
  ir::EndpointId ep;
  ir::NodeId node;
  ir::Ipv4 ip;
  // NewPod only:
  std::string ns_name;  ///< an existing namespace, or a made-up name when `new_namespace`
  bool new_namespace = false;
  ir::Labels labels;                     ///< the labels that matter (keys some selector mentions)
  ir::Labels ns_labels;                  ///< the namespace labels that matter
  std::vector<ir::ContainerPort> ports;  ///< named ports that matter

  /// "default/frontend-0", "node node-1", "203.0.113.7", "new pod {app=web} in prod".
  [[nodiscard]] std::string name(const ir::Model& m) const;
  /// The address for ir::evaluate (pods and nodes only; NewPod has none).
  [[nodiscard]] std::optional<ir::Address> address() const;
};

/// A concrete connection attempt.
struct Packet {
  EndpointView src;
  EndpointView dst;
  uint8_t proto = 6;
  uint16_t port = 0;
  std::optional<ir::HttpRequest> http;
};

struct ReachAnswer {
  bool allowed = false;
  /// ALLOW: the witness. DENY: a representative packet of the question (every one is denied).
  Packet packet;
  /// Why, per direction, decoded from the model: the same shape as the reference evaluator's.
  ir::Verdict verdict;
  /// ALLOW of a connection (no request in the question) where HTTP rules filter requests: a
  /// request that passes.
  std::optional<ir::HttpRequest> example_request;
  /// ALLOW of a connection where HTTP rules filter requests and Z3 proved that no request passes
  /// them all (every request gets 403).
  bool no_request_passes = false;
  /// ALLOW only: a packet of the question that is denied (when not every pair is allowed).
  std::optional<Packet> counterexample;
  std::optional<ir::Verdict> counterexample_verdict;
  /// DENY: names of the tracked assertions in the unsat core (rules and isolation facts).
  std::vector<std::string> core;
  /// DENY: no packet fits the question at all (e.g. a port the destination cannot have).
  bool no_packet = false;
  std::string smt2;  ///< the SMT-LIB of the question when ReachOptions::debug_smt
  size_t rules_encoded = 0;
};

struct ReachOptions {
  bool debug_smt = false;
  bool counterexample = true;  ///< look for a denied pair after an ALLOW
  bool explain = true;         ///< decode the model into packet and verdict (tests may skip)
  /// Assert every rule and isolation definition as a tracked (named) assertion, so that a DENY
  /// comes with its unsat core. Costs about 40 us per definition; the text answer does not need it.
  bool unsat_core = false;
};

/// Answers the question. Z3 failures (exceptions, unknown) become an Error with a message;
/// never throws. One Z3 context per call.
[[nodiscard]] ir::Result<ReachAnswer> check_reach(const ir::Model& m, const ReachQuery& q,
                                                  const ReachOptions& opt = {});

/// The verdict of a concrete probe via Z3 (differential tests).
[[nodiscard]] ir::Result<ReachAnswer> check_probe(const ir::Model& m, const ir::Probe& p, const ReachOptions& opt = {});

}  // namespace polc::verifier
