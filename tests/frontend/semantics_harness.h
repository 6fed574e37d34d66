// Table-driven semantic tests: a small YAML (a shared inventory plus the case's policies) is loaded
// through the frontend, and each probe is judged by the reference evaluator (ir::evaluate).
//
// A probe is one line of text:
//   "SRC -> DST PROTO/PORT [METHOD PATH [host=HOST] [hdr:NAME=VALUE]...]"
// SRC/DST: `ns/pod`, a dotted IPv4 address, `node:NAME` (the node's IP) or `svc:ns/name` (a
// Service's ClusterIP). PROTO: TCP, UDP, SCTP or ICMP (the port is then the ICMP type).
// `why` lists optional checks, space separated:
//   ingress=REASON / egress=REASON   the direction's Reason (reason_name: allowed-by-rule, ...)
//   rule=PATH                        some deciding rule has this path ("spec.ingress[0]") or
//                                    policy-qualified path ("allow-web/spec.ingress[0]")
//   l7 / !l7                         the verdict is (not) restricted to some HTTP requests
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "polc/ir/model.h"

namespace polc::testing {

inline constexpr bool kAllow = true;
inline constexpr bool kDeny = false;

struct ProbeCase {
  std::string flow;
  bool allow = false;
  std::string why;
};

struct SemanticCase {
  std::string name;  ///< gtest parameter name: letters, digits and '_'
  std::string yaml;  ///< policies (and extra inventory), appended to the shared inventory
  std::vector<ProbeCase> probes;
  std::vector<std::string> warnings;           ///< substrings of warnings the load must report
  std::function<void(ir::Model&)> tweak = {};  ///< adjusts the model (e.g. config) before probing
};

/// gtest prints a parameter with this (its name) instead of a byte dump.
inline void PrintTo(const SemanticCase& c, std::ostream* os) {
  *os << c.name;
}

/// The inventory every case starts from (nodes, namespaces, pods, a service); documented in the .cpp.
const std::string& base_inventory();

/// Loads the case and checks every probe with gtest assertions. Also checks that the load reports
/// no error, that every expected warning is reported, and that the case has both an allow and a
/// deny probe. Returns the number of probes run.
size_t run_semantic_case(const SemanticCase& c);

/// gtest parameter name printer for SemanticCase.
struct CaseName {
  template <typename P>
  std::string operator()(const P& info) const {
    return info.param.name;
  }
};

}  // namespace polc::testing
