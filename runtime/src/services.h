// Services in the runtime (issue 7). ClusterIP translation runs inside the compiled pod programs
// (the dispatcher switches it with the policy); NodePort traffic from other nodes needs the
// compiled object's two underlay programs on each node's underlay interface, attached here
// right after every switch. See docs/runtime.md, "Services".
#pragma once

#include <string>

#include "polc/runtime/handles.h"
#include "polc/runtime/result.h"

namespace polc::runtime::services {

/// Name fragment of the underlay programs (polc_from_underlay, polc_to_underlay) as tc reports
/// them (kernel program names are cut to 15 characters).
inline constexpr const char* kUnderlayProgramPart = "_under";

/// Attaches `from_fd` (tc ingress) and `to_fd` (tc egress) to the interface `underlay_if` of the
/// node namespace `ns`, replacing (atomically, per hook) the ones a previous apply attached.
Status attach_underlay(const Netns& ns, const std::string& underlay_if, int from_fd, int to_fd);

/// Removes the underlay programs and the clsact qdisc when nothing else uses it. Idempotent:
/// a missing interface or qdisc is not an error.
Status detach_underlay(const Netns& ns, const std::string& underlay_if);

}  // namespace polc::runtime::services
