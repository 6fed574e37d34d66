// The node runtime (polnode): loads polc compile output into the kernel and manages the lab.
#pragma once

namespace polc::runtime {

/// The libbpf version the runtime is built against, e.g. "1.1".
[[nodiscard]] const char* libbpf_version();

}  // namespace polc::runtime
