#include "polc/runtime/runtime.h"

#include <bpf/libbpf.h>

#include <string>

namespace polc::runtime {

const char* libbpf_version() {
  static std::string v = std::to_string(libbpf_major_version()) + "." + std::to_string(libbpf_minor_version());
  return v.c_str();
}

}  // namespace polc::runtime
