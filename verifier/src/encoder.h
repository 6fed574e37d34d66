// EncodeReach: the Z3 encoding of one reachability question. Private to the verifier.
//
// Each side (source, destination) is a symbolic endpoint: kind (pod / node / external), IPv4
// address (32 bits), node index, and for pods the labels that matter (per label key mentioned by
// any relevant selector: a "has key" bool and a value index over the mentioned values plus
// "other"), the same for namespace labels, and (destination) the named container ports that
// matter. A side is constrained to its candidates, a hypothetical pod, or an external range.
// Every rule of every policy that can select a side is encoded exactly like the reference
// evaluator (ir/src/evaluator.cpp), with a tracked indicator per rule and per isolating policy.
#pragma once

#include <z3++.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "polc/ir/model.h"
#include "polc/verifier/reach.h"
#include "polc/verifier/resolve.h"
#include "regex_z3.h"

namespace polc::verifier {

/// The values of one label key that selectors mention; index values.size() is "any other".
struct LabelDomain {
  std::vector<std::string> values;  ///< sorted
  unsigned width = 1;
  [[nodiscard]] size_t other() const { return values.size(); }
  [[nodiscard]] size_t index(const std::string& v) const;
};

struct LabelVars {
  z3::expr has;
  z3::expr val;
};

struct NamedPortVars {
  z3::expr has;
  z3::expr port;
  z3::expr proto;
};

/// One side of the question in Z3.
struct SideVars {
  explicit SideVars(z3::context& c) : choice(c), is_pod(c), is_node(c), ip(c), node(c), ns_choice(c) {}
  const EndpointSet* set = nullptr;
  std::string tag;  ///< "src" / "dst"
  z3::expr choice;  ///< which alternative: candidate i, then hypothetical, then external
  z3::expr is_pod;
  z3::expr is_node;
  z3::expr ip;
  z3::expr node;
  z3::expr ns_choice;  ///< hypothetical pods: existing namespace index, or namespaces.size() = new
  std::map<std::string, LabelVars> labels;
  std::map<std::string, LabelVars> ns_labels;
  std::map<std::string, NamedPortVars> ports;
  size_t hyp_index = 0;  ///< choice value of the hypothetical pod
  size_t ext_index = 0;  ///< choice value of the external range
};

/// Indicators of one direction (egress of the source, ingress of the destination).
struct DirectionVars {
  explicit DirectionVars(z3::context& c) : ok(c) {}
  ir::Direction dir = ir::Direction::Ingress;
  std::vector<ir::PolicyId> policies;  ///< relevant, sorted
  struct RuleVars {
    ir::RuleId rule;
    bool deny = false;
    z3::expr matched;  ///< peer and some port group match (M_r)
    z3::expr l4;       ///< matched by a port group without L7 (allow rules)
    z3::expr l7;       ///< matched by an L7 group whose HTTP rules match the request (allow rules)
  };
  std::vector<RuleVars> rules;
  std::vector<std::pair<ir::PolicyId, z3::expr>> isolating;
  z3::expr ok;  ///< the direction allows the packet
};

/// How HTTP requests enter the encoding.
enum class HttpMode {
  None,      ///< a connection question: no request is sent, L7 conditions are irrelevant
  Concrete,  ///< one given request: each regex membership is evaluated by Z3's rewriter
  Symbolic,  ///< any request: method, path and host are Z3 strings (witness search)
};

class Encoder {
 public:
  /// `request` is required for HttpMode::Concrete (it defaults to the question's request).
  Encoder(z3::context& c, const ir::Model& m, const ReachQuery& q, HttpMode mode,
          const ir::HttpRequest* request = nullptr);

  /// Adds every constraint to `s`: sides, packet, rule definitions (tracked), and
  /// `goal == allowed`. Throws z3::exception on Z3 failures.
  void encode(z3::solver& s);

  z3::expr goal;                ///< Bool constant equal to the verdict
  z3::expr http;                ///< true when a request is sent (HttpMode Concrete or Symbolic)
  z3::expr allowed;             ///< the verdict formula
  z3::expr self;                ///< pod to its own address
  z3::expr own_node;            ///< from the destination pod's node
  z3::expr proto;               ///< BV8
  z3::expr port;                ///< BV16
  z3::expr method, path, host;  ///< strings (HttpMode::Symbolic)
  bool has_l7 = false;
  /// Add rule and isolation definitions as tracked (named) assertions, for unsat cores.
  bool track = true;
  std::vector<z3::expr> header_vars;  ///< symbolic header presence (when no concrete request)
  SideVars src, dst;
  DirectionVars egress, ingress;
  size_t rules_encoded = 0;

  /// Decodes a model.
  [[nodiscard]] EndpointView view(const z3::model& mdl, const SideVars& s) const;
  [[nodiscard]] Packet packet(const z3::model& mdl) const;
  [[nodiscard]] ir::Verdict verdict(const z3::model& mdl) const;
  /// Equalities fixing every endpoint and packet variable to its value in `mdl`.
  [[nodiscard]] z3::expr pin(const z3::model& mdl) const;

  /// The L4 condition of part of rule `r` (after encode(), for a rule of a policy that
  /// encode() included): its policy selects the subject side, peer `peer` (every peer when
  /// nullopt) matches the remote side, and port `port` (group, index; every port group when
  /// nullopt) matches the packet. With both nullopt this is the rule's `matched` indicator.
  /// Lint proves redundancy of single peers and ports with it.
  [[nodiscard]] z3::expr rule_part(ir::RuleId r, std::optional<size_t> peer,
                                   std::optional<std::pair<size_t, size_t>> port);

 private:
  void collect_domains();
  SideVars make_side(const EndpointSet& set, const std::string& tag, bool destination);
  void fold_constants(SideVars& s, bool destination);
  z3::expr side_constraints(const SideVars& s, bool destination);
  z3::expr pod_attributes(const SideVars& s, const ir::Endpoint& e, bool destination);
  z3::expr hypothetical_attributes(const SideVars& s, const Hypothetical& h, bool destination);
  z3::expr external_attributes(const SideVars& s, const ExternalRange& r);
  z3::expr label_value(const LabelVars& v, const LabelDomain& d, const ir::Labels& l, const std::string& key);
  z3::expr requirement(const ir::Requirement& r, const std::map<std::string, LabelVars>& vars,
                       const std::map<std::string, LabelDomain>& doms);
  z3::expr selector(const ir::LabelSelector& sel, const std::map<std::string, LabelVars>& vars,
                    const std::map<std::string, LabelDomain>& doms);
  z3::expr endpoint_selector(const ir::EndpointSelector& sel, const SideVars& s);
  z3::expr peer(const ir::Peer& p, const SideVars& remote, const SideVars& subject);
  z3::expr port_match(const ir::PortMatch& pm);
  z3::expr http_match(const ir::HttpMatch& hm);
  z3::expr in_cidr(const z3::expr& ip, const ir::Cidr& c);
  void define(z3::solver& s, const z3::expr& e, const std::string& name);
  void encode_direction(z3::solver& s, DirectionVars& d, const SideVars& subject, const SideVars& remote);
  std::vector<ir::PolicyId> relevant_policies(const EndpointSet& set) const;
  /// False when no peer of `r` can match: both sides are existing endpoints only, and for no
  /// subject the rule's policy selects is any peer matching any remote candidate. Such a rule is
  /// false in every model, so it is left out of the encoding.
  bool can_match(const ir::Policy& p, const ir::Rule& r, const SideVars& subject, const SideVars& remote) const;

  z3::context& c_;
  const ir::Model& m_;
  const ReachQuery& q_;
  HttpMode mode_;
  const ir::HttpRequest* request_;
  RegexTranslator re_;
  std::map<std::string, LabelDomain> pod_domains_, ns_domains_;
  std::vector<std::string> port_names_;
  unsigned node_bits_ = 1;
  std::vector<ir::Ipv4> known_ips_;                        ///< pods and nodes (sorted; only with a symbolic side)
  std::vector<ir::Resolved> src_resolved_, dst_resolved_;  ///< the candidates' addresses
  std::vector<ir::HeaderMatch> header_matches_;            ///< parallel to header_vars
};

}  // namespace polc::verifier
