// The dispatcher: two tiny tc programs that polnode attaches to every pod interface once and
// never replaces. Each reads the lab's generation word and tail-calls that generation's
// compiled program, so switching every interface of every node to a new policy is one map
// write. See docs/runtime.md, "Atomic re-apply".
#pragma once

#include <cstdint>
#include <string>

#include "polc/runtime/handles.h"

namespace polc::runtime::dispatch {

/// The generation word: bits 0-1 select a compiled generation (its programs sit in prog-array
/// slots 2g and 2g+1) or kOpen, the pass-everything programs (no policy); bits 2-31 count the
/// applies, so a program of an older generation in the same slot never mistakes itself for the
/// current one (abi.h, "Generations").
inline constexpr uint32_t kOpen = 2;
[[nodiscard]] inline uint32_t slot_of(uint32_t word) {
  return word & 3u;
}
/// The word that makes `slot` active, after `word`.
[[nodiscard]] inline uint32_t next_word(uint32_t word, uint32_t slot) {
  return (((word >> 2) + 1) << 2) | slot;
}
inline constexpr uint32_t kSlots = 6;
/// Slot of a generation's program for one hook.
[[nodiscard]] inline uint32_t slot(uint32_t state, bool to_pod) {
  return state * 2 + (to_pod ? 1 : 0);
}

/// The generation a packet was judged under on the source pod's hook travels to the
/// destination pod's hook (same node) in skb->mark: bits 28-31 = kMarkMagic, bits 24-27 = the
/// word's low four bits. The destination hook follows it (the compiled program clears it), so
/// both hooks of one packet use one generation.
inline constexpr uint32_t kMarkMagic = 0xA;

inline constexpr const char* kFromPodName = "pl_from_pod";
inline constexpr const char* kToPodName = "pl_to_pod";

/// Loads the dispatcher for the from-pod (tc ingress) or to-pod (tc egress) hook.
[[nodiscard]] Result<Fd> load(bool to_pod, int gen_map_fd, int prog_array_fd);

}  // namespace polc::runtime::dispatch
