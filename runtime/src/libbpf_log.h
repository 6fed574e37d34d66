// Captures libbpf's messages per thread so that they become part of the runtime's error
// messages instead of lines on stderr. POLNODE_LIBBPF_DEBUG=1 also prints them (all levels).
#pragma once

#include <string>

namespace polc::runtime {

/// Installs the capturing print callback (once) and clears this thread's captured text.
void libbpf_log_begin();
/// The warnings libbpf printed on this thread since libbpf_log_begin(), one line, or "".
[[nodiscard]] std::string libbpf_log_take();

}  // namespace polc::runtime
