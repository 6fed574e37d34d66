// BuildL7Maps: the HTTP matches of the policy's l7 sets (ir::PolicyTables::l7_sets) as the DFAs
// the datapath's HTTP parser runs (polc_l7_sets, polc_http_dfa; backend-bpf/datapath/l7_http.h).
// The sets are cluster-wide, so one build serves every node. Also the wire form of a request and
// the subset of requests the datapath can classify (everything else it refuses).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "polc/backend_bpf/map_contents.h"
#include "polc/backend_bpf/plan_capacity.h"
#include "polc/ir/diagnostic.h"
#include "polc/ir/evaluator.h"
#include "polc/ir/policy_tables.h"
#include "polc/ir/result.h"

namespace polc::backend_bpf {

struct L7Maps {
  MapContents sets;      ///< polc_l7_sets
  MapContents dfa;       ///< polc_http_dfa
  bool enabled = false;  ///< some verdict is allow-l7: the datapath is compiled with POLC_FEATURE_L7
  size_t dfas = 0;       ///< distinct DFAs stored
};

/// A DFA whose states carry a set of tags (bit i: part i of the union accepts here). State 0
/// is the start; every state has 256 transitions.
struct TaggedDfa {
  std::vector<std::vector<uint32_t>> next;
  std::vector<uint64_t> accept;
  [[nodiscard]] size_t size() const { return next.size(); }
  /// The tags accepting `s`.
  [[nodiscard]] uint64_t run(std::string_view s) const;
};

/// One regex of a tagged union and the tags it accepts with.
struct TaggedPart {
  const ir::RegexNode* re = nullptr;
  uint64_t tags = 0;
};

/// The minimal tagged DFA of the union of `parts`; std::nullopt when it would need more than
/// `max_states` states.
[[nodiscard]] std::optional<TaggedDfa> build_tagged_dfa(const std::vector<TaggedPart>& parts, size_t max_states = 4096);

/// Builds the maps. A set the datapath cannot hold (over 64 HTTP matches or 64 distinct header
/// requirements, or a DFA over `max_states` states) is a datapath-unsupported error at the HTTP
/// rule; the result is then an Error. Never allows silently what it cannot encode.
[[nodiscard]] ir::Result<L7Maps> build_l7_maps(const ir::Model& m, const ir::PolicyTables& t,
                                               ir::DiagnosticEngine& diags, size_t max_states = 4096);

/// Adds the L7 maps' capacities and POLC_FEATURE_L7 to a capacity plan (nothing when the policy
/// has no HTTP rules: the datapath is then compiled without the L7 code).
void plan_l7_capacity(CapacityPlan& plan, const L7Maps& l7);

/// The bytes a client sends for `req` on HTTP/1.1 (request line, Host when set, the headers, the
/// empty line), when the datapath can classify that request: a method of upper-case letters, a
/// normalized origin-form target, header names that are tokens with values without surrounding
/// or control characters, no Transfer-Encoding / Content-Length / second Host header. Otherwise
/// std::nullopt: the datapath refuses every such request, whatever the policy says.
[[nodiscard]] std::optional<std::string> http_request_bytes(const ir::HttpRequest& req);

}  // namespace polc::backend_bpf
