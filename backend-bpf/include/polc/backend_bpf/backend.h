// The BPF backend: lowers the IR for one node into loadable BPF objects and a map layout.
#pragma once

namespace polc::backend_bpf {

/// The LLVM version the backend generates code with, e.g. "14.0.6".
[[nodiscard]] const char* llvm_version();

}  // namespace polc::backend_bpf
