// The dispatcher: two tiny tc programs that polnode attaches to every pod interface once and
// never replaces. Each reads the lab's generation word and tail-calls that generation's
// compiled program, so switching every interface of every node to a new policy is one map
// write. See docs/runtime.md, "Atomic re-apply".
#pragma once

#include <cstdint>
#include <string>

#include "polc/runtime/handles.h"

namespace polc::runtime::dispatch {

/// Values of the generation word: 0 and 1 select a compiled generation (its programs sit in
/// prog-array slots 2g and 2g+1), kOpen selects the pass-everything programs (no policy).
inline constexpr uint32_t kOpen = 2;
inline constexpr uint32_t kSlots = 6;
/// Slot of a generation's program for one hook.
[[nodiscard]] inline uint32_t slot(uint32_t state, bool to_pod) {
  return state * 2 + (to_pod ? 1 : 0);
}

/// The generation a packet was judged under on the source pod's hook travels to the
/// destination pod's hook (same node) in skb->mark: bits 28-31 = kMarkMagic, bits 24-25 = state.
/// The destination hook uses it and clears it, so both hooks of one packet use one generation.
inline constexpr uint32_t kMarkMagic = 0xA;

inline constexpr const char* kFromPodName = "pl_from_pod";
inline constexpr const char* kToPodName = "pl_to_pod";

/// Loads the dispatcher for the from-pod (tc ingress) or to-pod (tc egress) hook.
[[nodiscard]] Result<Fd> load(bool to_pod, int gen_map_fd, int prog_array_fd);

}  // namespace polc::runtime::dispatch
