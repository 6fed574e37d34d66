#include "polc/backend_bpf/backend.h"

#include <llvm/Config/llvm-config.h>

namespace polc::backend_bpf {

const char* llvm_version() { return LLVM_VERSION_STRING; }

}  // namespace polc::backend_bpf
