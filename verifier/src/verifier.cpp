#include "polc/verifier/verifier.h"

#include <z3++.h>

#include <string>

namespace polc::verifier {

const char* z3_version() {
  static std::string v = [] {
    unsigned major, minor, build, rev;
    Z3_get_version(&major, &minor, &build, &rev);
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(build);
  }();
  return v.c_str();
}

}  // namespace polc::verifier
